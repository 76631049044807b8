import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { CheckpointError, Module, readSafetensors, Tensor, UnsupportedError, writeSafetensors } from "../../lib";
import { readSafetensorsTensors } from "../../lib/hub/safetensors";
import { fixturePath, readReferenceTensor } from "../helpers/fixtures";

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "et-safetensors-"));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** An aligned copy (Buffer views share a pool, so .buffer is not theirs alone). */
function copyBytes(bytes: Uint8Array | undefined): ArrayBuffer {
  if (!bytes) throw new Error("tensor missing");
  return new Uint8Array(bytes).buffer;
}

/** A safetensors file built by hand from a header object and raw data. */
function handMade(header: unknown, data: Uint8Array, lengthOverride?: bigint): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(lengthOverride ?? BigInt(json.byteLength));
  return Buffer.concat([length, json, data]);
}

describe("safetensors", () => {
  test("reads the fixture checkpoint: every tensor of bert-tiny with its dtype and shape", async () => {
    const file = await readSafetensors(fixturePath("bert-tiny", "model.safetensors"));
    const emb = file.tensors.get("embeddings.word_embeddings.weight");
    expect(emb?.dtype).toBe("float32");
    expect(emb?.shape).toEqual([1500, 64]);
    expect(file.tensors.size).toBeGreaterThan(30);
  });

  test("write then read round-trips names, dtypes, shapes and bytes (float32, float16, int64, bfloat16)", async () => {
    const tensors = {
      a: Tensor.from(new Float32Array([1, -2.5, 3]), [3]),
      b: Tensor.from(new Float32Array([0.5, 2]), [2, 1], { dtype: "float16" }),
      c: Tensor.from(new BigInt64Array([7n, -9n]), [2]),
      d: Tensor.from(new Float32Array([1, -2]), [2], { dtype: "bfloat16" }),
    };
    const file = path.join(dir, "roundtrip.safetensors");
    await writeSafetensors(file, tensors, { format: "pt" });
    const back = await readSafetensors(file);
    expect(back.metadata).toEqual({ format: "pt" });
    expect([...back.tensors.keys()]).toEqual(["a", "b", "c", "d"]);
    expect(back.tensors.get("b")?.dtype).toBe("float16");
    expect(back.tensors.get("b")?.shape).toEqual([2, 1]);
    expect(back.tensors.get("d")?.dtype).toBe("bfloat16");
    expect(Array.from(new Float32Array(copyBytes(back.tensors.get("a")?.bytes)))).toEqual([1, -2.5, 3]);
    expect(Array.from(new BigInt64Array(copyBytes(back.tensors.get("c")?.bytes)))).toEqual([7n, -9n]);
    for (const t of Object.values(tensors)) t.dispose();
  });

  test("a file Debian's PyTorch reads: header is valid JSON and data is 8-byte aligned", async () => {
    const file = path.join(dir, "aligned.safetensors");
    using t = Tensor.from(new Float32Array([1, 2, 3]), [3]);
    await writeSafetensors(file, { x: t });
    const bytes = fs.readFileSync(file);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    expect(headerLength % 8).toBe(0);
    expect(JSON.parse(bytes.subarray(8, 8 + headerLength).toString())).toEqual({ x: { dtype: "F32", shape: [3], data_offsets: [0, 12] } });
  });

  test("a truncated file is a CheckpointError naming the file and the tensor", async () => {
    const full = fs.readFileSync(fixturePath("bert-tiny", "model.safetensors"));
    const file = path.join(dir, "truncated.safetensors");
    fs.writeFileSync(file, full.subarray(0, full.byteLength - 1000));
    await expect(readSafetensors(file)).rejects.toThrow(CheckpointError);
    await expect(readSafetensors(file)).rejects.toThrow(/truncated\.safetensors: tensor ".*": data_offsets end \d+ lies past the data/);
  });

  test("a header length longer than the file, bad JSON, and lying offsets are CheckpointErrors", async () => {
    const cases: [string, Buffer, RegExp][] = [
      ["tiny", Buffer.from([1, 2, 3]), /truncated: 3 bytes/],
      ["long-header", handMade({}, new Uint8Array(0), 1000n), /header length 1000 exceeds the file/],
      ["bad-json", Buffer.concat([Buffer.from([5, 0, 0, 0, 0, 0, 0, 0]), Buffer.from("{oops")]), /header is not valid JSON/],
      ["wrong-size", handMade({ x: { dtype: "F32", shape: [4], data_offsets: [0, 8] } }, new Uint8Array(8)), /tensor "x": data_offsets \[0, 8\] hold 8 bytes but float32 \[4\] needs 16/],
      ["bad-shape", handMade({ x: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4)), /tensor "x": shape \[-1\]/],
    ];
    for (const [name, bytes, message] of cases) {
      const file = path.join(dir, `${name}.safetensors`);
      fs.writeFileSync(file, bytes);
      await expect(readSafetensors(file)).rejects.toThrow(message);
    }
  });

  test("an unsupported dtype is an UnsupportedError naming the tensor", async () => {
    const file = path.join(dir, "i8.safetensors");
    fs.writeFileSync(file, handMade({ q: { dtype: "I8", shape: [2], data_offsets: [0, 2] } }, new Uint8Array(2)));
    await expect(readSafetensors(file)).rejects.toThrow(UnsupportedError);
    await expect(readSafetensors(file)).rejects.toThrow(/tensor "q" has dtype I8/);
  });

  test("a missing file is a CheckpointError with its path", async () => {
    await expect(readSafetensors(path.join(dir, "nope.safetensors"))).rejects.toThrow(/nope\.safetensors: cannot read/);
  });
});

