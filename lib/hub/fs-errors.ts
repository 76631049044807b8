/**
 * Node's file-system errors (ENOTDIR, ENAMETOOLONG, EACCES, ENOSPC, …) carry
 * the syscall and the path but no operation of ours; this wraps them in the
 * package's classes, naming the operation, the path and the errno code.
 */
import type { TorchError } from "../errors";

/** True for an error thrown by a Node file-system call (it has `code`, `syscall`). */
export function isSystemError(error: unknown): error is NodeJS.ErrnoException & { syscall: string; dest?: string } {
  return typeof error === "object" && error !== null && typeof (error as NodeJS.ErrnoException).code === "string" && typeof (error as NodeJS.ErrnoException).syscall === "string";
}

/**
 * Returns `error` wrapped in `Class` when it is a file-system error, else `error`:
 * `exportToTriton: mkdir /repo/file/mlp: ENOTDIR (a path component is not a folder)`.
 */
export function wrapFsError(error: unknown, what: string, Class: new (message: string) => TorchError): unknown {
  if (!isSystemError(error)) return error;
  const target = error.dest !== undefined ? `${error.path ?? ""} -> ${error.dest}` : error.path ?? "";
  const wrapped = new Class(`${what}: ${error.syscall} ${target}: ${error.code} (${HINTS[error.code ?? ""] ?? error.message})`);
  wrapped.cause = error;
  return wrapped;
}

const HINTS: Readonly<Record<string, string>> = {
  ENOTDIR: "a component of the path is a file, not a folder",
  ENAMETOOLONG: "the path or one of its names is too long for the file system",
  EACCES: "permission denied: the process may not read or write there",
  EPERM: "operation not permitted",
  EROFS: "the file system is read-only",
  ENOSPC: "no space left on the device",
  EEXIST: "the path exists",
  EISDIR: "the path is a folder, not a file",
};
