/**
 * The metrics plot at 10^6 logged steps (Math.min(...steps) threw at ~62k):
 * MetricsLog writes metrics.svg and metrics.png, and the thinned line keeps
 * the series' extremes (a spike at one step of a million still shows).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { MetricsLog } from "../../lib/training/metrics-log";
import { renderMetricsSvg, type SeriesPoint } from "../../lib/training/plot";

const STEPS = 1_000_000;
const SPIKE = 777_777;

/** loss = 1 + 0.5·sin(step/1000), with one spike of 50 at SPIKE and one dip to -3 at step 123,456. */
function loss(step: number): number {
  if (step === SPIKE) return 50;
  if (step === 123_456) return -3;
  return 1 + 0.5 * Math.sin(step / 1000);
}

let root: string;
beforeAll(() => (root = fs.mkdtempSync(path.join(os.tmpdir(), "plot-scale-"))));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

test("10^6 steps: the SVG labels the true extremes (50, -3, step 1000000), draws <= 2 points per pixel column, and the spike's column reaches the panel's top", () => {
  const points: SeriesPoint[] = Array.from({ length: STEPS }, (_, i) => ({ step: i + 1, value: loss(i + 1) }));
  const svg = renderMetricsSvg(new Map([["loss", points]]));
  expect(svg).toContain(">50<");  // hi label
  expect(svg).toContain(">-3<");  // lo label
  expect(svg).toContain(">step 1000000<");
  const drawn = (/points="([^"]+)"/.exec(svg)?.[1] ?? "").split(" ").map((p) => p.split(",").map(Number) as [number, number]);
  expect(drawn.length).toBeLessThanOrEqual(2 * 561);
  expect(drawn.length).toBeGreaterThan(500);
  // Independent of the code: x of step s is 64 + (s - 0) / 1e6 * 560; the top of the only panel is y = 24.
  const spikeX = 64 + (SPIKE / STEPS) * 560;
  expect(drawn.some(([x, y]) => Math.abs(x - spikeX) <= 1 && Math.abs(y - 24) < 0.05)).toBe(true);
  expect(drawn.some(([, y]) => Math.abs(y - 174) < 0.05)).toBe(true);  // the dip reaches the bottom
});

test("MetricsLog.flush over a 10^6-step metrics.jsonl writes metrics.csv (10^6 rows), metrics.svg and metrics.png", async () => {
  const dir = path.join(root, "log");
  fs.mkdirSync(dir);
  const lines: string[] = [];
  for (let s = 1; s <= STEPS; s++) lines.push(JSON.stringify({ step: s, epoch: 0, loss: loss(s), lr: 1e-4 }));
  fs.writeFileSync(path.join(dir, "metrics.jsonl"), `${lines.join("\n")}\n`);
  const log = await MetricsLog.open(dir, { resumeAtStep: STEPS });
  expect(log.records).toHaveLength(STEPS);
  await log.flush();
  const csv = fs.readFileSync(path.join(dir, "metrics.csv"), "utf8").trimEnd().split("\n");
  expect(csv).toHaveLength(STEPS + 1);
  expect(fs.readFileSync(path.join(dir, "metrics.svg"), "utf8").match(/data-series="([^"]+)"/g)).toEqual(['data-series="loss"', 'data-series="lr"']);
  expect(fs.readFileSync(path.join(dir, "metrics.png")).subarray(1, 4).toString("latin1")).toBe("PNG");
}, 60_000);
