/**
 * What the CPU can do, read from /proc/cpuinfo's flags: the loader's OpenBLAS
 * core (environment.ts) and whether `dtype: "bfloat16"` pays on CPU.
 */
import * as fs from "node:fs";

/** The flags line of /proc/cpuinfo text (its first processor) as a set; empty when there is none. */
export function cpuFlags(cpuinfo: string): Set<string> {
  return new Set(/^flags\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim().split(/\s+/) ?? []);
}

/** /proc/cpuinfo, or "" where there is none (not Linux, no procfs). */
export function readCpuinfo(): string {
  try {
    return fs.readFileSync("/proc/cpuinfo", "utf8");
  } catch {
    return "";
  }
}

/**
 * Whether bfloat16 weights make CPU inference faster here: the CPU multiplies
 * bf16 matrices in hardware (AMX-BF16 or AVX512-BF16; oneDNN, which libtorch
 * uses for bf16 products, then runs 3-8x fp32). Without either, libtorch
 * emulates bf16 products through fp32 and every forward gets slower and less
 * exact, so text models load as float32 instead (with a one-line notice).
 */
export function cpuHasBfloat16Matmul(cpuinfo: string, arch: string = process.arch): boolean {
  if (arch !== "x64") return false;
  const flags = cpuFlags(cpuinfo);
  return flags.has("amx_bf16") || flags.has("avx512_bf16");
}
