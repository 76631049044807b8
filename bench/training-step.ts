/**
 * Training steps per second, this package vs PyTorch eager (/usr/bin/python3,
 * bench/training_step.py) on the same weights, batch and thread count: three
 * forwards with grad (query, positive, negative), cosine margin loss, backward,
 * AdamW, in train mode. Two models:
 *   - mlp:  256 → 512 → 128, batch 64 (small ops: per-call overhead shows);
 *   - bert: models/default (the demo's BERT, hidden 128, 4 layers, dropout 0.1),
 *           32 triplets from data/ at up to 32 tokens. Ours goes through
 *           TextToTextBertModel.encodeQueries/encodeItems as the Trainer does,
 *           tokenization included; PyTorch gets our token ids.
 * PyTorch runs twice: with its own defaults (as a Python user gets it) and with
 * the settings our loader chose (OMP_WAIT_POLICY, OPENBLAS_CORETYPE: the same
 * kernels, engine against engine). Before timing, one eval-mode loss (no
 * dropout) from each must agree (1e-5): the same model and batch. Rounds
 * alternate the engines with the order rotating; the table gives medians.
 * Not run by the tests.
 *
 *   node -r ./test/helpers/register-ts.js bench/training-step.ts [rounds=7] [threads=libtorch default]
 *
 * Writes bench/results/training-step-<threads>-threads.md. The BERT-base step on CUDA is in bench/gpu.ts.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as readline from "node:readline";

import { getNumThreads, manualSeed, Module, runtimeInfo, setNumThreads, Tensor, TextToTextBertModel } from "../lib";
import { backward } from "../lib/training/autograd";
import { rankingLoss } from "../lib/training/losses";
import { readCatalogue, readClickstream } from "../lib/training/clickstream/format";
import { Optimizer } from "../lib/training/optimizer";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const common = require("./common.js") as {
  stats(samples: number[]): { median: number; p90: number; min: number };
  rotate<T>(list: T[], r: number): T[];
  machine(info: unknown): Record<string, string>;
  preamble(title: string, command: string, m: Record<string, string>, extra?: string[]): string;
  table(header: string[], rows: string[][]): string;
  writeResult(name: string, text: string): string;
  sleep(ms: number): Promise<void>;
};

const ROUNDS = Number(process.argv[2] ?? 7);
const THREADS = process.argv[3] === undefined ? getNumThreads() : Number(process.argv[3]);
const OUT = path.join(__dirname, "out", "training-step");
const ROOT = path.resolve(__dirname, "..");

/** One side of the comparison: a parity loss, then timed blocks of steps. */
interface Engine {
  readonly name: string;
  readonly parityLoss: number;
  time(steps: number): Promise<number>;  // seconds
  close(): void;
}

interface Workload {
  readonly name: string;
  readonly describe: string;
  readonly stepsPerRound: number;
  ours(): Promise<Engine>;
  job(): Record<string, unknown>;  // the python side's job (weights written by ours())
}

const cosineMargin = { kind: "cosine_margin" as const, margin: 0.2 };

type Embed = (which: 0 | 1 | 2, grad: boolean) => Promise<Tensor>;

/** Our side of a workload: `embed` gives the query / positive / negative embeddings of the fixed batch. */
async function ourEngine(module: Module, embed: Embed, close: () => void): Promise<Engine> {
  const opt = Optimizer.adamw(module, { lr: 1e-3, weightDecay: 0.01 });
  const lossOf = async (grad: boolean) => {
    using q = await embed(0, grad);
    using p = await embed(1, grad);
    using n = await embed(2, grad);
    return rankingLoss(cosineMargin, { query: q, positive: p, negative: n });
  };
  module.eval();
  const parityLoss = await (async () => {
    using l = await lossOf(false);
    return l.toFloat32Array()[0]!;
  })();
  module.train();
  return {
    name: "embeddings-torch",
    parityLoss,
    async time(steps) {
      const start = process.hrtime.bigint();
      for (let i = 0; i < steps; i++) {
        opt.zeroGrad();
        using loss = await lossOf(true);
        await backward(loss);
        await opt.step();
        loss.toFloat32Array();
      }
      return Number(process.hrtime.bigint() - start) / 1e9;
    },
    close() {
      opt.dispose();
      close();
    },
  };
}

