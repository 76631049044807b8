import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { catalogueFromSessions, parseClickstream, readCatalogue, readClickstream, type ClickstreamSession } from "../../lib/training/clickstream/format";
import { makePairs } from "../../lib/training/clickstream/pairs";
import { heldOutSlices, splitSessions } from "../../lib/training/clickstream/split";

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

describe("clickstream files are read line by line", () => {
  let dir: string;
  beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "clickstream-"))));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const good = (i: number) => line({ session_id: `s${i}`, query: `query ${i}`, results: [{ item_id: `i${i}`, text: `item ${i}` }], clicks: [`i${i}`] });

  test("50,000 sessions (CRLF, blank lines counted) read without fs.readFile; the session on line 40,001 is the one written there", async () => {
    const file = path.join(dir, "big.jsonl");
    const lines = Array.from({ length: 50_000 }, (_, i) => (i === 9 ? "" : good(i)));  // line 10 blank
    fs.writeFileSync(file, `${lines.join("\r\n")}\r\n`);
    const readFile = jest.spyOn(fs.promises, "readFile");
    try {
      const sessions = await readClickstream(file);
      expect(readFile).not.toHaveBeenCalled();
      expect(sessions).toHaveLength(49_999);
      expect(sessions[39_999]).toMatchObject({ sessionId: "s40000", query: "query 40000", clicks: ["i40000"] });
    } finally {
      readFile.mockRestore();
    }
  });

  test.each([
    ["malformed JSON", "{\"session_id\": \"x\", ", /^FILE:40001: not valid JSON/],
    ["a click not among the results", line({ session_id: "x", query: "q", results: [{ item_id: "a" }], clicks: ["z"] }), /^FILE:40001 \(session x\): clicked item z is not among the results/],
    ["a repeated session id", good(7), /^FILE:40001: session_id s7 appears twice/],
  ])("%s on line 40,001 of 50,000 is reported as that line", async (_name, bad, message) => {
    const file = path.join(dir, "bad.jsonl");
    fs.writeFileSync(file, `${Array.from({ length: 50_000 }, (_, i) => (i === 40_000 ? bad : good(i))).join("\n")}\n`);
    const error = await readClickstream(file).catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message.replace(file, "FILE")).toMatch(message);
  });

  test("a catalogue file: a duplicate item_id on line 3 names line 3", async () => {
    const file = path.join(dir, "catalogue.jsonl");
    fs.writeFileSync(file, [line({ item_id: "a", text: "A" }), line({ item_id: "b", text: "B" }), line({ item_id: "a", text: "again" })].join("\n"));
    await expect(readCatalogue(file)).rejects.toThrow(`${file}:3: item_id a appears twice`);
    fs.writeFileSync(file, [line({ item_id: "a", text: "A" }), line({ item_id: "b", text: "B" })].join("\n"));
    expect([...(await readCatalogue(file))]).toEqual([["a", "A"], ["b", "B"]]);
  });
});

function session(id: string, results: string[], clicks: string[]): ClickstreamSession {
  return { sessionId: id, query: `query ${id}`, results: results.map((itemId, i) => ({ itemId, rank: i + 1, text: `text ${itemId}` })), clicks, isIrrelevant: clicks.length === 0 };
}

