import { catalogueFromSessions, parseClickstream, type ClickstreamSession } from "../../lib/training/clickstream/format";
import { makePairs } from "../../lib/training/clickstream/pairs";
import { splitSessions } from "../../lib/training/clickstream/split";

const line = (o: unknown) => JSON.stringify(o);

describe("clickstream format", () => {
  test("a session parses with results sorted by rank, clicks kept, and is_irrelevant defaulting to 'no clicks'", () => {
    const [s, t] = parseClickstream([
      line({ session_id: "s1", query: "red shoes", results: [{ item_id: "b", rank: 2, score: 0.5 }, { item_id: "a", rank: 1, text: "red running shoes" }], clicks: ["b"] }),
      line({ session_id: "s2", query: "lamp", results: [{ item_id: "c" }] }),
    ].join("\n"));
    expect(s).toEqual({ sessionId: "s1", query: "red shoes", results: [{ itemId: "a", rank: 1, text: "red running shoes" }, { itemId: "b", rank: 2, score: 0.5 }], clicks: ["b"], isIrrelevant: false });
    expect(t!.isIrrelevant).toBe(true);
    expect(t!.results).toEqual([{ itemId: "c", rank: 1 }]);
  });

  test("a click that is not among the results is a RangeError naming file:line and session", () => {
    const text = `${line({ session_id: "s1", query: "q", results: [{ item_id: "a" }] })}\n${line({ session_id: "s2", query: "q", results: [{ item_id: "a" }], clicks: ["z"] })}`;
    expect(() => parseClickstream(text, "clicks.jsonl")).toThrow(expect.objectContaining({ name: "RangeError", message: "clicks.jsonl:2 (session s2): clicked item z is not among the results (a)" }));
  });

  test("a missing query, bad JSON and a repeated session id are errors naming the line", () => {
    expect(() => parseClickstream(line({ session_id: "s1", results: [] }), "f")).toThrow(expect.objectContaining({ name: "TypeError", message: 'f:1 (session s1): "query" must be a string but is missing' }));
    expect(() => parseClickstream("{nope", "f")).toThrow(expect.objectContaining({ name: "SyntaxError", message: expect.stringMatching(/^f:1: not valid JSON/) }));
    const s = line({ session_id: "s1", query: "q", results: [] });
    expect(() => parseClickstream(`${s}\n\n${s}`, "f")).toThrow(expect.objectContaining({ name: "RangeError", message: "f:3: session_id s1 appears twice" }));
  });
});

function session(id: string, results: string[], clicks: string[]): ClickstreamSession {
  return { sessionId: id, query: `query ${id}`, results: results.map((itemId, i) => ({ itemId, rank: i + 1, text: `text ${itemId}` })), clicks, isIrrelevant: clicks.length === 0 };
}

describe("train/validation split", () => {
  const sessions = Array.from({ length: 10 }, (_, i) => session(`s${i}`, [`i${i}`, `i${(i + 1) % 10}`], [`i${i}`]));

  test("no session is on both sides, every session is on one, and the same seed gives the same split", () => {
    const a = splitSessions(sessions, { validationFraction: 0.3, seed: 1 });
    expect(a.validation).toHaveLength(3);
    expect(a.train).toHaveLength(7);
    const ids = [...a.train, ...a.validation].map((s) => s.sessionId).sort();
    expect(ids).toEqual(sessions.map((s) => s.sessionId).sort());
    expect(splitSessions(sessions, { validationFraction: 0.3, seed: 1 }).validation.map((s) => s.sessionId)).toEqual(a.validation.map((s) => s.sessionId));
    expect(splitSessions(sessions, { validationFraction: 0.3, seed: 2 }).validation.map((s) => s.sessionId)).not.toEqual(a.validation.map((s) => s.sessionId));
  });

  test("preventItemLeakage keeps every item clicked in validation out of training; a training session whose clicks were all such items is dropped", () => {
    // sessions 2k and 2k+1 both click p_k: when they land on different sides, the training one loses its only click
    const paired = Array.from({ length: 8 }, (_, i) => session(`t${i}`, [`p${i >> 1}`, `n${i}`, `p${((i >> 1) + 1) % 4}`], [`p${i >> 1}`]));
    const split = splitSessions(paired, { validationFraction: 0.5, seed: 3, preventItemLeakage: true });
    const held = new Set(split.validation.flatMap((s) => s.clicks));
    for (const s of split.train) {
      expect(s.results.some((r) => held.has(r.itemId))).toBe(false);
      expect(s.clicks.length).toBeGreaterThan(0);
    }
    const validationIds = new Set(split.validation.map((s) => s.sessionId));
    const splitPairs = [0, 1, 2, 3].filter((k) => validationIds.has(`t${2 * k}`) !== validationIds.has(`t${2 * k + 1}`)).length;
    expect(split.droppedForLeakage).toBe(splitPairs);
    expect(split.train.length + split.droppedForLeakage).toBe(4);
  });

  test("dropIrrelevant removes sessions without clicks before splitting", () => {
    const withIrrelevant = [...sessions, session("x1", ["i1"], []), session("x2", ["i2"], [])];
    const split = splitSessions(withIrrelevant, { dropIrrelevant: true, validationFraction: 0.2 });
    expect(split.droppedIrrelevant).toBe(2);
    expect([...split.train, ...split.validation].some((s) => s.isIrrelevant)).toBe(false);
  });
});

describe("training pairs", () => {
  const partly = session("s1", ["a", "b", "c", "d"], ["b", "d"]);
  const catalogue = catalogueFromSessions([partly, session("s2", ["e", "f"], ["e", "f"]), session("s3", ["g"], [])]);

  test("a session with some results clicked pairs every click with every shown, unclicked item", () => {
    const { pairs } = makePairs([partly], catalogue);
    expect(pairs.map((p) => [p.positiveId, p.negativeId])).toEqual([["b", "a"], ["b", "c"], ["d", "a"], ["d", "c"]]);
    expect(pairs[0]).toMatchObject({ query: "query s1", positive: "text b", negative: "text a", sessionId: "s1" });
  });

  test("negativesAboveClickOnly keeps only the results ranked above each click", () => {
    expect(makePairs([partly], catalogue, { negativesAboveClickOnly: true }).pairs.map((p) => [p.positiveId, p.negativeId])).toEqual([["b", "a"], ["d", "a"], ["d", "c"]]);
  });

  test("sessions with every result clicked or none give no pairs and are counted", () => {
    const result = makePairs([session("s2", ["e", "f"], ["e", "f"]), session("s3", ["g"], [])], catalogue);
    expect(result.pairs).toEqual([]);
    expect(result.skipped).toEqual({ irrelevant: 1, noNegatives: 1 });
  });

  test("maxNegativesPerClick samples that many negatives among the unclicked ones", () => {
    const { pairs } = makePairs([partly], catalogue, { maxNegativesPerClick: 1, seed: 4 });
    expect(pairs).toHaveLength(2);
    for (const p of pairs) expect(["a", "c"]).toContain(p.negativeId);
  });

  test("an item without text is a RangeError naming session and item", () => {
    expect(() => makePairs([partly], new Map([["b", "x"]]))).toThrow(expect.objectContaining({ name: "RangeError", message: "makePairs: session s1: item a has no text in the catalogue" }));
  });
});