function mlpWorkload(): Workload {
  const [IN, HIDDEN, OUT_F, BATCH] = [256, 512, 128, 64];
  const weights = path.join(OUT, "mlp.safetensors");
  const inputs = [0, 1, 2].map((s) => Float32Array.from({ length: BATCH * IN }, (_, i) => Math.sin(i * (s + 1))));
  return {
    name: "mlp",
    describe: `MLP ${IN}→${HIDDEN}→${OUT_F}, batch ${BATCH}`,
    stepsPerRound: 100,
    async ours() {
      manualSeed(0);
      const mlp = Module.create("mlp", { in_features: IN, hidden_features: HIDDEN, out_features: OUT_F });
      await mlp.saveStateDict(weights);
      const x = inputs.map((v) => Tensor.from(v, [BATCH, IN]));
      return ourEngine(mlp, (which, grad) => mlp.forwardTensor([x[which]!], { grad }), () => {
        for (const t of x) t.dispose();
        mlp.dispose();
      });
    },
    job: () => ({ kind: "mlp", weights, mlp: { in: IN, hidden: HIDDEN, out: OUT_F, inputs: inputs.map((v) => Array.from(v)) } }),
  };
}

/** `count` (query, first clicked item, first shown-not-clicked item) texts from the shipped clickstream sample. */
async function triplets(count: number): Promise<{ query: string[]; positive: string[]; negative: string[] }> {
  const catalogue = await readCatalogue(path.join(ROOT, "data", "catalogue.jsonl"));
  const out = { query: [] as string[], positive: [] as string[], negative: [] as string[] };
  for (const s of await readClickstream(path.join(ROOT, "data", "clickstream.jsonl"))) {
    const negative = s.results.find((r) => !s.clicks.includes(r.itemId));
    if (s.clicks.length === 0 || !negative) continue;
    out.query.push(s.query);
    out.positive.push(catalogue.get(s.clicks[0]!)!);
    out.negative.push(catalogue.get(negative.itemId)!);
    if (out.query.length === count) break;
  }
  return out;
}

