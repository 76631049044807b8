import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import sharp from "sharp";

import { MetricsLog } from "../../lib/training/metrics-log";
import { renderMetricsSvg } from "../../lib/training/plot";
import { formatDuration, Progress } from "../../lib/training/progress";
import { formatMetricTable } from "../../lib/training/report";

class Sink {
  text = "";
  isTTY: boolean;
  columns = 100;
  constructor(tty: boolean) {
    this.isTTY = tty;
  }
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

function progress(tty: boolean, mode?: "silent") {
  const sink = new Sink(tty);
  let now = 0;
  const p = new Progress({ total: 40, stream: sink as unknown as NodeJS.WritableStream, now: () => now, ...(mode ? { mode } : {}) });
  return { sink, p, at: (ms: number) => (now = ms) };
}

describe("progress", () => {
  test("plain lines off a TTY: step, loss, lr and ETA from the pace so far (2 s a step, 38 left: 1m16s), every total/20 steps", () => {
    const { sink, p, at } = progress(false);
    expect(p.mode).toBe("lines");
    at(2000);
    p.update({ step: 1, loss: 0.5, lr: 1e-3 });
    at(4000);
    p.update({ step: 2, loss: 0.123456, lr: 1e-3 });
    expect(sink.text).toBe("step 2/40 loss 0.1235 lr 1.00e-3 ETA 1m16s\n");
  });

  test("a single rewritten line on a TTY, ended by done(); log() prints above it", () => {
    const { sink, p, at } = progress(true);
    expect(p.mode).toBe("bar");
    at(1000);
    p.update({ step: 10, loss: 1, lr: 0.5 });
    expect(sink.text).toBe(`\r\x1b[2K[${"#".repeat(8)}${".".repeat(22)}] step 10/40 loss 1.0000 lr 5.00e-1 ETA 3s`);
    p.log("validation: val_loss 0.5");
    p.done();
    expect(sink.text.endsWith("\r\x1b[2Kvalidation: val_loss 0.5\n")).toBe(true);
  });

  test("silent mode writes nothing", () => {
    const { sink, p } = progress(true, "silent");
    p.update({ step: 40, loss: 1, lr: 1 });
    p.log("x");
    p.done();
    expect(sink.text).toBe("");
  });

  test("durations read as seconds, minutes and hours", () => {
    expect([5, 75, 3725].map(formatDuration)).toEqual(["5s", "1m15s", "1h02m"]);
  });
});

describe("metrics files", () => {
  test("JSONL is appended, CSV has a column per metric with blanks, SVG has a panel per series; a resumed log drops later steps and a line cut by a kill", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "et-log-"));
    const log = await MetricsLog.open(dir);
    await log.append({ step: 1, epoch: 0, loss: 0.9, lr: 0.1 });
    await log.append({ step: 2, epoch: 0, loss: 0.7, lr: 0.1 });
    await log.append({ step: 2, epoch: 0, val_loss: 0.8 });
    await log.append({ step: 3, epoch: 1, loss: 0.6, lr: 0.05 });
    await log.flush("run");
    expect(fs.readFileSync(path.join(dir, "metrics.csv"), "utf8")).toBe("step,epoch,loss,lr,val_loss\n1,0,0.9,0.1,\n2,0,0.7,0.1,\n2,0,,,0.8\n3,1,0.6,0.05,\n");
    const svg = fs.readFileSync(path.join(dir, "metrics.svg"), "utf8");
    expect(svg.match(/data-series="([^"]+)"/g)).toEqual(['data-series="loss"', 'data-series="lr"', 'data-series="val_loss"']);
    expect(svg.match(/<polyline/g)).toHaveLength(2);  // val_loss has one point: a circle
    // metrics.png: the same picture, decoded back: the SVG's size, white background, dark plot lines
    const svgSize = /<svg[^>]*width="(\d+)" height="(\d+)"/.exec(svg);
    const { data, info } = await sharp(fs.readFileSync(path.join(dir, "metrics.png"))).raw().toBuffer({ resolveWithObject: true });
    expect([info.format, info.width, info.height, info.channels]).toEqual(["raw", Number(svgSize![1]), Number(svgSize![2]), 3]);
    expect([data[0], data[1], data[2]]).toEqual([255, 255, 255]);
    let dark = 0;
    for (let i = 0; i < data.length; i += 3) if (data[i]! < 128 && data[i + 2]! > 128) dark++;  // the series' blue strokes
    expect(dark).toBeGreaterThan(200);
    fs.appendFileSync(path.join(dir, "metrics.jsonl"), '{"step": 4, "ep');
    const resumed = await MetricsLog.open(dir, { resumeAtStep: 2 });
    expect(resumed.records.map((r) => r.step)).toEqual([1, 2, 2]);
    expect(fs.readFileSync(path.join(dir, "metrics.jsonl"), "utf8").trim().split("\n")).toHaveLength(3);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("the SVG scales each panel to its own range: the lowest point sits on the panel's bottom edge", () => {
    const svg = renderMetricsSvg(new Map([["loss", [{ step: 0, value: 2 }, { step: 10, value: 1 }]]]));
    // panel top 24, height 150: value 1 (the minimum) at y = 174, value 2 at y = 24; x from 64 to 624
    expect(svg).toContain('points="64.0,24.0 624.0,174.0"');
  });
});

describe("before/after table", () => {
  test("rows per metric with before, after and the signed change", () => {
    expect(formatMetricTable({ "recall@10": 0.41, mrr: 0.3 }, { "recall@10": 0.63, mrr: 0.25 })).toBe(
      ["metric     before   after   change", "recall@10  0.4100  0.6300  +0.2200", "mrr        0.3000  0.2500  -0.0500"].join("\n"),
    );
  });
});
