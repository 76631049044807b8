/**
 * Jest globalSetup: applies the loader's environment defaults
 * (lib/environment.ts) to the real process environment before any test loads
 * libtorch. Inside a test, `process.env` is jest's copy: the loader's writes
 * there never reach the C environment that OpenBLAS and OpenMP read, while
 * child processes the tests spawn inherit the real one. Setting it here gives
 * the jest process and every child the same BLAS kernels, as a user's
 * process and its children get (the resume tests compare them bit for bit).
 */
import { applyEnvironmentDefaults } from "../../lib/environment";

export default function globalSetup(): void {
  applyEnvironmentDefaults();
}