describe("Module state dicts", () => {
  test("saveStateDict then loadStateDict into a fresh module reproduces its outputs exactly", async () => {
    using a = Module.create("mlp");
    using b = Module.create("mlp");
    const file = path.join(dir, "mlp.safetensors");
    await a.saveStateDict(file);
    using x = Tensor.from(new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]), [1, 8]);
    using before = await b.forwardTensor([x]);
    using ya = await a.forwardTensor([x]);
    expect(Array.from(before.toFloat32Array())).not.toEqual(Array.from(ya.toFloat32Array()));  // random init differs
    await b.loadStateDict(file);
    using yb = await b.forwardTensor([x]);
    expect(Array.from(yb.toFloat32Array())).toEqual(Array.from(ya.toFloat32Array()));
  });

  test("a shape mismatch names the tensor and both shapes, and leaves the module unchanged", async () => {
    using small = Module.create("mlp", { hidden_features: 8 });
    using big = Module.create("mlp", { hidden_features: 16 });
    const file = path.join(dir, "small.safetensors");
    await small.saveStateDict(file);
    const before = big.stateDict().get("fc2.bias")?.toFloat32Array();
    await expect(big.loadStateDict(file)).rejects.toThrow(CheckpointError);
    await expect(big.loadStateDict(file)).rejects.toThrow(/fc1\.weight: module \[16, 8\], checkpoint \[8, 8\]/);
    expect(big.stateDict().get("fc2.bias")?.toFloat32Array()).toEqual(before);
  });

  test("strict loading lists missing and unexpected keys by name", async () => {
    using m = Module.create("mlp");
    const ref = readReferenceTensor("bert-tiny", "fixed.cpu.pooler_output");
    using t = Tensor.from(ref.data, ref.shape);
    await expect(m.loadStateDict(new Map([["pooler", t]]))).rejects.toThrow(/missing 4: fc1\.weight, fc1\.bias, fc2\.weight, fc2\.bias; unexpected 1: pooler/);
  });
});

describe("files larger than fs.readFile's 2 GiB", () => {
  const ROWS = 262_144;  // float32 [ROWS, 1024]: 1 GiB a tensor
  const BYTES_C = 1_000_000_000;

  /** Writes a 3.15 GB file: a[i][*] = i, b[i][*] = -i (float32), c[j] = j % 251 (uint8). */
  async function writeBigFile(file: string): Promise<void> {
    const sizeA = ROWS * 1024 * 4;
    const header = JSON.stringify({
      a: { dtype: "F32", shape: [ROWS, 1024], data_offsets: [0, sizeA] },
      b: { dtype: "F32", shape: [ROWS, 1024], data_offsets: [sizeA, 2 * sizeA] },
      c: { dtype: "U8", shape: [BYTES_C], data_offsets: [2 * sizeA, 2 * sizeA + BYTES_C] },
    });
    const handle = await fs.promises.open(file, "w");
    try {
      const length = Buffer.alloc(8);
      length.writeBigUInt64LE(BigInt(Buffer.byteLength(header)));
      await handle.write(length);
      await handle.write(header);
      const rowsPerChunk = 16_384;
      const chunk = new Float32Array(rowsPerChunk * 1024);
      for (const sign of [1, -1]) {
        for (let first = 0; first < ROWS; first += rowsPerChunk) {
          for (let r = 0; r < rowsPerChunk; r++) chunk.fill(sign * (first + r), r * 1024, (r + 1) * 1024);
          await handle.write(new Uint8Array(chunk.buffer));
        }
      }
      const pattern = new Uint8Array(251 * 400_000);  // a multiple of 251: the pattern continues across chunks
      for (let j = 0; j < pattern.length; j++) pattern[j] = j % 251;
      for (let done = 0; done < BYTES_C; done += pattern.length) await handle.write(pattern, 0, Math.min(pattern.length, BYTES_C - done));
    } finally {
      await handle.close();
    }
  }

  test("a 3 GB safetensors file loads, one tensor range at a time, with every sampled value in place", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "et-big-"));
    const file = path.join(dir, "model.safetensors");
    try {
      await writeBigFile(file);
      expect(fs.statSync(file).size).toBeGreaterThan(3e9);
      const { tensors } = await readSafetensorsTensors(file);
      try {
        expect([...tensors.keys()]).toEqual(["a", "b", "c"]);
        expect(tensors.get("a")?.shape).toEqual([ROWS, 1024]);
        expect(tensors.get("c")?.shape).toEqual([BYTES_C]);
        const a = tensors.get("a")?.toFloat32Array() ?? new Float32Array();
        const b = tensors.get("b")?.toFloat32Array() ?? new Float32Array();
        for (const row of [0, 1, 12_345, ROWS - 1]) {
          expect([a[row * 1024], a[row * 1024 + 1023]]).toEqual([row, row]);
          expect([b[row * 1024], b[row * 1024 + 1023]]).toEqual([-row, -row]);
        }
        const c = tensors.get("c")?.data() as Uint8Array;
        for (const j of [0, 250, 251, 123_456_789, BYTES_C - 1]) expect(c[j]).toBe(j % 251);
      } finally {
        for (const t of tensors.values()) t.dispose();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);

  test("a file cut short on disk is a CheckpointError naming the file and where it ended", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "et-cut-"));
    const file = path.join(dir, "cut.safetensors");
    try {
      const header = JSON.stringify({ w: { dtype: "F32", shape: [4], data_offsets: [0, 16] } });
      const length = Buffer.alloc(8);
      length.writeBigUInt64LE(BigInt(header.length));
      fs.writeFileSync(file, Buffer.concat([length, Buffer.from(header), Buffer.alloc(10)]));
      await expect(readSafetensors(file)).rejects.toThrow(CheckpointError);
      await expect(readSafetensors(file)).rejects.toThrow(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: tensor "w": data_offsets end 16 lies past the data \\(10 bytes\\)`));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