describe("train/validation split", () => {
  const sessions = Array.from({ length: 10 }, (_, i) => session(`s${i}`, [`i${i}`, `i${(i + 1) % 10}`], [`i${i}`]));

  test("a random split (preventItemLeakage false) puts every session on exactly one side, the same seed giving the same split", () => {
    const a = splitSessions(sessions, { validationFraction: 0.3, seed: 1, preventItemLeakage: false });
    expect(a.validation).toHaveLength(3);
    expect(a.train).toHaveLength(7);
    const ids = [...a.train, ...a.validation].map((s) => s.sessionId).sort();
    expect(ids).toEqual(sessions.map((s) => s.sessionId).sort());
    expect(splitSessions(sessions, { validationFraction: 0.3, seed: 1, preventItemLeakage: false }).validation.map((s) => s.sessionId)).toEqual(a.validation.map((s) => s.sessionId));
    expect(splitSessions(sessions, { validationFraction: 0.3, seed: 2, preventItemLeakage: false }).validation.map((s) => s.sessionId)).not.toEqual(a.validation.map((s) => s.sessionId));
  });

  // 300 sessions over 60 items: each shows 5 items and clicks 1-3 of them (a seeded LCG, independent of the library's PRNG).
  let state = 12345;
  const next = (n: number) => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) >>> 8) % n;
  const many = Array.from({ length: 300 }, (_, i) => {
    const shown = [...new Set(Array.from({ length: 8 }, () => `item${next(60)}`))].slice(0, 5);
    const clicks = i % 17 === 0 ? [] : shown.slice(0, 1 + next(Math.min(3, shown.length)));
    return session(`m${i}`, shown, clicks);
  });
  const byId = new Map(many.map((s) => [s.sessionId, s]));

  test("by default the split is item-disjoint: no held-out unseen-item session clicks an item that training clicks or shows", () => {
    const split = splitSessions(many, { seed: 4 });
    const trainClicks = new Set(split.train.flatMap((s) => s.clicks));
    const trainShown = new Set(split.train.flatMap((s) => s.results.map((r) => r.itemId)));
    const heldIds = new Set(split.validation.map((s) => s.sessionId));
    // the held-out sessions are the logged ones (clicks as in the input), and none is also in training
    for (const s of split.validation) expect(s.clicks).toEqual(byId.get(s.sessionId)!.clicks);
    expect(split.train.some((s) => heldIds.has(s.sessionId))).toBe(false);
    expect(split.train.length + split.validation.length + split.droppedForLeakage).toBe(many.length);
    const { unseenItems, seenItems } = heldOutSlices(split.train, split.validation);
    const unseenCount = split.validation.filter((s) => s.clicks.length > 0 && s.clicks.every((c) => !trainClicks.has(c))).length;
    expect(unseenItems).toHaveLength(unseenCount);
    const clicked = many.filter((s) => s.clicks.length > 0).length;
    expect(unseenCount).toBeGreaterThanOrEqual(Math.round(0.2 * clicked));
    for (const s of unseenItems) for (const c of s.clicks) expect(trainShown.has(c)).toBe(false);
    // seen-item sessions: every click is a click of some training session
    expect(seenItems.length).toBe(Math.round(0.05 * clicked));
    for (const s of seenItems) for (const c of s.clicks) expect(trainClicks.has(c)).toBe(true);
    // every held-out session with clicks is in one of the two slices: none mixes seen and unseen items
    expect(unseenItems.length + seenItems.length).toBe(split.validation.filter((s) => s.clicks.length > 0).length);
    expect(splitSessions(many, { seed: 4 }).validation.map((s) => s.sessionId)).toEqual(split.validation.map((s) => s.sessionId));
  });

  test("a random split of the same sessions leaks: most held-out sessions click items that training clicks", () => {
    const split = splitSessions(many, { seed: 4, preventItemLeakage: false });
    const trainClicks = new Set(split.train.flatMap((s) => s.clicks));
    const leaky = split.validation.filter((s) => s.clicks.some((c) => trainClicks.has(c))).length;
    expect(leaky / split.validation.filter((s) => s.clicks.length > 0).length).toBeGreaterThan(0.5);
    expect(heldOutSlices(split.train, split.validation).unseenItems.length).toBe(split.validation.filter((s) => s.clicks.length > 0 && s.clicks.every((c) => !trainClicks.has(c))).length);
  });

  test("heldOutSlices sorts held-out sessions by what training clicked and asked", () => {
    const train = [session("t1", ["a", "b"], ["a"]), { ...session("t2", ["c"], ["c"]), isIrrelevant: true }];
    const held = [session("h1", ["a", "x"], ["a"]), session("h2", ["x"], ["x"]), session("h3", ["a", "x"], ["a", "x"]), session("h4", ["c"], ["c"]), { ...session("t1", ["x"], ["x"]), sessionId: "h5" }, session("h6", ["a"], [])];
    const slices = heldOutSlices(train, held);
    // c was clicked only in a session marked irrelevant: no pair, so not a training positive
    expect(slices.unseenItems.map((s) => s.sessionId)).toEqual(["h2", "h4", "h5"]);
    expect(slices.seenItems.map((s) => s.sessionId)).toEqual(["h1"]);
    // h5 asks "query t1", as training did; t2's query counts although it gave no pair
    expect(slices.unseenQueries.map((s) => s.sessionId)).toEqual(["h1", "h2", "h3", "h4"]);
  });

  test("bad fractions are RangeErrors naming the option", () => {
    expect(() => splitSessions(many, { validationFraction: 1 })).toThrow(expect.objectContaining({ name: "RangeError", message: "splitSessions: validationFraction must be in (0, 1) but received number 1" }));
    expect(() => splitSessions(many, { seenItemsFraction: -0.1 })).toThrow(expect.objectContaining({ name: "RangeError", message: expect.stringMatching(/^splitSessions: seenItemsFraction must be in \[0, 1\)/) }));
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
