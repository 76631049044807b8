import type { ClickstreamSession } from "../../lib/training/clickstream/format";
import { distanceShift, ndcgAtK, rankByScore, recallAtK, reciprocalRank, retrievalMetrics } from "../../lib/training/metrics";

// Hand-worked: ranking a b c d e, relevant {b, e} (positions 2 and 5).
const ranked = ["a", "b", "c", "d", "e"];
const relevant = new Set(["b", "e"]);

describe("ranking metrics (worked by hand)", () => {
  test("recall@k counts the share of relevant items in the top k: 0 at 1, 1/2 at 2 to 4, 1 at 5", () => {
    expect([1, 2, 4, 5, 10].map((k) => recallAtK(ranked, relevant, k))).toEqual([0, 0.5, 0.5, 1, 1]);
  });

  test("reciprocal rank is 1/2 for a first hit at position 2 and 0 when no relevant item is ranked", () => {
    expect(reciprocalRank(ranked, relevant)).toBe(0.5);
    expect(reciprocalRank(["a", "c"], relevant)).toBe(0);
  });

  test("nDCG@10 = (1/log2 3 + 1/log2 6) / (1 + 1/log2 3) = 0.624051 for hits at 2 and 5", () => {
    expect(ndcgAtK(ranked, relevant, 10)).toBeCloseTo(0.6240505200038379, 12);
    expect(ndcgAtK(["b", "e", "a"], relevant, 10)).toBe(1);
    // cut at k = 2: DCG 1/log2 3, ideal 1 + 1/log2 3
    expect(ndcgAtK(ranked, relevant, 2)).toBeCloseTo(0.6309297535714575 / 1.6309297535714575, 12);
  });

  test("retrievalMetrics averages over rankings: MRR of first hits at 2 and 1 is 0.75", () => {
    const m = retrievalMetrics([{ ranked, relevant }, { ranked: ["x", "y"], relevant: new Set(["x"]) }], [1, 5]);
    expect(m).toEqual({ "recall@1": 0.5, "recall@5": 1, mrr: 0.75, "ndcg@10": expect.closeTo((0.6240505200038379 + 1) / 2, 12) });
  });

  test("rankByScore sorts by descending score and keeps ties in input order", () => {
    expect(rankByScore(["a", "b", "c", "d"], [0.1, 0.9, 0.5, 0.9])).toEqual(["b", "d", "c", "a"]);
  });

  test("a ranking without relevant items and k = 0 are RangeErrors saying why", () => {
    expect(() => recallAtK(ranked, new Set(), 5)).toThrow(expect.objectContaining({ name: "RangeError", message: expect.stringMatching(/recallAtK: no relevant items/) }));
    expect(() => ndcgAtK(ranked, relevant, 0)).toThrow(expect.objectContaining({ name: "RangeError", message: "ndcgAtK: k must be an integer >= 1 but received 0" }));
  });
});

describe("distance shift (EmbeddingStudio's metric)", () => {
  const results = [
    { itemId: "a", rank: 1, score: 0.9 },
    { itemId: "b", rank: 2, score: 0.5 },
  ];
  const clicked: ClickstreamSession = { sessionId: "s1", query: "q", results, clicks: ["b"], isIrrelevant: false };
  const irrelevant: ClickstreamSession = { sessionId: "s2", query: "q", results, clicks: [], isIrrelevant: true };

  test("for a session with clicks it is the mean rise of the clicked items' scores: 0.7 - 0.5 = 0.2", () => {
    expect(distanceShift(clicked, new Map([["a", 0.1], ["b", 0.7]]))).toBeCloseTo(0.2, 12);
  });

  test("for an irrelevant session it is the mean fall of every shown item's score: ((0.9 - 0.6) + (0.5 - 0.4)) / 2 = 0.2", () => {
    expect(distanceShift(irrelevant, new Map([["a", 0.6], ["b", 0.4]]))).toBeCloseTo(0.2, 12);
  });

  test("a result without a logged score is a RangeError naming the session and item", () => {
    const noScore: ClickstreamSession = { ...clicked, results: [{ itemId: "b", rank: 1 }] };
    expect(() => distanceShift(noScore, new Map([["b", 0.7]]))).toThrow(expect.objectContaining({ name: "RangeError", message: expect.stringMatching(/distanceShift\(s1\): result b has no logged score/) }));
  });
});