function bertWorkload(): Workload {
  const dir = path.join(ROOT, "models", "default");
  const weights = path.join(OUT, "bert.safetensors");
  let job: Record<string, unknown> = {};
  return {
    name: "bert",
    describe: "models/default BERT (hidden 128, 4 layers, 4 heads, ffn 512), 32 triplets, ≤32 tokens",
    stepsPerRound: 10,
    async ours() {
      manualSeed(0);
      const batch = await triplets(32);
      const model = await TextToTextBertModel.fromPretrained(dir, { maxLength: 32 });
      const bert = model.getQueryModel();
      await bert.saveStateDict(weights);
      const ids = (texts: string[]) => {
        const e = model.tokenizer.encodeBatch(texts, { maxLength: 32, padding: model.padding });
        return { inputIds: Array.from(e.inputIds, Number), attentionMask: Array.from(e.attentionMask, Number), shape: [e.batchSize, e.length] };
      };
      job = { kind: "bert", weights, bert: { config: JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8")), batches: [ids(batch.query), ids(batch.positive), ids(batch.negative)] } };
      const texts = [batch.query, batch.positive, batch.negative] as const;
      return ourEngine(bert, (which, grad) => (which === 0 ? model.encodeQueries(texts[0], { grad }) : model.encodeItems(texts[which], { grad })), () => model.dispose());
    },
    job: () => job,
  };
}

/**
 * bench/training_step.py as a child answering one line per request. `sameEnvironment`: with the
 * settings our loader chose (lib/environment.ts); otherwise as a Python user runs it, without them.
 */
async function pytorch(job: Record<string, unknown>, sameEnvironment: boolean): Promise<Engine> {
  const file = path.join(OUT, `${String(job.kind)}-job.json`);
  fs.writeFileSync(file, JSON.stringify({ ...job, threads: THREADS }));
  const python = process.env.BENCH_PYTHON ?? "/usr/bin/python3";
  const env = { ...process.env };
  if (!sameEnvironment) for (const name of runtimeInfo().environment.setByLoader) delete env[name];
  const child = spawn(python, [path.join(__dirname, "training_step.py"), file], { stdio: ["pipe", "pipe", "inherit"], env });
  const lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async <T>(): Promise<T> => {
    const line = await lines.next();
    if (line.done) throw new Error(`${python} bench/training_step.py exited (${child.exitCode}) before answering`);
    return JSON.parse(line.value) as T;
  };
  const { parity_loss: parityLoss } = await next<{ parity_loss: number }>();
  return {
    name: sameEnvironment ? "PyTorch eager, our loader's settings" : "PyTorch eager, its defaults",
    parityLoss,
    async time(steps) {
      child.stdin.write(`${steps}\n`);
      return (await next<{ seconds: number }>()).seconds;
    },
    close: () => child.stdin.end(),
  };
}

async function run(workload: Workload): Promise<{ rows: string[][]; parity: number }> {
  const ours = await workload.ours();
  const engines = [ours, await pytorch(workload.job(), false), await pytorch(workload.job(), true)];
  try {
    const parity = Math.max(...engines.map((e) => Math.abs(ours.parityLoss - e.parityLoss)));
    if (!(parity < 1e-5)) throw new Error(`${workload.name}: eval-mode losses differ (${engines.map((e) => `${e.name} ${e.parityLoss}`).join(", ")}): not the same model and batch`);
    for (const e of engines) await e.time(Math.ceil(workload.stepsPerRound / 5));  // warm-up
    const rates = new Map(engines.map((e) => [e.name, [] as number[]]));
    const ratios = new Map(engines.map((e) => [e.name, [] as number[]]));  // ours / e, per round
    for (let r = 0; r < ROUNDS; r++) {
      const round = new Map<string, number>();
      for (const e of common.rotate(engines, r)) {
        await common.sleep(200);
        round.set(e.name, workload.stepsPerRound / (await e.time(workload.stepsPerRound)));
      }
      for (const [name, rate] of round) {
        rates.get(name)!.push(rate);
        ratios.get(name)!.push(round.get(ours.name)! / rate);
      }
      process.stderr.write(`${workload.name} round ${r + 1}/${ROUNDS}: ${[...round].map(([n, v]) => `${n} ${v.toFixed(1)}`).join(", ")} steps/s\n`);
    }
    const rows = engines.map((e) => {
      const s = common.stats(rates.get(e.name)!);
      const ratio = e === ours ? "–" : common.stats(ratios.get(e.name)!).median.toFixed(2);
      return [workload.describe, e.name, s.median.toFixed(1), s.min.toFixed(1), (1000 / s.median).toFixed(2), ratio];
    });
    return { rows, parity };
  } finally {
    for (const e of engines) e.close();
  }
}

void (async () => {
  fs.mkdirSync(OUT, { recursive: true });
  if (process.argv[3] !== undefined) setNumThreads(THREADS);
  const m = common.machine(runtimeInfo());
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const workload of [mlpWorkload(), bertWorkload()]) {
    const result = await run(workload);
    rows.push(...result.rows);
    notes.push(`${workload.name}: eval-mode parity loss difference ${result.parity.toExponential(1)}; ${ROUNDS} rounds of ${workload.stepsPerRound} steps`);
  }
  const command = `node -r ./test/helpers/register-ts.js bench/training-step.ts ${process.argv.slice(2).join(" ")}`.trim();
  const text = [
    common.preamble("Training steps per second: embeddings-torch vs PyTorch eager", command, m, [`intra-op threads: ${THREADS} (every engine)`, `our loader's settings: ${JSON.stringify(runtimeInfo().environment)}`, ...notes]),
    common.table(["model and batch", "engine", "median steps/s", "slowest round steps/s", "ms/step (median)", "ours ÷ this engine (median of per-round ratios)"], rows),
  ].join("\n");
  process.stdout.write(`${text}\n`);
  process.stderr.write(`written to ${common.writeResult(`training-step-${THREADS}-threads.md`, text)} (${os.hostname()})\n`);
})();
