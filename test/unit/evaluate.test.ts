import { Tensor } from "../../lib";
import type { ClickstreamSession } from "../../lib/training/clickstream/format";
import { evaluateRetrieval } from "../../lib/training/evaluate";
import type { EncodingModel } from "../../lib/training/training-module";

// Fixed 2-d embeddings: cos(q1, ·) ranks a (0.995), c (0.774), b (0.0995); cos(q2, ·) ranks b (1), c (0.707), a (0).
const VECTORS: Record<string, [number, number]> = { q1: [1, 0.1], q2: [0, 3], "item a": [2, 0], "item b": [0, 1], "item c": [1, 1] };
const lookup = async (texts: readonly string[]) => Tensor.from(new Float32Array(texts.flatMap((t) => VECTORS[t]!)), [texts.length, 2]);
const model = { sameQueryAndItems: true, encodeQueries: lookup, encodeItems: lookup } as unknown as EncodingModel;
const catalogue = new Map([["a", "item a"], ["b", "item b"], ["c", "item c"]]);

describe("evaluateRetrieval", () => {
  test("ranks the whole catalogue by cosine for each session's query: recall@1 1/2, recall@5 1, MRR 3/4, nDCG@10 (1/log2 3 + 1)/2", async () => {
    const sessions: ClickstreamSession[] = [
      { sessionId: "s1", query: "q1", results: [{ itemId: "a", rank: 1, score: 0.9 }, { itemId: "c", rank: 2, score: 0.5 }], clicks: ["c"], isIrrelevant: false },
      { sessionId: "s2", query: "q2", results: [{ itemId: "b", rank: 1 }], clicks: ["b"], isIrrelevant: false },
      { sessionId: "s3", query: "q2", results: [{ itemId: "a", rank: 1, score: 0.2 }], clicks: [], isIrrelevant: true },
    ];
    const metrics = await evaluateRetrieval(model, sessions, catalogue, { ks: [1, 5], batchSize: 2 });
    expect(metrics["recall@1"]).toBe(0.5);
    expect(metrics["recall@5"]).toBe(1);
    expect(metrics.mrr).toBe(0.75);
    expect(metrics["ndcg@10"]).toBeCloseTo((1 / Math.log2(3) + 1) / 2, 6);
    expect(metrics.sessions).toBe(2);
    // s1: clicked c went from a logged 0.5 to cos(q1, c) = 0.773957; s3: shown a went from 0.2 to cos(q2, a) = 0
    expect(metrics.dist_shift).toBeCloseTo(0.773957299203321 - 0.5, 6);
    expect(metrics.irrelevant_dist_shift).toBeCloseTo(0.2, 6);
  });
});
