/**
 * Writes a Hugging Face cache as Python's huggingface_hub leaves it after
 * `snapshot_download` (written here from its documented layout, not with
 * lib/hub): blobs named by etag (sha256 for LFS files, git blob sha1 for the
 * rest), snapshots/<commit>/<file> as relative symlinks to ../../blobs/<etag>,
 * refs/<branch or tag> holding the commit.
 */
import * as fs from "node:fs";
import * as path from "node:path";

import { gitBlobSha1, sha256 } from "./hub-server";

export function pythonEtag(file: string, content: Buffer): string {
  return /\.(safetensors|pt|bin)$/.test(file) ? sha256(content) : gitBlobSha1(content);
}

/** Adds `files` as `commit` of `repoId` to the cache at `cacheDir`; `refs` name it. */
export function writePythonCache(cacheDir: string, repoId: string, commit: string, files: Readonly<Record<string, Buffer>>, refs: readonly string[] = ["main"]): string {
  const repoDir = path.join(cacheDir, `models--${repoId.replace("/", "--")}`);
  for (const [file, content] of Object.entries(files)) {
    const etag = pythonEtag(file, content);
    fs.mkdirSync(path.join(repoDir, "blobs"), { recursive: true });
    fs.writeFileSync(path.join(repoDir, "blobs", etag), content);
    const link = path.join(repoDir, "snapshots", commit, file);
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.symlinkSync(path.relative(path.dirname(link), path.join(repoDir, "blobs", etag)), link);
  }
  for (const ref of refs) {
    fs.mkdirSync(path.dirname(path.join(repoDir, "refs", ref)), { recursive: true });
    fs.writeFileSync(path.join(repoDir, "refs", ref), commit);
  }
  return repoDir;
}

/** The files of a fixture folder (test/fixtures/<name>), by name, optionally only some. */
export function folderFiles(dir: string, only?: readonly string[]): Record<string, Buffer> {
  const names = only ?? fs.readdirSync(dir).filter((f) => fs.statSync(path.join(dir, f)).isFile());
  return Object.fromEntries(names.map((f) => [f, fs.readFileSync(path.join(dir, f))]));
}
