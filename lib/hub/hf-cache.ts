/**
 * The layout of Python huggingface_hub's cache, read and written as it does:
 *
 *   <cache>/models--<org>--<name>/
 *     refs/<revision>            the commit a branch or tag pointed to when last resolved
 *     blobs/<etag>               file contents, named by their etag (sha256 for LFS files)
 *     blobs/<etag>.incomplete    a download in progress (resumed from its length)
 *     snapshots/<commit>/<file>  relative symlinks to ../../blobs/<etag>
 *     .no_exist/<commit>/<file>  empty: the file does not exist at that commit
 */
import * as fs from "node:fs";
import * as path from "node:path";

import { fsyncPath } from "./atomic";

/** A Hub model id: "name" or "org/name" (letters, digits, '-', '_', '.'; no "--" or ".." in a part). */
const REPO_ID = /^(?:[A-Za-z0-9][\w.-]{0,95}\/)?[A-Za-z0-9][\w.-]{0,95}$/;

export function isRepoId(value: string): boolean {
  return REPO_ID.test(value) && !value.includes("--") && !value.includes("..") && !/[.-]$/.test(value);
}

export function isCommitHash(revision: string): boolean {
  return /^[0-9a-f]{40}$/.test(revision);
}

/** `<cache>/models--org--name`. */
export function repoCacheDir(cacheDir: string, repoId: string): string {
  return path.join(cacheDir, `models--${repoId.split("/").join("--")}`);
}

/** A cache path under `root` for a name from the Hub (a file path or a revision such as refs/pr/1): never outside root. */
function inside(root: string, name: string): string {
  const target = path.resolve(root, ...name.split("/"));
  if (!target.startsWith(root + path.sep)) throw new RangeError(`Hugging Face cache: ${JSON.stringify(name)} would leave ${root}`);
  return target;
}

/** The commit of `revision`: itself when a commit hash, else what refs/<revision> records, else undefined. */
export function cachedCommit(repoDir: string, revision: string): string | undefined {
  if (isCommitHash(revision)) return revision;
  const ref = inside(path.join(repoDir, "refs"), revision);
  if (!fs.existsSync(ref)) return undefined;
  const commit = fs.readFileSync(ref, "utf8").trim();
  return isCommitHash(commit) ? commit : undefined;
}

/** Records that `revision` points at `commit` (refs/<revision>), as huggingface_hub does after a request. */
export async function writeRef(repoDir: string, revision: string, commit: string): Promise<void> {
  if (revision === commit) return;
  const ref = inside(path.join(repoDir, "refs"), revision);
  await fs.promises.mkdir(path.dirname(ref), { recursive: true });
  if (fs.existsSync(ref) && fs.readFileSync(ref, "utf8").trim() === commit) return;
  await fs.promises.writeFile(ref, commit);
}

export function snapshotDir(repoDir: string, commit: string): string {
  return path.join(repoDir, "snapshots", commit);
}

/** The snapshot path of `file` at `commit` (it may not exist). */
export function snapshotFile(repoDir: string, commit: string, file: string): string {
  return inside(snapshotDir(repoDir, commit), file);
}

export function blobFile(repoDir: string, etag: string): string {
  return inside(path.join(repoDir, "blobs"), etag);
}

/** Whether the cache records that `file` does not exist at `commit`. */
export function knownMissing(repoDir: string, commit: string, file: string): boolean {
  return fs.existsSync(inside(path.join(repoDir, ".no_exist", commit), file));
}

export async function markMissing(repoDir: string, commit: string, file: string): Promise<void> {
  const marker = inside(path.join(repoDir, ".no_exist", commit), file);
  await fs.promises.mkdir(path.dirname(marker), { recursive: true });
  await fs.promises.writeFile(marker, "");
}

/**
 * Points snapshots/<commit>/<file> at blobs/<etag> with a relative symlink
 * (huggingface_hub's layout: the snapshot moves with the cache). Made under a
 * temporary name and renamed, so a reader never sees a missing link.
 */
export async function linkSnapshot(repoDir: string, commit: string, file: string, etag: string): Promise<string> {
  const link = snapshotFile(repoDir, commit, file);
  await fs.promises.mkdir(path.dirname(link), { recursive: true });
  const target = path.relative(path.dirname(link), blobFile(repoDir, etag));
  const current = fs.lstatSync(link, { throwIfNoEntry: false })?.isSymbolicLink() ? fs.readlinkSync(link, { encoding: "utf8" }) : undefined;
  if (current === target) return link;
  const temp = `${link}.${process.pid}.${Date.now()}.tmp`;
  await fs.promises.symlink(target, temp);
  await fs.promises.rename(temp, link);
  await fsyncPath(path.dirname(link));
  return link;
}
