/** A before/after table of metrics, as plain text, with baselines beside. */

function cell(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? "-" : value.toFixed(4);
}

/**
 * One row per metric (in the order first seen): before, after, the change,
 * then one column per baseline (name -> metrics).
 *
 *   metric     before   after    change  bm25
 *   recall@10  0.4100   0.6300   +0.2200  0.5000
 */
export function formatMetricTable(
  before: Readonly<Record<string, number>>,
  after: Readonly<Record<string, number>>,
  baselines: Readonly<Record<string, Readonly<Record<string, number>>>> = {},
): string {
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  const rows = names.map((name) => {
    const b = before[name];
    const a = after[name];
    const change = a !== undefined && b !== undefined ? `${a - b >= 0 ? "+" : ""}${(a - b).toFixed(4)}` : "-";
    return [name, cell(b), cell(a), change, ...Object.values(baselines).map((m) => cell(m[name]))];
  });
  const header = ["metric", "before", "after", "change", ...Object.keys(baselines)];
  const table = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...table.map((r) => (r[c] ?? "").length)));
  return table.map((r) => r.map((v, c) => (c === 0 ? v.padEnd(widths[c] ?? 0) : v.padStart(widths[c] ?? 0))).join("  ")).join("\n");
}
