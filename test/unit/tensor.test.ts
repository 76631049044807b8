import { DisposedError, Tensor } from "../../lib";
import { typeTag } from "../helpers/fixtures";
import { reportSkip } from "../helpers/skip";

describe("Tensor", () => {
  test("from(Float32Array) round-trips values, shape, dtype and device", () => {
    using t = Tensor.from(new Float32Array([1.5, -2, 3.25, 4, 5, 6]), [2, 3]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe("float32");
    expect(t.device).toBe("cpu");
    expect(t.requiresGrad).toBe(false);
    const out = t.data();
    expect(typeTag(out)).toBe("[object Float32Array]");
    expect(Array.from(out as Float32Array)).toEqual([1.5, -2, 3.25, 4, 5, 6]);
  });

  test.each([
    ["Float64Array", new Float64Array([1.25, 2]), "float64", "[object Float64Array]"],
    ["Int32Array", new Int32Array([-7, 9]), "int32", "[object Int32Array]"],
    ["BigInt64Array", new BigInt64Array([-(2n ** 40n), 3n]), "int64", "[object BigInt64Array]"],
    ["Uint8Array", new Uint8Array([0, 255]), "uint8", "[object Uint8Array]"],
  ] as const)("from(%s) keeps its dtype and values", (_name, data, dtype, tag) => {
    using t = Tensor.from(data, [2]);
    expect(t.dtype).toBe(dtype);
    const out = t.data();
    expect(typeTag(out)).toBe(tag);
    expect(Array.from(out as ArrayLike<number | bigint>)).toEqual(Array.from(data as ArrayLike<number | bigint>));
  });

  test("from converts to a requested dtype (int32 → int64, float32 → float16 → float32)", () => {
    using ids = Tensor.from(new Int32Array([101, 2054, 102]), [1, 3], { dtype: "int64" });
    expect(ids.dtype).toBe("int64");
    expect(Array.from(ids.data() as BigInt64Array)).toEqual([101n, 2054n, 102n]);
    using half = Tensor.from(new Float32Array([0.5, 1024, -3]), [3], { dtype: "float16" });
    expect(half.dtype).toBe("float16");
    // 0.5 = 0x3800, 1024 = 0x6400, -3 = 0xC200 in IEEE half precision
    expect(Array.from(half.data() as Uint16Array)).toEqual([0x3800, 0x6400, 0xc200]);
    expect(Array.from(half.toFloat32Array())).toEqual([0.5, 1024, -3]);
  });

  test("a Uint8Array with a float dtype is read as raw little-endian bytes (safetensors)", () => {
    const source = new Float32Array([3.5, -1]);
    using t = Tensor.from(new Uint8Array(source.buffer), [2], { dtype: "float32" });
    expect(Array.from(t.toFloat32Array())).toEqual([3.5, -1]);
  });

  test("from copies: changing the source array afterwards does not change the tensor", () => {
    const source = new Float32Array([1, 2]);
    using t = Tensor.from(source, [2]);
    source[0] = 99;
    expect(Array.from(t.toFloat32Array())).toEqual([1, 2]);
  });

  test("bfloat16 and bool tensors convert through to()", () => {
    using f = Tensor.from(new Float32Array([1, 0, -2]), [3]);
    using bf = f.to("bfloat16");
    expect(bf.dtype).toBe("bfloat16");
    expect(Array.from(bf.data() as Uint16Array)).toEqual([0x3f80, 0x0000, 0xc000]);
    using b = f.to("bool");
    expect(Array.from(b.data() as Uint8Array)).toEqual([1, 0, 1]);
  });

  test("element count not matching shape is a RangeError naming both", () => {
    expect(() => Tensor.from(new Float32Array(5), [2, 3])).toThrow(expect.objectContaining({ name: "RangeError", message: expect.stringMatching(/\[2, 3\] needs 6 elements of float32 but data holds 5/) }));
  });

  test("bad data, shape and dtype arguments are TypeErrors/RangeErrors naming the argument", () => {
    expect(() => Tensor.from([1, 2] as unknown as Float32Array, [2])).toThrow(expect.objectContaining({ name: "TypeError", message: expect.stringMatching(/expected a TypedArray for data but received array\(2\)/) }));
    expect(() => Tensor.from(new Float32Array(2), [2.5])).toThrow(expect.objectContaining({ name: "TypeError", message: expect.stringMatching(/shape/) }));
    expect(() => Tensor.from(new Float32Array(2), [2], { dtype: "float8" as never })).toThrow(expect.objectContaining({ name: "RangeError", message: expect.stringMatching(/unknown dtype "float8"/) }));
  });

  test("asking for CUDA without it is a DeviceError that says so", () => {
    if (require("../../lib").cuda.isAvailable()) {
      reportSkip("skipped: this machine has CUDA, the no-CUDA error cannot happen here");
      return;
    }
    expect(() => Tensor.from(new Float32Array(2), [2], { device: "cuda" })).toThrow(expect.objectContaining({ name: "DeviceError", code: "ERR_DEVICE", message: expect.stringMatching(/CUDA is not available/) }));
    expect(() => Tensor.from(new Float32Array(2), [2], { device: "gpu" as never })).toThrow(expect.objectContaining({ name: "RangeError", message: expect.stringMatching(/"gpu"/) }));
  });

  test("using a disposed tensor throws DisposedError; dispose is idempotent", () => {
    const t = Tensor.from(new Float32Array([1]), [1]);
    t.dispose();
    t.dispose();
    expect(t.isDisposed).toBe(true);
    expect(() => t.shape).toThrow(DisposedError);
    expect(() => t.toFloat32Array()).toThrow(expect.objectContaining({ code: "ERR_DISPOSED", message: expect.stringMatching(/toFloat32Array: the tensor was disposed/) }));
  });

  test("requiresGrad can be set on a float leaf and is reported", () => {
    using t = Tensor.from(new Float32Array([1, 2]), [2], { requiresGrad: true });
    expect(t.requiresGrad).toBe(true);
    t.requiresGrad = false;
    expect(t.requiresGrad).toBe(false);
    expect(t.grad).toBeNull();
  });
});

describe("typed arrays from another realm", () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const vm = require("node:vm") as typeof import("node:vm");

  test("a Float32Array made in another realm (a vm context, an addon result in jest) is float32, values exact", () => {
    const foreign = vm.runInNewContext("new Float32Array([1.5, -2.25, 3.125])") as Float32Array;
    expect(foreign instanceof Float32Array).toBe(false);  // the case instanceof misjudged (it fell back to float16)
    using t = Tensor.from(foreign, [3]);
    expect(t.dtype).toBe("float32");
    expect([...t.toFloat32Array()]).toEqual([1.5, -2.25, 3.125]);
  });

  test.each([["Int32Array", "int32"], ["Float64Array", "float64"], ["BigInt64Array", "int64"], ["Uint8Array", "uint8"]])("a foreign %s is %s", (kind, dtype) => {
    const foreign = vm.runInNewContext(`new ${kind}(2)`) as Int32Array;
    using t = Tensor.from(foreign, [2]);
    expect(t.dtype).toBe(dtype);
  });

  test("an array with no tensor dtype (Int16Array) is a TypeError naming it, not silently float16", () => {
    expect(() => Tensor.from(new Int16Array(2) as unknown as Float32Array, [2])).toThrow(/Tensor\.from: a Int16Array has no tensor dtype/);
  });
});
