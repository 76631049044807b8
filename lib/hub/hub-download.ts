/**
 * One file of a Hub repository into the Hugging Face cache, by the Hub's
 * resolve route `GET {endpoint}/{repo}/resolve/{revision}/{file}`: a HEAD
 * names the commit (X-Repo-Commit) and the blob (X-Linked-Etag for LFS files,
 * else ETag); the body goes to blobs/<etag>.incomplete, resumed with a Range
 * request after an interruption, checked (size; sha256 where the etag is one)
 * and renamed to blobs/<etag>; the snapshot links to it.
 */
import { createHash, type Hash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

import { HubError } from "../errors";
import { blobFile, linkSnapshot, markMissing } from "./hf-cache";
import type { HubSettings } from "./hub-settings";

/** What the Hub said about one file at one revision. */
export type FetchedFile =
  | { readonly found: true; readonly commit: string; readonly path: string }
  | { readonly found: false; readonly commit: string | undefined };

const MAX_REDIRECTS = 5;

function resolveUrl(settings: HubSettings, repoId: string, revision: string, file: string): string {
  const encodedFile = file.split("/").map(encodeURIComponent).join("/");
  return `${settings.endpoint}/${repoId}/resolve/${encodeURIComponent(revision)}/${encodedFile}`;
}

function authHeaders(settings: HubSettings): Record<string, string> {
  return settings.token === undefined ? {} : { authorization: `Bearer ${settings.token}` };
}

/** huggingface_hub's etag normalisation: no weak marker, no quotes. */
function normalizeEtag(value: string | null): string | undefined {
  if (value === null) return undefined;
  const etag = value.replace(/^W\//, "").replace(/^"|"$/g, "");
  return /^[\w.-]+$/.test(etag) ? etag : undefined;
}

/**
 * HEAD of the resolve route. Relative redirects (a renamed repository) are
 * followed; an absolute one (the file's CDN location) is not, since the
 * commit and etag headers are on the Hub's own answer.
 */
async function head(settings: HubSettings, url: string): Promise<Response> {
  let current = url;
  for (let hop = 0; ; hop++) {
    const response = await fetch(current, { method: "HEAD", redirect: "manual", headers: { ...authHeaders(settings), "accept-encoding": "identity" } });
    const location = response.headers.get("location");
    if (response.status < 300 || response.status >= 400 || location === null || !location.startsWith("/") || hop === MAX_REDIRECTS) return response;
    current = new URL(location, current).toString();
  }
}

/** The refusal of a HEAD, as an error naming the repository, the revision and what to do. */
function refusal(response: Response, repoId: string, revision: string, file: string, settings: HubSettings): HubError {
  const code = response.headers.get("x-error-code") ?? "";
  const at = `${settings.endpoint}: ${repoId}@${revision}`;
  if (code === "RevisionNotFound") return new HubError(`${at}: revision ${JSON.stringify(revision)} does not exist (a branch, tag or commit of ${repoId})`);
  if (response.status === 401 || response.status === 403 || code === "RepositoryNotFound" || code === "GatedRepo")
    return new HubError(
      `${at}: repository not found or not accessible (HTTP ${response.status}${code ? `, ${code}` : ""}); ` +
        (settings.token === undefined ? "for a private or gated model set HF_TOKEN (or pass token)" : "the token in use (HF_TOKEN or the token option) was refused"),
    );
  return new HubError(`${at}: ${file}: HTTP ${response.status} ${response.statusText}`);
}

/**
 * Downloads `file` at `revision` into the cache unless its blob is there,
 * links it into the commit's snapshot and returns its path. A file the Hub
 * reports missing (EntryNotFound) is recorded under .no_exist and returned
 * as not found. Network failures propagate as they are (the caller may fall
 * back to the cache); refusals are HubErrors.
 */
export async function fetchFile(settings: HubSettings, repoDir: string, repoId: string, revision: string, file: string): Promise<FetchedFile> {
  const url = resolveUrl(settings, repoId, revision, file);
  const response = await head(settings, url);
  const commit = response.headers.get("x-repo-commit") ?? undefined;
  if (response.status === 404 && response.headers.get("x-error-code") === "EntryNotFound") {
    if (commit !== undefined) await markMissing(repoDir, commit, file);
    return { found: false, commit };
  }
  if (response.status >= 400) throw refusal(response, repoId, revision, file, settings);
  const etag = normalizeEtag(response.headers.get("x-linked-etag") ?? response.headers.get("etag"));
  if (commit === undefined || !/^[0-9a-f]{40}$/.test(commit) || etag === undefined)
    throw new HubError(`${url}: the answer lacks a commit (X-Repo-Commit) or an etag (ETag): is HF_ENDPOINT (${settings.endpoint}) a Hugging Face Hub?`);
  const sizeHeader = response.headers.get("x-linked-size") ?? response.headers.get("content-length");
  const size = sizeHeader === null ? undefined : Number(sizeHeader);
  const blob = blobFile(repoDir, etag);
  const cached = fs.statSync(blob, { throwIfNoEntry: false });
  if (cached === undefined || (size !== undefined && cached.size !== size)) {
    // Pinned to the commit, so every file of one load comes from one commit.
    await downloadBlob(settings, resolveUrl(settings, repoId, commit, file), blob, { repoId, file, etag, size });
  }
  return { found: true, commit, path: await linkSnapshot(repoDir, commit, file, etag) };
}

interface BlobInfo {
  readonly repoId: string;
  readonly file: string;
  readonly etag: string;
  readonly size: number | undefined;
}

/** A download in flight per blob in this process: a second caller waits for the first. */
const inFlight = new Map<string, Promise<void>>();

async function downloadBlob(settings: HubSettings, url: string, blob: string, info: BlobInfo): Promise<void> {
  const running = inFlight.get(blob);
  if (running !== undefined) return running;
  const download = downloadOnce(settings, url, blob, info).finally(() => inFlight.delete(blob));
  inFlight.set(blob, download);
  return download;
}

async function hashOf(file: string, hash: Hash): Promise<void> {
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
}

async function downloadOnce(settings: HubSettings, url: string, blob: string, info: BlobInfo): Promise<void> {
  await fs.promises.mkdir(path.dirname(blob), { recursive: true });
  const incomplete = `${blob}.incomplete`;
  // An LFS etag is the file's sha256: the download is checked against it.
  const hash = /^[0-9a-f]{64}$/.test(info.etag) ? createHash("sha256") : undefined;
  let offset = fs.statSync(incomplete, { throwIfNoEntry: false })?.size ?? 0;
  if (info.size !== undefined && offset > info.size) {
    await fs.promises.rm(incomplete);
    offset = 0;
  }
  const headers: Record<string, string> = { ...authHeaders(settings), "accept-encoding": "identity" };
  if (offset > 0) headers.range = `bytes=${offset}-`;
  const response = await fetch(url, { headers, redirect: "follow" });
  if (response.status === 416 && offset > 0) {
    // The partial file is not a prefix the server recognises: start again.
    await fs.promises.rm(incomplete);
    return downloadOnce(settings, url, blob, info);
  }
  if (response.status !== 200 && response.status !== 206) throw new HubError(`${url}: download failed: HTTP ${response.status} ${response.statusText}`);
  if (response.body === null) throw new HubError(`${url}: download failed: the answer has no body`);
  const resumed = response.status === 206 && offset > 0;
  if (!resumed) offset = 0;
  if (hash !== undefined && resumed) await hashOf(incomplete, hash);
  const handle = await fs.promises.open(incomplete, resumed ? "a" : "w");
  let bytes = offset;
  const report = () => settings.onProgress?.({ repoId: info.repoId, file: info.file, bytes, total: info.size });
  try {
    report();
    for await (const chunk of response.body) {
      await handle.write(chunk);
      hash?.update(chunk);
      bytes += chunk.length;
      report();
    }
    await handle.sync();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new HubError(`${url}: download interrupted after ${bytes} of ${info.size ?? "?"} bytes (${reason}); ${incomplete} keeps them and the next call resumes from there`);
  } finally {
    await handle.close();
  }
  if (info.size !== undefined && bytes !== info.size)
    throw new HubError(`${url}: download ended after ${bytes} of ${info.size} bytes; ${incomplete} keeps them and the next call resumes from there`);
  const digest = hash?.digest("hex");
  if (digest !== undefined && digest !== info.etag) {
    await fs.promises.rm(incomplete);
    throw new HubError(`${url}: the downloaded file's sha256 is ${digest} but the Hub's etag says ${info.etag}; the partial file was removed, try again`);
  }
  await fs.promises.rename(incomplete, blob);
}
