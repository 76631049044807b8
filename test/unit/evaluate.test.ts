import { Tensor } from "../../lib";
import type { ClickstreamSession } from "../../lib/training/clickstream/format";
import { evaluateHeldOut, evaluateRetrieval } from "../../lib/training/evaluate";
import { RankingTask } from "../../lib/training/ranking-task";
import { Trainer } from "../../lib/training/trainer";
import type { EncodingModel } from "../../lib/training/training-module";
import { MlpTwoTower, syntheticPairs } from "../helpers/mlp-two-tower";

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

const clicked = (id: string, query: string, clicks: string[]): ClickstreamSession => ({ sessionId: id, query, results: clicks.map((itemId, i) => ({ itemId, rank: i + 1 })), clicks, isIrrelevant: false });

describe("held-out slices", () => {
  // Training clicked a for q1. Held out: c for q1 (rank 2 of a, c, b), b for q2 (rank 1 of b, c, a) are unseen items;
  // a for q2 (rank 3) is a seen item; q2 was never asked in training.
  const train = [clicked("t1", "q1", ["a"])];
  const heldOut = [clicked("h1", "q1", ["c"]), clicked("h2", "q2", ["b"]), clicked("h3", "q2", ["a"])];

  test("evaluateHeldOut reports unseen items (MRR (1/2 + 1)/2), seen items (1/3) and unseen queries ((1 + 1/3)/2) apart", async () => {
    const m = await evaluateHeldOut(model, { train, heldOut }, catalogue, { ks: [1] });
    expect(m.itemDisjoint).toEqual({ "recall@1": 0.5, mrr: 0.75, "ndcg@10": expect.closeTo((1 / Math.log2(3) + 1) / 2, 12), sessions: 2 });
    expect(m.seenItems).toEqual({ "recall@1": 0, mrr: expect.closeTo(1 / 3, 12), "ndcg@10": expect.closeTo(1 / Math.log2(4), 12), sessions: 1 });
    expect(m.unseenQueries!.mrr).toBeCloseTo(2 / 3, 12);
    expect(m.unseenQueries!.sessions).toBe(2);
    expect(m.all.sessions).toBe(3);
  });

  test("RankingTask's validation names the slices: val_item_disjoint_* first, seen items and unseen queries apart, no unqualified val_mrr", async () => {
    const task = new RankingTask(model, { evaluation: { sessions: heldOut, catalogue, train } });
    const metrics = await task.validationEnd();
    expect(metrics.val_item_disjoint_mrr).toBe(0.75);
    expect(metrics["val_item_disjoint_recall@10"]).toBe(1);
    expect(metrics.val_seen_items_mrr).toBeCloseTo(1 / 3, 12);
    expect(metrics.val_unseen_queries_mrr).toBeCloseTo(2 / 3, 12);
    expect(metrics.val_mrr).toBeUndefined();
    expect(Object.keys(metrics).filter((k) => k.startsWith("val_seen_items_")).sort()).toEqual(["val_seen_items_mrr", "val_seen_items_recall@10"]);
  });

  test("the Trainer's validation learns from the training pairs which held-out clicks were training positives", async () => {
    using mlp = new MlpTwoTower({ features: 32, hidden: 16, seed: 3 });
    const pairs = syntheticPairs(16);
    const texts = new Map([...pairs.map((p) => [p.positiveId, p.positive] as const), ["x1", "hat in blue"], ["x2", "lamp in green"]]);
    const seen = clicked("h1", "red shoes", ["p3"]);
    const unseen = [clicked("h2", "blue hat", ["x1"]), clicked("h3", "green lamp", ["x2", "p4"]), clicked("h4", "green lamp", ["x2"])];
    const result = await new Trainer({ progress: false, batchSize: 16, maxSteps: 1, optimizer: { kind: "adamw", lr: 1e-2 }, evaluation: { sessions: [seen, ...unseen], catalogue: texts } }).fit(mlp, { train: pairs, validation: pairs.slice(0, 2) });
    const [last] = result.validations;
    // h3 clicks a training positive (p4) besides x2: in neither slice
    expect(last!.val_item_disjoint_mrr).toBeCloseTo((await evaluateRetrieval(mlp, [unseen[0]!, unseen[2]!], texts)).mrr!, 6);
    expect(last!.val_seen_items_mrr).toBeCloseTo((await evaluateRetrieval(mlp, [seen], texts)).mrr!, 6);
  });
});
