/**
 * A local stand-in for the Hugging Face Hub's file routes on 127.0.0.1,
 * answering as huggingface.co does (what huggingface_hub's file_download.py
 * reads): `HEAD|GET /{repo}/resolve/{revision}/{file}` with X-Repo-Commit,
 * ETag (git blob sha1) or, for LFS files, X-Linked-Etag (sha256) and
 * X-Linked-Size and a 302 to a CDN route that honours Range; 401
 * RepositoryNotFound, 404 RevisionNotFound / EntryNotFound. Tests point
 * HF_ENDPOINT at it; nothing reaches the network.
 */
import { createHash } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";

export interface HubRepo {
  /** commit hash -> file path -> contents. */
  readonly commits: Readonly<Record<string, Readonly<Record<string, Buffer>>>>;
  /** branch or tag -> commit hash. */
  readonly refs: Readonly<Record<string, string>>;
  /** When set, requests must carry `Authorization: Bearer <token>`. */
  readonly token?: string;
}

export interface HubRequest {
  readonly method: string;
  readonly url: string;
  readonly range: string | undefined;
  readonly authorization: string | undefined;
}

export interface HubServer {
  readonly endpoint: string;
  readonly requests: HubRequest[];
  /** The next CDN download sends this many bytes, then cuts the connection. */
  dropNextDownloadAfter(bytes: number): void;
  close(): Promise<void>;
}

export function gitBlobSha1(content: Buffer): string {
  return createHash("sha1").update(`blob ${content.length}\0`).update(content).digest("hex");
}

export function sha256(content: Buffer): string {
  return createHash("sha256").update(content).digest("hex");
}

/** Files stored with git LFS on the Hub (their etag is the sha256 of the content). */
const isLfs = (file: string) => /\.(safetensors|pt|bin)$/.test(file);

export async function startHubServer(repos: Readonly<Record<string, HubRepo>>): Promise<HubServer> {
  const requests: HubRequest[] = [];
  const blobs = new Map<string, Buffer>();
  let dropAfter: number | undefined;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    requests.push({ method: req.method ?? "", url: url.pathname, range: req.headers.range, authorization: req.headers.authorization });
    const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(url.pathname);
    if (cdn) return serveBlob(req, res, blobs.get(cdn[1] as string));
    const route = /^\/([^/]+(?:\/[^/]+)?)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    const fail = (status: number, code: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "x-error-code": code, ...headers }).end();
    };
    if (!route) return fail(404, "NotFound");
    const [, repoId = "", rawRevision = "", rawFile = ""] = route;
    const repo = repos[repoId];
    if (!repo || (repo.token !== undefined && req.headers.authorization !== `Bearer ${repo.token}`)) return fail(401, "RepositoryNotFound");
    const revision = decodeURIComponent(rawRevision);
    const commit = repo.refs[revision] ?? (repo.commits[revision] ? revision : undefined);
    const files = commit === undefined ? undefined : repo.commits[commit];
    if (commit === undefined || files === undefined) return fail(404, "RevisionNotFound");
    const file = rawFile.split("/").map(decodeURIComponent).join("/");
    const content = files[file];
    if (content === undefined) return fail(404, "EntryNotFound", { "x-repo-commit": commit });
    if (isLfs(file)) {
      const digest = sha256(content);
      blobs.set(digest, content);
      res.writeHead(302, {
        "x-repo-commit": commit,
        "x-linked-etag": `"${digest}"`,
        "x-linked-size": String(content.length),
        etag: `"${gitBlobSha1(Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${digest}\n`))}"`,
        location: `http://127.0.0.1:${(server.address() as AddressInfo).port}/cdn/${digest}`,
      });
      return res.end();
    }
    res.writeHead(200, { "x-repo-commit": commit, etag: `"${gitBlobSha1(content)}"`, "content-length": String(content.length) });
    return res.end(req.method === "HEAD" ? undefined : content);
  });

  function serveBlob(req: http.IncomingMessage, res: http.ServerResponse, content: Buffer | undefined): void {
    if (content === undefined) return void res.writeHead(404).end();
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    const start = range ? Number(range[1]) : 0;
    if (start >= content.length && content.length > 0) return void res.writeHead(416).end();
    const body = content.subarray(start);
    res.writeHead(range ? 206 : 200, {
      "content-length": String(body.length),
      ...(range ? { "content-range": `bytes ${start}-${content.length - 1}/${content.length}` } : {}),
    });
    if (req.method === "HEAD") return void res.end();
    if (dropAfter !== undefined) {
      const cut = dropAfter;
      dropAfter = undefined;
      res.write(body.subarray(0, cut), () => res.destroy());
      return;
    }
    res.end(body);
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    dropNextDownloadAfter(bytes) {
      dropAfter = bytes;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
