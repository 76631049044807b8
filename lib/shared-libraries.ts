/**
 * Whether a shared object's libraries can be found, without loading it: its
 * dynamic section (DT_NEEDED, DT_RPATH, DT_RUNPATH) is read from the file and
 * each needed library is looked up as the dynamic linker would (RPATH,
 * LD_LIBRARY_PATH, RUNPATH, /etc/ld.so.cache, the default folders),
 * recursively. The loader asks this at `require` time, so a missing libtorch
 * is an AddonLoadError there while libtorch itself (about a second to load)
 * loads at the first call that needs it.
 */
import * as fs from "node:fs";
import * as path from "node:path";

/** What the dynamic linker reads from a shared object's dynamic section. */
export interface DynamicSection {
  readonly needed: readonly string[];
  readonly rpath: readonly string[];
  readonly runpath: readonly string[];
}

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const DT_NEEDED = 1n;
const DT_STRTAB = 5n;
const DT_STRSZ = 10n;
const DT_RPATH = 15n;
const DT_RUNPATH = 29n;

function readAt(fd: number, offset: number, length: number): Buffer {
  const buffer = Buffer.alloc(length);
  const read = fs.readSync(fd, buffer, 0, length, offset);
  if (read !== length) throw new Error(`truncated at byte ${offset + read} (wanted ${length} bytes at ${offset})`);
  return buffer;
}

/** Reads a 64-bit little-endian ELF file's dynamic section; throws naming what is wrong with the file. */
export function readDynamicSection(file: string): DynamicSection {
  const fd = fs.openSync(file, "r");
  try {
    const size = fs.fstatSync(fd).size;
    if (size < 64) throw new Error(`not an ELF file (${size} bytes)`);
    const header = readAt(fd, 0, 64);
    if (header.readUInt32BE(0) !== 0x7f454c46) throw new Error("not an ELF file");
    if (header[4] !== 2 || header[5] !== 1) throw new Error("not a 64-bit little-endian ELF file");
    const phoff = Number(header.readBigUInt64LE(0x20));
    const phentsize = header.readUInt16LE(0x36);
    const phnum = header.readUInt16LE(0x38);
    const programs = readAt(fd, phoff, phentsize * phnum);
    const loads: { vaddr: bigint; offset: bigint; size: bigint }[] = [];
    let dynamic: { offset: number; size: number } | undefined;
    for (let i = 0; i < phnum; i++) {
      const at = i * phentsize;
      const type = programs.readUInt32LE(at);
      const offset = programs.readBigUInt64LE(at + 8);
      const vaddr = programs.readBigUInt64LE(at + 16);
      const size = programs.readBigUInt64LE(at + 32);
      if (type === PT_LOAD) loads.push({ vaddr, offset, size });
      if (type === PT_DYNAMIC) dynamic = { offset: Number(offset), size: Number(size) };
    }
    if (!dynamic) throw new Error("no dynamic section (not a shared object)");
    const entries = readAt(fd, dynamic.offset, dynamic.size);
    const strings: { tag: bigint; value: bigint }[] = [];
    let strtab: bigint | undefined;
    let strsz = 0;
    for (let at = 0; at + 16 <= entries.length; at += 16) {
      const tag = entries.readBigInt64LE(at);
      const value = entries.readBigUInt64LE(at + 8);
      if (tag === 0n) break;
      if (tag === DT_STRTAB) strtab = value;
      else if (tag === DT_STRSZ) strsz = Number(value);
      else if (tag === DT_NEEDED || tag === DT_RPATH || tag === DT_RUNPATH) strings.push({ tag, value });
    }
    if (strtab === undefined) throw new Error("no dynamic string table");
    const address = strtab;
    const segment = loads.find((l) => address >= l.vaddr && address < l.vaddr + l.size);
    if (!segment) throw new Error("the dynamic string table lies outside every loaded segment");
    // Only the few strings needed: the table itself holds every exported symbol name (tens of MB for libtorch_cpu).
    const base = Number(address - segment.vaddr + segment.offset);
    const text = (offset: bigint): string => {
      const chunks: Buffer[] = [];
      for (let at = base + Number(offset); at < base + strsz; at += 256) {
        const chunk = readAt(fd, at, Math.min(256, base + strsz - at));
        const end = chunk.indexOf(0);
        chunks.push(end < 0 ? chunk : chunk.subarray(0, end));
        if (end >= 0) break;
      }
      return Buffer.concat(chunks).toString("utf8");
    };
    const of = (tag: bigint) => strings.filter((s) => s.tag === tag).map((s) => text(s.value));
    return { needed: of(DT_NEEDED), rpath: of(DT_RPATH).flatMap((p) => p.split(":")), runpath: of(DT_RUNPATH).flatMap((p) => p.split(":")) };
  } finally {
    fs.closeSync(fd);
  }
}

