/**
 * Clickstream sessions: one search session per line of a JSONL file.
 *
 * ```json
 * {"session_id": "s-000123", "query": "wireless headphones",
 *  "results": [{"item_id": "i-17", "rank": 1, "score": 0.83, "text": "Sony WH-1000XM4 ..."},
 *              {"item_id": "i-42", "rank": 2, "score": 0.80}],
 *  "clicks": ["i-42"], "is_irrelevant": false, "timestamp": 1700000000}
 * ```
 *
 * - `session_id` (string, unique in a file) and `query` (string) are required.
 * - `results`: what the search showed. `item_id` required; `rank` (1-based,
 *   optional: list order otherwise; results are sorted by it); `score` the
 *   similarity the search used (optional; the distance-shift metric needs it);
 *   `text` the item's text (optional; or give a catalogue).
 * - `clicks`: ids of clicked results, in click order; each must be among the
 *   results. Empty or absent: nobody clicked. Some but not all results
 *   clicked is the usual case: clicked items are positives, the other shown
 *   items negatives.
 * - `is_irrelevant` (optional): the user marked the results as irrelevant;
 *   defaults to "no clicks". Irrelevant sessions give no training pairs.
 * - `timestamp` (optional, seconds).
 *
 * A catalogue file has one `{"item_id": "...", "text": "..."}` per line.
 */

import { describe } from "../../dtypes";
import { jsonFileLines, jsonLines, type JsonLine } from "./jsonl";

export interface SearchResult {
  readonly itemId: string;
  readonly rank: number;
  readonly score?: number;
  readonly text?: string;
}

export interface ClickstreamSession {
  readonly sessionId: string;
  readonly query: string;
  /** Sorted by rank, best first. */
  readonly results: readonly SearchResult[];
  readonly clicks: readonly string[];
  readonly isIrrelevant: boolean;
  readonly timestamp?: number;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function field<T>(record: Record<string, unknown>, key: string, where: string, check: (v: unknown) => v is T, expected: string): T {
  const value = record[key];
  if (!check(value)) throw new TypeError(`${where}: "${key}" must be ${expected} but is ${value === undefined ? "missing" : describe(value)}`);
  return value;
}

const isString = (v: unknown): v is string => typeof v === "string";
const isNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/**
 * Validates one parsed session; `where` names it in errors ("clicks.jsonl:12").
 * @throws TypeError for a missing or mistyped field, RangeError for a click
 *   that is not a result or an item shown twice.
 */
export function parseSession(value: unknown, where: string): ClickstreamSession {
  if (!isRecord(value)) throw new TypeError(`${where}: a session must be a JSON object but is ${describe(value)}`);
  const sessionId = field(value, "session_id", where, isString, "a string");
  const at = `${where} (session ${sessionId})`;
  const query = field(value, "query", at, isString, "a string");
  const rawResults = field(value, "results", at, Array.isArray, "an array");
  const results = rawResults.map((r: unknown, i): SearchResult => {
    const w = `${at}: results[${i}]`;
    if (!isRecord(r)) throw new TypeError(`${w} must be an object but is ${describe(r)}`);
    const itemId = field(r, "item_id", w, isString, "a string");
    const rank = r.rank === undefined ? i + 1 : field(r, "rank", w, isNumber, "a number");
    const score = r.score === undefined ? undefined : field(r, "score", w, isNumber, "a number");
    const text = r.text === undefined ? undefined : field(r, "text", w, isString, "a string");
    return { itemId, rank, ...(score !== undefined ? { score } : {}), ...(text !== undefined ? { text } : {}) };
  });
  const ids = new Set<string>();
  for (const r of results) {
    if (ids.has(r.itemId)) throw new RangeError(`${at}: item ${r.itemId} is shown twice in results`);
    ids.add(r.itemId);
  }
  const clicks = value.clicks === undefined ? [] : field(value, "clicks", at, (v): v is unknown[] => Array.isArray(v), "an array of item ids");
  for (const c of clicks) {
    if (typeof c !== "string") throw new TypeError(`${at}: "clicks" must hold item id strings but holds ${describe(c)}`);
    if (!ids.has(c)) throw new RangeError(`${at}: clicked item ${c} is not among the results (${[...ids].slice(0, 5).join(", ")}${ids.size > 5 ? ", ..." : ""})`);
  }
  const isIrrelevant = value.is_irrelevant === undefined ? clicks.length === 0 : field(value, "is_irrelevant", at, (v): v is boolean => typeof v === "boolean", "a boolean");
  const timestamp = value.timestamp === undefined ? undefined : field(value, "timestamp", at, isNumber, "a number");
  return {
    sessionId,
    query,
    results: [...results].sort((a, b) => a.rank - b.rank),
    clicks: [...new Set(clicks as string[])],
    isIrrelevant,
    ...(timestamp !== undefined ? { timestamp } : {}),
  };
}

/** Adds one line's session to `into`, refusing a second session with the same id. */
function addSession(into: { sessions: ClickstreamSession[]; seen: Set<string> }, { value, where }: JsonLine): void {
  const session = parseSession(value, where);
  if (into.seen.has(session.sessionId)) throw new RangeError(`${where}: session_id ${session.sessionId} appears twice`);
  into.seen.add(session.sessionId);
  into.sessions.push(session);
}

/** Adds one line's item to `items`. */
function addItem(items: Map<string, string>, { value, where }: JsonLine): void {
  if (!isRecord(value)) throw new TypeError(`${where}: an item must be a JSON object but is ${describe(value)}`);
  const id = field(value, "item_id", where, isString, "a string");
  if (items.has(id)) throw new RangeError(`${where}: item_id ${id} appears twice`);
  items.set(id, field(value, "text", where, isString, "a string"));
}

/** Parses a clickstream JSONL text. @throws naming file:line for bad lines and duplicate session ids. */
export function parseClickstream(text: string, file = "clickstream"): ClickstreamSession[] {
  const into = { sessions: [] as ClickstreamSession[], seen: new Set<string>() };
  for (const line of jsonLines(text, file)) addSession(into, line);
  return into.sessions;
}

/** Reads a clickstream file line by line (any size). @throws naming file:line, as parseClickstream. */
export async function readClickstream(file: string): Promise<ClickstreamSession[]> {
  const into = { sessions: [] as ClickstreamSession[], seen: new Set<string>() };
  for await (const line of jsonFileLines(file)) addSession(into, line);
  return into.sessions;
}

/** Parses a catalogue JSONL text: item id -> text. */
export function parseCatalogue(text: string, file = "catalogue"): Map<string, string> {
  const items = new Map<string, string>();
  for (const line of jsonLines(text, file)) addItem(items, line);
  return items;
}

/** Reads a catalogue file line by line. */
export async function readCatalogue(file: string): Promise<Map<string, string>> {
  const items = new Map<string, string>();
  for await (const line of jsonFileLines(file)) addItem(items, line);
  return items;
}

/** Item texts given inline in sessions' results. */
export function catalogueFromSessions(sessions: readonly ClickstreamSession[]): Map<string, string> {
  const items = new Map<string, string>();
  for (const s of sessions) for (const r of s.results) if (r.text !== undefined) items.set(r.itemId, r.text);
  return items;
}
