/**
 * The fault catalogue (test/faults/catalogue-cases.ts), run in child
 * processes against dist/: every case settles with its expected class and
 * code (or succeeds where it must), and no case aborts or signals the
 * process. Cases share a few child processes (a libtorch start costs
 * seconds), each isolated by try/catch and reported as soon as it settles,
 * so an abort names the case that caused it.
 */
import { runCaseBatch, type BatchOutcome } from "../helpers/fault-batch";
import { CATALOGUE, type CatalogueCase } from "./catalogue-cases";

const GROUPS = 4;
const groups: CatalogueCase[][] = Array.from({ length: GROUPS }, () => []);
CATALOGUE.forEach((c, i) => groups[i % GROUPS]?.push(c));
const outcomes = new Map<number, BatchOutcome>();

function outcomeOf(group: number): BatchOutcome {
  let outcome = outcomes.get(group);
  if (outcome === undefined) {
    outcome = runCaseBatch(groups[group] ?? []);
    outcomes.set(group, outcome);
  }
  return outcome;
}

function matches(expected: string, result: { error?: { name: string; code?: string }; returned?: unknown }): boolean {
  return expected.split("|").some((alternative) => {
    if (alternative === "ok") return result.error === undefined;
    const [name, code] = alternative.split(":");
    return result.error?.name === name && (code === undefined || result.error?.code === code);
  });
}

test(`the catalogue holds at least 150 cases with unique names (${CATALOGUE.length})`, () => {
  expect(CATALOGUE.length).toBeGreaterThanOrEqual(150);
  expect(new Set(CATALOGUE.map((c) => c.name)).size).toBe(CATALOGUE.length);
});

describe.each(groups.map((cases, group) => [group, cases] as const))("fault catalogue, child process %i", (group, cases) => {
  test("the process exits cleanly (no abort, no signal)", () => {
    const outcome = outcomeOf(group);
    const missing = cases.filter((c) => !outcome.results.has(c.name)).map((c) => c.name);
    expect({ status: outcome.status, signal: outcome.signal, firstUnsettled: missing[0] ?? null }).toEqual({ status: 0, signal: null, firstUnsettled: null });
  });

  test.each(cases.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const result = outcomeOf(group).results.get(c.name);
    expect(result).toBeDefined();
    if (result === undefined) return;
    const got = result.error === undefined ? "ok" : `${result.error.name}:${result.error.code ?? ""} ${result.error.message}`;
    expect({ expected: c.expected, got, matches: matches(c.expected, result) }).toEqual({ expected: c.expected, got, matches: true });
  });
});
