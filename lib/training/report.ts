/** A before/after table of metrics, as plain text. */

function cell(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? "-" : value.toFixed(4);
}

/**
 * One row per metric (in the order first seen): before, after and the change.
 *
 *   metric     before   after    change
 *   recall@10  0.4100   0.6300   +0.2200
 */
export function formatMetricTable(before: Readonly<Record<string, number>>, after: Readonly<Record<string, number>>): string {
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  const rows = names.map((name) => {
    const b = before[name];
    const a = after[name];
    const change = a !== undefined && b !== undefined ? `${a - b >= 0 ? "+" : ""}${(a - b).toFixed(4)}` : "-";
    return [name, cell(b), cell(a), change];
  });
  const header = ["metric", "before", "after", "change"];
  const table = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...table.map((r) => (r[c] ?? "").length)));
  return table.map((r) => r.map((v, c) => (c === 0 ? v.padEnd(widths[c] ?? 0) : v.padStart(widths[c] ?? 0))).join("  ")).join("\n");
}
