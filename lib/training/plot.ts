/**
 * A hand-written SVG of metrics per step: one panel per series (training
 * loss, learning rate, each validation metric), shared step axis; and the
 * same picture as PNG, rasterised by sharp (libvips + librsvg, already a
 * dependency for images). Works at any number of steps: extents are loops
 * (not Math.min(...array), which overflows the stack at ~10^5 values) and
 * each series is thinned to its lowest and highest point per pixel column.
 */
import sharp from "sharp";

export interface SeriesPoint {
  readonly step: number;
  readonly value: number;
}

const WIDTH = 640;
const PANEL = 150;
const MARGIN = { left: 64, right: 16, top: 24, bottom: 28 };

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function label(value: number): string {
  if (value === 0) return "0";
  const abs = Math.abs(value);
  return abs >= 1e4 || abs < 1e-3 ? value.toExponential(2) : Number(value.toPrecision(4)).toString();
}

/** The smallest and largest of `values` (a loop: spreading 10^6 arguments overflows the stack). */
export function extent(values: Iterable<number>, initial: readonly [number, number] = [Infinity, -Infinity]): [number, number] {
  let [lo, hi] = initial;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/**
 * The points drawn: per pixel column, the lowest and the highest point (in
 * step order), so the line keeps its envelope and spikes at 10^6 steps.
 */
export function thin(points: readonly SeriesPoint[], column: (step: number) => number): SeriesPoint[] {
  const out: SeriesPoint[] = [];
  let current = Number.NaN;
  let lo: SeriesPoint | null = null;
  let hi: SeriesPoint | null = null;
  const flush = () => {
    if (lo === null || hi === null) return;
    if (lo === hi) out.push(lo);
    else out.push(...(lo.step <= hi.step ? [lo, hi] : [hi, lo]));
  };
  for (const p of points) {
    const c = Math.round(column(p.step));
    if (c !== current) {
      flush();
      (current = c), (lo = p), (hi = p);
      continue;
    }
    if (p.value < (lo as SeriesPoint).value) lo = p;
    if (p.value > (hi as SeriesPoint).value) hi = p;
  }
  flush();
  return out;
}

/** Renders the series (name -> points) as an SVG document; series without finite points are left out. */
export function renderMetricsSvg(series: ReadonlyMap<string, readonly SeriesPoint[]>, title = "training"): string {
  const panels = [...series].map(([name, points]) => [name, points.filter((p) => Number.isFinite(p.value))] as const).filter(([, p]) => p.length > 0);
  let [minStep, maxStep] = [0, 1];
  for (const [, p] of panels) [minStep, maxStep] = extent(p.map((q) => q.step), [minStep, maxStep]);
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const height = MARGIN.top + panels.length * (PANEL + MARGIN.bottom) + 8;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="16" text-anchor="middle" font-size="13">${escapeXml(title)}</text>`,
  ];
  const x = (step: number) => MARGIN.left + ((step - minStep) / Math.max(1e-12, maxStep - minStep)) * plotWidth;
  panels.forEach(([name, points], i) => {
    const top = MARGIN.top + i * (PANEL + MARGIN.bottom);
    let [lo, hi] = extent(points.map((p) => p.value));
    if (hi === lo) (hi += Math.abs(hi) * 0.05 || 1), (lo -= Math.abs(lo) * 0.05 || 1);
    const y = (v: number) => top + PANEL - ((v - lo) / (hi - lo)) * PANEL;
    out.push(`<g class="panel" data-series="${escapeXml(name)}">`);
    out.push(`<rect x="${MARGIN.left}" y="${top}" width="${plotWidth}" height="${PANEL}" fill="none" stroke="#bbb"/>`);
    out.push(`<text x="${MARGIN.left + 4}" y="${top + 12}" fill="#333">${escapeXml(name)}</text>`);
    out.push(`<text x="${MARGIN.left - 4}" y="${top + 10}" text-anchor="end">${label(hi)}</text>`);
    out.push(`<text x="${MARGIN.left - 4}" y="${top + PANEL}" text-anchor="end">${label(lo)}</text>`);
    out.push(`<text x="${MARGIN.left}" y="${top + PANEL + 14}">${minStep}</text>`);
    out.push(`<text x="${MARGIN.left + plotWidth}" y="${top + PANEL + 14}" text-anchor="end">step ${maxStep}</text>`);
    const path = thin(points, x).map((p) => `${x(p.step).toFixed(1)},${y(p.value).toFixed(1)}`).join(" ");
    const [only] = points;
    if (points.length === 1 && only) out.push(`<circle cx="${x(only.step).toFixed(1)}" cy="${y(only.value).toFixed(1)}" r="3" fill="#1f77b4"/>`);
    else out.push(`<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="${path}"/>`);
    out.push("</g>");
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}

/** The SVG rasterised to a PNG on white (text needs a system font; without one the lines still draw). */
export async function renderSvgToPng(svg: string): Promise<Buffer> {
  return sharp(Buffer.from(svg), { failOn: "error" }).flatten({ background: "#ffffff" }).png().toBuffer();
}
