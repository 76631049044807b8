import { Bm25Index, bm25Tokens } from "../../lib/training/bm25";
import type { ClickstreamSession } from "../../lib/training/clickstream/format";
import { evaluateBm25 } from "../../lib/training/evaluate";

// Three documents, lengths 2, 3, 4: avgdl = 3, N = 3, k1 = 1.2, b = 0.75.
const docs = new Map([["d1", "Red shoes"], ["d2", "red, RED hat"], ["d3", "blue shoes for kids"]]);

describe("BM25", () => {
  test("tokens are lowercased letter/digit runs with accents stripped", () => {
    expect(bm25Tokens("Café-Bar 2, naïve!")).toEqual(["cafe", "bar", "2", "naive"]);
  });

  test("scores match values computed by hand from the Okapi formula with Lucene's idf", () => {
    const index = new Bm25Index(docs);
    // idf(red) = idf(shoes) = ln(1 + (3 - 2 + 0.5) / (2 + 0.5)) = ln 1.6 = 0.470003629
    // d1: K = 1.2 (0.25 + 0.75 * 2/3) = 0.9; red and shoes each 1 * 2.2 / (1 + 0.9) -> 2 * 0.470003629 * 1.157894737 = 1.088429457
    // d2: K = 1.2; red twice: 2 * 2.2 / (2 + 1.2) = 1.375 -> 0.646254990
    // d3: K = 1.2 (0.25 + 0.75 * 4/3) = 1.5; shoes once: 2.2 / 2.5 = 0.88 -> 0.413603194
    const red = index.scores("red shoes");
    expect(index.ids).toEqual(["d1", "d2", "d3"]);
    expect(red[0]).toBeCloseTo(1.088429457, 8);
    expect(red[1]).toBeCloseTo(0.64625499, 8);
    expect(red[2]).toBeCloseTo(0.413603194, 8);
    // idf(kids) = idf(hat) = ln(1 + 2.5 / 1.5) = 0.980829253; d2 hat: 2.2 / (1 + 1.2) = 1; d3 kids: 0.88 -> 0.863129743; "green" is in no document
    const kids = index.scores("kids hat green");
    expect(kids[0]).toBe(0);
    expect(kids[1]).toBeCloseTo(0.980829253, 8);
    expect(kids[2]).toBeCloseTo(0.863129743, 8);
  });

  test("b = 0 ignores document length: every single occurrence of a term scores idf * (k1 + 1) / (1 + k1) = idf", () => {
    const index = new Bm25Index(docs, { b: 0 });
    const s = index.scores("shoes");
    expect(s[0]).toBeCloseTo(Math.log(1.6), 10);
    expect(s[2]).toBeCloseTo(Math.log(1.6), 10);
  });

  test("bad parameters are RangeErrors naming them", () => {
    expect(() => new Bm25Index(docs, { b: 1.5 })).toThrow(expect.objectContaining({ name: "RangeError", message: expect.stringMatching(/^Bm25Index: b must be in \[0, 1\] but received 1.5/) }));
    expect(() => new Bm25Index(new Map())).toThrow(expect.objectContaining({ name: "RangeError", message: "Bm25Index: no documents to index" }));
  });

  test("evaluateBm25 ranks the catalogue by BM25 for each session's query: recall@1 1/2, MRR 3/4", () => {
    const session = (id: string, query: string, clicks: string[]): ClickstreamSession => ({ sessionId: id, query, results: clicks.map((itemId, i) => ({ itemId, rank: i + 1 })), clicks, isIrrelevant: false });
    // "red shoes": d1 1.088 > d2 0.646 > d3 0.414, clicked d2 at rank 2; "kids": only d3 scores, rank 1
    const m = evaluateBm25([session("s1", "red shoes", ["d2"]), session("s2", "kids", ["d3"])], docs, { ks: [1, 2] });
    expect(m["recall@1"]).toBe(0.5);
    expect(m["recall@2"]).toBe(1);
    expect(m.mrr).toBe(0.75);
    expect(m.sessions).toBe(2);
  });
});