const DEFAULT_DIRS = ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"];

let ldCache: Map<string, string> | undefined;

/**
 * soname → path from /etc/ld.so.cache. Every library path in the cache is a
 * NUL-terminated absolute path whose file name is the soname ldconfig linked,
 * in both the old and the new cache format, so the paths are read as strings.
 */
function ldSoCache(): Map<string, string> {
  if (ldCache) return ldCache;
  ldCache = new Map();
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync("/etc/ld.so.cache");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return ldCache;  // no cache: the linker uses the default folders only
    throw error;
  }
  for (let start = 0; start < bytes.length; ) {
    const end = bytes.indexOf(0, start);
    const stop = end < 0 ? bytes.length : end;
    if (bytes[start] === 0x2f) {
      const file = bytes.toString("latin1", start, stop);
      if (!ldCache.has(path.basename(file))) ldCache.set(path.basename(file), file);
    }
    start = stop + 1;
  }
  return ldCache;
}

function expandOrigin(dir: string, origin: string): string {
  return dir.replace(/\$(ORIGIN|\{ORIGIN\})/g, origin);
}

/** Where the dynamic linker would find `soname` for `from` (an object with section `dynamic`), or undefined. */
function locate(soname: string, from: string, dynamic: DynamicSection, env: NodeJS.ProcessEnv): string | undefined {
  if (soname.includes("/")) return fs.existsSync(soname) ? soname : undefined;
  const origin = path.dirname(fs.realpathSync(from));
  const dirs = [
    ...(dynamic.runpath.length === 0 ? dynamic.rpath : []),
    ...(env.LD_LIBRARY_PATH ?? "").split(":").filter(Boolean),
    ...dynamic.runpath,
  ].map((d) => expandOrigin(d, origin));
  for (const dir of dirs) {
    const file = path.join(dir, soname);
    if (fs.existsSync(file)) return file;
  }
  const cached = ldSoCache().get(soname);
  if (cached && fs.existsSync(cached)) return cached;
  return DEFAULT_DIRS.map((d) => path.join(d, soname)).find((f) => fs.existsSync(f));
}

/**
 * The libraries `file` needs, directly or through the libraries it needs,
 * that the dynamic linker would not find ([] when all are there).
 * `preload`: files loaded before it (a torch folder's libraries); what they
 * bring is in the process by soname, as the linker sees it. Throws when
 * `file` itself is missing or not a 64-bit ELF shared object. `depth` 2: the
 * file's libraries and theirs (libtorch, and what libtorch needs: OpenBLAS,
 * oneDNN), a few milliseconds; the whole tree of Debian's libtorch is ~290
 * libraries, ~150 ms, and what lies deeper the linker still reports.
 */
export function missingLibraries(file: string, preload: readonly string[] = [], env: NodeJS.ProcessEnv = process.env, depth = 2): string[] {
  const missing = new Set<string>();
  const loaded = new Set<string>();  // sonames in the process once what was visited is loaded
  const seen = new Set<string>();
  const visit = (object: string, top: boolean, level: number): void => {
    let dynamic: DynamicSection;
    try {
      dynamic = readDynamicSection(object);
    } catch (error) {
      if (top) throw error;
      return;  // a dependency we cannot read (a linker script, another format): the dynamic linker will judge it
    }
    for (const soname of dynamic.needed) {
      if (loaded.has(soname)) continue;
      const found = locate(soname, object, dynamic, env);
      if (!found) {
        missing.add(soname);
        continue;
      }
      loaded.add(soname);
      if (!seen.has(found) && level < depth) {
        seen.add(found);
        visit(found, false, level + 1);
      }
    }
  };
  for (const lib of preload) {
    loaded.add(path.basename(lib));
    visit(lib, false, 1);
  }
  visit(file, true, 1);
  return [...missing];
}
