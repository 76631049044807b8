/**
 * The fault catalogue of issue 12: bad arguments of the public calls, corrupt
 * files of every kind the package reads, races of dispose with calls in
 * flight. Each case: a name, the expected outcome (an error class, optionally
 * `Class:CODE`; "ok" when the call must succeed; alternatives separated by
 * "|" for races whose winner is timing), and the body run in a child process
 * by test/helpers/fault-batch.ts.
 */
import type { FaultCase } from "../helpers/fault-batch";

export interface CatalogueCase extends FaultCase {
  readonly expected: string;
}

const MLP = `et.Module.create("mlp", { in_features: 4, hidden_features: 6, out_features: 3 })`;
const T = (shape = "[2, 4]", n = 8) => `et.Tensor.from(new Float32Array(${n}).fill(0.5), ${shape})`;
const BERT = `await et.TextToTextBertModel.fromPretrained(path.join(fx, "bert-tiny"))`;

const cases: CatalogueCase[] = [];
const add = (name: string, expected: string, body: string) => cases.push({ name, expected, body });

// Tensor.from: types, values, devices
for (const [what, data] of [["null", "null"], ["undefined", "undefined"], ["a number", "5"], ["a string", '"abc"'], ["a plain array", "[1, 2, 3, 4]"], ["a DataView", "new DataView(new ArrayBuffer(16))"], ["an ArrayBuffer", "new ArrayBuffer(16)"], ["an Int8Array", "new Int8Array(4)"], ["an Int16Array", "new Int16Array(4)"], ["a Uint32Array", "new Uint32Array(4)"], ["a Uint8ClampedArray", "new Uint8ClampedArray(4)"], ["a BigUint64Array", "new BigUint64Array(4)"], ["a SharedArrayBuffer view", "new Float32Array(new SharedArrayBuffer(16))"], ["a SharedArrayBuffer Int32Array", "new Int32Array(new SharedArrayBuffer(16))"]])
  add(`Tensor.from of ${what} is a TypeError`, "TypeError", `et.Tensor.from(${data}, [4]);`);
for (const [what, shape] of [["a string shape", '"4"'], ["a negative dimension", "[-4]"], ["a fractional dimension", "[1.5]"], ["a NaN dimension", "[NaN]"], ["a string dimension", '["4"]'], ["an Infinity dimension", "[Infinity]"], ["a null shape", "null"]])
  add(`Tensor.from with ${what} is a TypeError`, "TypeError", `et.Tensor.from(new Float32Array(4), ${shape});`);
add("Tensor.from with too few elements for the shape is a RangeError", "RangeError", `et.Tensor.from(new Float32Array(3), [2, 2]);`);
add("Tensor.from with too many elements for the shape is a RangeError", "RangeError", `et.Tensor.from(new Float32Array(5), [2, 2]);`);
add("Tensor.from with a huge shape is a RangeError", "RangeError", `et.Tensor.from(new Float32Array(4), [2 ** 40, 2 ** 12]);`);
add("Tensor.from with an unknown dtype is a RangeError", "RangeError", `et.Tensor.from(new Float32Array(4), [4], { dtype: "float128" });`);
add("Tensor.from of a Uint16Array as int32 is a TypeError", "TypeError", `et.Tensor.from(new Uint16Array(4), [4], { dtype: "int32" });`);
add("Tensor.from on device tpu is a RangeError or DeviceError", "RangeError|TypeError|DeviceError", `et.Tensor.from(new Float32Array(4), [4], { device: "tpu" });`);
add("Tensor.from on an absent CUDA device is a DeviceError", "DeviceError:ERR_DEVICE", `et.Tensor.from(new Float32Array(4), [4], { device: "cuda:97" });`);
add("Tensor.from on device cuda:-1 is refused", "RangeError|TypeError|DeviceError", `et.Tensor.from(new Float32Array(4), [4], { device: "cuda:-1" });`);
add("Tensor.from of a zero-size tensor works", "ok", `const t = et.Tensor.from(new Float32Array(0), [0, 4]); const s = t.shape; t.dispose(); return s;`);

// Disposed tensors
for (const [what, use] of [["toFloat32Array", "t.toFloat32Array()"], ["data", "t.data()"], ["shape", "t.shape"], ["dtype", "t.dtype"], ["to(float64)", 't.to("float64")'], ["numel", "t.numel"], ["requiresGrad = true", "(t.requiresGrad = true)"]])
  add(`a disposed tensor's ${what} is a DisposedError`, "DisposedError:ERR_DISPOSED", `const t = ${T()}; t.dispose(); ${use};`);
add("a disposed tensor's toString says so instead of throwing", "ok", `const t = ${T()}; t.dispose(); if (!/disposed/i.test(t.toString())) throw new Error(t.toString());`);
add("dispose() twice is a no-op", "ok", `const t = ${T()}; t.dispose(); t.dispose();`);
add("Tensor.to an unknown dtype is a RangeError", "RangeError|TypeError", `const t = ${T()}; try { t.to("float128"); } finally { t.dispose(); }`);
add("Tensor.to an absent CUDA device is a DeviceError", "DeviceError", `const t = ${T()}; try { t.to("cuda:5"); } finally { t.dispose(); }`);
add("Tensor.to(null) is a TypeError", "TypeError|RangeError", `const t = ${T()}; try { t.to(null); } finally { t.dispose(); }`);
add("requiresGrad on an int32 tensor is refused", "TypeError|TorchError|RangeError", `const t = et.Tensor.from(new Int32Array(4), [4]); try { t.requiresGrad = true; } finally { t.dispose(); }`);

// cat and backward
add("cat([]) is refused", "RangeError|TypeError", `await et.cat([]);`);
add("cat(null) is a TypeError", "TypeError", `await et.cat(null);`);
add("cat of tensors with other sizes is a ShapeError or TorchError", "ShapeError|TorchError", `const a = ${T()}, b = ${T("[1, 8]")}; try { await et.cat([a, b], 0); } finally { a.dispose(); b.dispose(); }`);
add("cat along dim NaN is refused", "RangeError|TypeError", `const a = ${T()}; try { await et.cat([a], NaN); } finally { a.dispose(); }`);
add("cat along dim 7 of a 2-d tensor is refused", "RangeError|ShapeError|TorchError", `const a = ${T()}; try { await et.cat([a], 7); } finally { a.dispose(); }`);
add("cat of a disposed tensor is a DisposedError", "DisposedError", `const a = ${T()}; a.dispose(); await et.cat([a]);`);
add("backward(null) is a TypeError", "TypeError", `await et.backward(null);`);
add("backward of a tensor without grad is a TorchError", "TorchError|RangeError|ShapeError", `const a = ${T("[4]", 4)}; try { await et.backward(a); } finally { a.dispose(); }`);

// Module.create and module calls
add("Module.create of an unknown architecture is refused", "RangeError|TypeError|UnsupportedError|TorchError", `${MLP.replace('"mlp"', '"no-such-arch"')};`);
add("Module.create(123) is a TypeError", "TypeError", `et.Module.create(123);`);
add("Module.create with options null is refused", "TypeError", `et.Module.create("mlp", null);`);
add("Module.create mlp with in_features -1 is refused", "RangeError|TorchError|TypeError", `et.Module.create("mlp", { in_features: -1, hidden_features: 6, out_features: 3 });`);
add("Module.create mlp with an object option is refused", "TypeError", `et.Module.create("mlp", { in_features: {}, hidden_features: 6, out_features: 3 });`);
add("Module.forward(null) is a TypeError", "TypeError", `const m = ${MLP}; try { await m.forward(null); } finally { m.dispose(); }`);
add("Module.forward({}) is refused", "TypeError|RangeError|ShapeError", `const m = ${MLP}; try { await m.forward({}); } finally { m.dispose(); }`);
add("Module.forward with a wrong-width input is a ShapeError or TorchError", "ShapeError|TorchError", `const m = ${MLP}, x = ${T("[2, 3]", 6)}; try { await m.forward([x]); } finally { m.dispose(); x.dispose(); }`);
add("Module.forward with a number input is a TypeError", "TypeError", `const m = ${MLP}; try { await m.forward([5]); } finally { m.dispose(); }`);
add("Module.forward with a disposed input is a DisposedError", "DisposedError", `const m = ${MLP}, x = ${T()}; x.dispose(); try { await m.forward([x]); } finally { m.dispose(); }`);
add("Module.forward on a disposed module is a DisposedError", "DisposedError", `const m = ${MLP}, x = ${T()}; m.dispose(); try { await m.forward([x]); } finally { x.dispose(); }`);
// Host-array inputs ({ data, shape }): through Module.forward, and straight to the addon (its own checks, no JS ones)
const HOST = (data: string, shape: string) => `{ data: ${data}, shape: ${shape} }`;
for (const [what, input, expected] of [
  ["an Int8Array", HOST("new Int8Array(8)", "[2, 4]"), "TypeError"],
  ["a Uint16Array", HOST("new Uint16Array(8)", "[2, 4]"), "TypeError"],
  ["a plain array as data", HOST("[1, 2, 3, 4, 5, 6, 7, 8]", "[2, 4]"), "TypeError"],
  ["a SharedArrayBuffer view", HOST("new Float32Array(new SharedArrayBuffer(32))", "[2, 4]"), "TypeError"],
  ["no shape", "{ data: new Float32Array(8) }", "TypeError"],
  ["a string shape", HOST("new Float32Array(8)", '"2,4"'), "TypeError"],
  ["a negative dimension", HOST("new Float32Array(8)", "[-2, -4]"), "TypeError"],
  ["a fractional dimension", HOST("new Float32Array(8)", "[2.5, 4]"), "TypeError"],
  ["a NaN dimension", HOST("new Float32Array(8)", "[NaN, 4]"), "TypeError"],
  ["an Infinity dimension", HOST("new Float32Array(8)", "[Infinity, 4]"), "TypeError"],
  ["too few elements", HOST("new Float32Array(6)", "[2, 4]"), "RangeError"],
  ["a huge shape", HOST("new Float32Array(8)", "[2 ** 40, 2 ** 40, 2 ** 40]"), "RangeError"],
  ["a shape whose product overflows int64 many times over", HOST("new Float32Array(8)", "[2 ** 50, 2 ** 50, 2 ** 50, 2 ** 50, 2 ** 50, 8]"), "RangeError"],
  ["a zero dimension beside huge ones", HOST("new Float32Array(8)", "[2 ** 50, 0, 2 ** 50]"), "RangeError"],
  ["a wrong width", HOST("new Float32Array(6)", "[2, 3]"), "ShapeError|TorchError"],
  ["float64 data for a float32 module", HOST("new Float64Array(8)", "[2, 4]"), "TorchError|ShapeError"],
  ["an object without data", "{ shape: [2, 4] }", "TypeError"],
]) {
  add(`Module.forward with a host array of ${what} is refused`, expected as string, `const m = ${MLP}; try { await m.forward([${input}]); } finally { m.dispose(); }`);
  // The addon's own errors are not mapped to classes there: Error with the code.
  const raw = (expected as string).replace(/ShapeError/, "Error:ERR_SHAPE").replace(/TorchError/, "Error:ERR_TORCH");
  add(`the addon's forward with a host array of ${what} is refused`, raw, `const m = ${MLP}; try { await m.native.forward([${input}], false, null); } finally { m.dispose(); }`);
}
add("Module.forward with a host array works and copies it as it is queued", "ok", `const m = ${MLP}; const data = new Float32Array(8).fill(0.5); const x = ${T()}; try { const p = m.forwardTensor([{ data, shape: [2, 4] }]); data.fill(7); const [a, b] = [await p, await m.forwardTensor([x])]; const same = a.toFloat32Array().every((v, i) => v === b.toFloat32Array()[i]); a.dispose(); b.dispose(); if (!same) throw new Error("the forward read the array after it was queued"); } finally { m.dispose(); x.dispose(); }`);
add("expectForward on a disposed module does nothing", "ok", `const m = ${MLP}; m.dispose(); m.expectForward();`);
add("namedParameters of a disposed module is a DisposedError", "DisposedError", `const m = ${MLP}; m.dispose(); m.namedParameters();`);
add("setRequiresGrad(123, true) is a TypeError", "TypeError", `const m = ${MLP}; try { m.setRequiresGrad(123, true); } finally { m.dispose(); }`);
add("setRequiresGrad('fc1', 'yes') is a TypeError", "TypeError", `const m = ${MLP}; try { m.setRequiresGrad("fc1", "yes"); } finally { m.dispose(); }`);
add("Module.to an absent CUDA device is a DeviceError", "DeviceError", `const m = ${MLP}; try { m.to("cuda:9"); } finally { m.dispose(); }`);
add("Module.to('tpu') is refused", "RangeError|TypeError|DeviceError", `const m = ${MLP}; try { m.to("tpu"); } finally { m.dispose(); }`);
add("Module.train on a disposed module is a DisposedError", "DisposedError", `const m = ${MLP}; m.dispose(); m.train(true);`);
add("loadStateDict of a missing file is a CheckpointError", "CheckpointError", `const m = ${MLP}; try { await m.loadStateDict(path.join(tmp, "none.safetensors")); } finally { m.dispose(); }`);
add("loadStateDict of a file that is not safetensors is a CheckpointError", "CheckpointError", `const m = ${MLP}; fs.writeFileSync(path.join(tmp, "x.safetensors"), "not safetensors at all"); try { await m.loadStateDict(path.join(tmp, "x.safetensors")); } finally { m.dispose(); }`);
add("loadStateDict of a tensor of another shape is a CheckpointError", "CheckpointError|ShapeError", `const m = ${MLP}, w = ${T("[2, 4]")}; try { await m.loadStateDict(new Map([["fc1.weight", w]])); } finally { m.dispose(); w.dispose(); }`);
add("loadStateDict(123) is a TypeError", "TypeError", `const m = ${MLP}; try { await m.loadStateDict(123); } finally { m.dispose(); }`);
add("saveStateDict into a path through a file is a CheckpointError naming the path", "CheckpointError:ERR_CHECKPOINT", `const m = ${MLP}; fs.writeFileSync(path.join(tmp, "f"), ""); try { await m.saveStateDict(path.join(tmp, "f", "w.safetensors")); } finally { m.dispose(); }`);
add("loadTorchScript of a missing file is a CheckpointError", "CheckpointError:ERR_CHECKPOINT", `await et.Module.loadTorchScript(path.join(tmp, "none.pt"));`);
add("loadTorchScript of config.json is a CheckpointError", "CheckpointError:ERR_CHECKPOINT", `await et.Module.loadTorchScript(path.join(fx, "bert-tiny", "config.json"));`);
add("loadTorchScript of a truncated TorchScript file is a CheckpointError", "CheckpointError:ERR_CHECKPOINT", `const f = path.join(tmp, "t.pt"); fs.writeFileSync(f, fs.readFileSync(path.join(fx, "bert-tiny", "traced_pooler.pt")).subarray(0, 2000)); await et.Module.loadTorchScript(f);`);
add("loadTorchScript(null) is a TypeError", "TypeError", `await et.Module.loadTorchScript(null);`);

// Optimizers
add("Optimizer.adamw(null) is a TypeError", "TypeError", `et.Optimizer.adamw(null, { lr: 0.1 });`);
for (const [what, lr] of [["NaN", "NaN"], ["negative", "-1"], ["a string", '"0.1"'], ["Infinity", "Infinity"]])
  add(`Optimizer.adamw with lr ${what} is refused`, "RangeError|TypeError", `const m = ${MLP}; try { et.Optimizer.adamw(m, { lr: ${lr} }); } finally { m.dispose(); }`);
add("Optimizer.sgd with momentum -1 is refused", "RangeError|TypeError", `const m = ${MLP}; try { et.Optimizer.sgd(m, { lr: 0.1, momentum: -1 }); } finally { m.dispose(); }`);
add("Optimizer.adamw on a disposed module is a DisposedError", "DisposedError", `const m = ${MLP}; m.dispose(); et.Optimizer.adamw(m, { lr: 0.1 });`);
add("setLearningRate(NaN) is a RangeError", "RangeError|TypeError", `const m = ${MLP}, o = et.Optimizer.adamw(m, { lr: 0.1 }); try { o.setLearningRate(NaN); } finally { o.dispose(); m.dispose(); }`);
add("setLearningRate for group 5 of 1 is a RangeError", "RangeError", `const m = ${MLP}, o = et.Optimizer.adamw(m, { lr: 0.1 }); try { o.setLearningRate(0.1, 5); } finally { o.dispose(); m.dispose(); }`);
add("clipGradNorm(-1) is a RangeError", "RangeError|TypeError", `const m = ${MLP}, o = et.Optimizer.adamw(m, { lr: 0.1 }); try { await o.clipGradNorm(-1); } finally { o.dispose(); m.dispose(); }`);
add("clipGradNorm(NaN) is a RangeError", "RangeError|TypeError", `const m = ${MLP}, o = et.Optimizer.adamw(m, { lr: 0.1 }); try { await o.clipGradNorm(NaN); } finally { o.dispose(); m.dispose(); }`);
add("step of a disposed optimizer is a DisposedError", "DisposedError", `const m = ${MLP}, o = et.Optimizer.adamw(m, { lr: 0.1 }); o.dispose(); try { await o.step(); } finally { m.dispose(); }`);
add("step after its module was disposed works on the parameters the optimizer holds", "ok", `const m = ${MLP}, o = et.Optimizer.adamw(m, { lr: 0.1 }); m.dispose(); try { await o.step(); } finally { o.dispose(); }`);
add("Optimizer.load of a missing file is a CheckpointError", "CheckpointError", `const m = ${MLP}, o = et.Optimizer.adamw(m, { lr: 0.1 }); try { await o.load(path.join(tmp, "none.safetensors")); } finally { o.dispose(); m.dispose(); }`);
add("Optimizer.load of a corrupt file is a CheckpointError", "CheckpointError", `const m = ${MLP}, o = et.Optimizer.adamw(m, { lr: 0.1 }); fs.writeFileSync(path.join(tmp, "o.safetensors"), Buffer.alloc(64, 7)); try { await o.load(path.join(tmp, "o.safetensors")); } finally { o.dispose(); m.dispose(); }`);

// fromPretrained: paths and options
add("fromPretrained of a missing folder is a CheckpointError or HubError", "CheckpointError|HubError", `await et.TextToTextBertModel.fromPretrained(path.join(tmp, "none"));`);
add("fromPretrained of a file is a CheckpointError", "CheckpointError|HubError", `await et.TextToTextBertModel.fromPretrained(path.join(fx, "bert-tiny", "config.json"));`);
add("fromPretrained of a path through a file is a CheckpointError", "CheckpointError|HubError", `await et.TextToTextBertModel.fromPretrained(path.join(fx, "bert-tiny", "config.json", "x"));`);
add("fromPretrained of a 5000-character path is a CheckpointError", "CheckpointError|HubError", `await et.TextToTextBertModel.fromPretrained(path.join(tmp, "x".repeat(5000)));`);
add("fromPretrained(123) is a TypeError", "TypeError", `await et.TextToTextBertModel.fromPretrained(123);`);
add("fromPretrained(null) is a TypeError", "TypeError", `await et.TextToTextBertModel.fromPretrained(null);`);
for (const [what, options] of [["maxLength NaN", "{ maxLength: NaN }"], ["maxLength -1", "{ maxLength: -1 }"], ["maxLength 1", "{ maxLength: 1 }"], ["maxLength 1e9", "{ maxLength: 1e9 }"], ["maxLength '32'", '{ maxLength: "32" }'], ["maxLength 2.5", "{ maxLength: 2.5 }"], ["batchSize 0", "{ batchSize: 0 }"], ["batchSize -3", "{ batchSize: -3 }"], ["batchSize NaN", "{ batchSize: NaN }"], ["padding 'right'", '{ padding: "right" }'], ["towers 'both'", '{ towers: "both" }'], ["device 'tpu'", '{ device: "tpu" }'], ["autocast 'int8'", '{ autocast: "int8" }']])
  add(`fromPretrained with ${what} is an argument error`, "RangeError|TypeError", `await et.TextToTextBertModel.fromPretrained(path.join(fx, "bert-tiny"), ${options});`);
add("fromPretrained on an absent CUDA device is a DeviceError", "DeviceError", `await et.TextToTextBertModel.fromPretrained(path.join(fx, "bert-tiny"), { device: "cuda:7" });`);

// Corrupt model folders
const corrupt = (what: string, expected: string, edit: string, model = "bert-tiny", Class = "TextToTextBertModel") =>
  add(`${model}: ${what}`, expected, `const d = copy(${JSON.stringify(model)}); const cfg = () => JSON.parse(fs.readFileSync(path.join(d, "config.json"), "utf8")); const put = (f, v) => fs.writeFileSync(path.join(d, f), typeof v === "string" || Buffer.isBuffer(v) ? v : JSON.stringify(v)); ${edit}; const m = await et.${Class}.fromPretrained(d); m.dispose();`);
for (const [model, Class] of [["bert-tiny", "TextToTextBertModel"], ["xlmr-tiny", "TextToTextE5Model"], ["clip-tiny", "TextToImageClipModel"]] as const) {
  corrupt("config.json that is not JSON is a CheckpointError", "CheckpointError:ERR_CHECKPOINT", `put("config.json", "{oops")`, model, Class);
  corrupt("config.json that is an array is a CheckpointError", "CheckpointError", `put("config.json", "[1,2]")`, model, Class);
  corrupt("an empty config.json is a CheckpointError", "CheckpointError", `put("config.json", "")`, model, Class);
  corrupt("a missing config.json is a CheckpointError", "CheckpointError", `fs.rmSync(path.join(d, "config.json"))`, model, Class);
  corrupt("a missing model.safetensors is a CheckpointError", "CheckpointError", `fs.rmSync(path.join(d, "model.safetensors"))`, model, Class);
  corrupt("a truncated model.safetensors is a CheckpointError", "CheckpointError", `const b = fs.readFileSync(path.join(d, "model.safetensors")); put("model.safetensors", b.subarray(0, b.length - 100))`, model, Class);
  corrupt("a model.safetensors of 4 bytes is a CheckpointError", "CheckpointError", `put("model.safetensors", Buffer.alloc(4))`, model, Class);
  corrupt("a model.safetensors whose header length is huge is a CheckpointError", "CheckpointError", `const b = fs.readFileSync(path.join(d, "model.safetensors")); b.writeBigUInt64LE(2n ** 60n, 0); put("model.safetensors", b)`, model, Class);
  corrupt("a model.safetensors whose header is not JSON is a CheckpointError", "CheckpointError", `const b = fs.readFileSync(path.join(d, "model.safetensors")); b.fill(0x7b, 8, 40); put("model.safetensors", b)`, model, Class);
  corrupt("a broken tokenizer.json is a TokenizerFileError", "TokenizerFileError:ERR_CHECKPOINT", `put("tokenizer.json", "{")`, model, Class);
  corrupt("a tokenizer.json that is a number is a TokenizerFileError", "TokenizerFileError", `put("tokenizer.json", "42")`, model, Class);
  corrupt("an unreadable tokenizer_config.json is a CheckpointError", "CheckpointError|TokenizerFileError", `put("tokenizer_config.json", "{]")`, model, Class);
  corrupt("pickled weights only are refused (CheckpointError)", "CheckpointError", `fs.renameSync(path.join(d, "model.safetensors"), path.join(d, "pytorch_model.bin"))`, model, Class);
}
corrupt("text_config.vocab_size below the tokenizer's ids is a CheckpointError", "CheckpointError:ERR_CHECKPOINT", `const c = cfg(); put("config.json", { ...c, text_config: { ...c.text_config, vocab_size: 50 } })`, "clip-tiny", "TextToImageClipModel");
corrupt('hidden_size "64" is a CheckpointError', "CheckpointError", `put("config.json", { ...cfg(), hidden_size: "64" })`);
corrupt("num_attention_heads 5 (not dividing hidden_size) is a ShapeError naming both", "ShapeError:ERR_SHAPE", `put("config.json", { ...cfg(), num_attention_heads: 5 })`);
corrupt("num_hidden_layers -1 is a CheckpointError", "CheckpointError", `put("config.json", { ...cfg(), num_hidden_layers: -1 })`);
corrupt("num_hidden_layers 1.5 is a CheckpointError", "CheckpointError", `put("config.json", { ...cfg(), num_hidden_layers: 1.5 })`);
corrupt("layer_norm_eps 'small' is a CheckpointError", "CheckpointError", `put("config.json", { ...cfg(), layer_norm_eps: "small" })`);
corrupt("hidden_act 7 is a CheckpointError", "CheckpointError", `put("config.json", { ...cfg(), hidden_act: 7 })`);
corrupt("vocab_size below the tokenizer's ids is a CheckpointError", "CheckpointError", `put("config.json", { ...cfg(), vocab_size: 100 })`);
corrupt("more layers in config than in the weights is a CheckpointError", "CheckpointError", `put("config.json", { ...cfg(), num_hidden_layers: 9 })`);
corrupt("a larger hidden_size than the weights is a CheckpointError", "CheckpointError", `put("config.json", { ...cfg(), hidden_size: 128, intermediate_size: 512 })`);
corrupt("an unknown model_type is refused", "CheckpointError|UnsupportedError|RangeError", `put("config.json", { ...cfg(), model_type: "gpt9" })`);
corrupt("a shard index pointing outside the folder is a CheckpointError", "CheckpointError", `fs.renameSync(path.join(d, "model.safetensors"), path.join(tmp, "outside.safetensors")); put("model.safetensors.index.json", { weight_map: { "embeddings.word_embeddings.weight": "../outside.safetensors" } })`);
corrupt("an absolute shard path is a CheckpointError", "CheckpointError", `fs.rmSync(path.join(d, "model.safetensors")); put("model.safetensors.index.json", { weight_map: { a: "/etc/hostname" } })`);
corrupt("a shard index naming a missing shard is a CheckpointError", "CheckpointError", `fs.rmSync(path.join(d, "model.safetensors")); put("model.safetensors.index.json", { weight_map: { a: "model-00001-of-00002.safetensors" } })`);
corrupt("a shard index that is not JSON is a CheckpointError", "CheckpointError", `fs.rmSync(path.join(d, "model.safetensors")); put("model.safetensors.index.json", "{{")`);
corrupt("a shard index without weight_map is a CheckpointError", "CheckpointError", `fs.rmSync(path.join(d, "model.safetensors")); put("model.safetensors.index.json", { metadata: {} })`);
corrupt("a shard index with a numeric shard name is a CheckpointError", "CheckpointError", `fs.rmSync(path.join(d, "model.safetensors")); put("model.safetensors.index.json", { weight_map: { a: 5 } })`);
corrupt("a config.json that is a folder is a CheckpointError", "CheckpointError", `fs.rmSync(path.join(d, "config.json")); fs.mkdirSync(path.join(d, "config.json"))`);

// Calls on a loaded model
const onBert = (what: string, expected: string, use: string) => add(`bert-tiny: ${what}`, expected, `const m = ${BERT}; try { ${use}; } finally { m.dispose(); }`);
onBert("forwardQuery(123) is a TypeError", "TypeError", `await m.forwardQuery(123)`);
onBert("forwardQuery(null) is a TypeError", "TypeError", `await m.forwardQuery(null)`);
onBert("forwardQuery(['a']) is a TypeError", "TypeError", `await m.forwardQuery(["a"])`);
onBert("forwardItems('a') is a TypeError", "TypeError", `await m.forwardItems("a")`);
onBert("forwardItems([1]) is a TypeError", "TypeError", `await m.forwardItems([1])`);
onBert("forwardItems([null]) is a TypeError", "TypeError", `await m.forwardItems([null])`);
onBert("forwardItems(null) is a TypeError", "TypeError", `await m.forwardItems(null)`);
onBert("forwardItems([]) returns an empty batch or a RangeError", "ok|RangeError", `const v = await m.forwardItems([]); const s = v.shape; v.dispose(); return s`);
onBert("a 100,000-character query is truncated, not an error", "ok", `const v = await m.forwardQuery("word ".repeat(20000)); const s = v.shape; v.dispose(); return s`);
onBert("a query of lone surrogates works or is a TypeError", "ok|TypeError", `const v = await m.forwardQuery("\\ud800\\udfff\\ud800"); v.dispose()`);
for (const [what, n] of [["-1", "-1"], ["NaN", "NaN"], ["1.5", "1.5"], ["100", "100"], ["'1'", '"1"'], ["Infinity", "Infinity"]]) {
  onBert(`fixQueryModel(${what}) is an argument error`, "RangeError|TypeError", `m.fixQueryModel(${n})`);
  onBert(`fixItemModel(${what}) is an argument error`, "RangeError|TypeError", `m.fixItemModel(${n})`);
}
onBert("getQueryModelInputs('tpu') is refused", "RangeError|TypeError|DeviceError", `await m.getQueryModelInputs("tpu")`);
onBert("getQueryModelInputs on an absent CUDA device is a DeviceError", "DeviceError", `await m.getQueryModelInputs("cuda:6")`);
add("bert-tiny: forwardQuery after dispose is a DisposedError", "DisposedError", `const m = ${BERT}; m.dispose(); await m.forwardQuery("a");`);
add("bert-tiny: forwardItems after dispose is a DisposedError", "DisposedError", `const m = ${BERT}; m.dispose(); await m.forwardItems(["a"]);`);
add("bert-tiny: fixQueryModel after dispose is a DisposedError", "DisposedError", `const m = ${BERT}; m.dispose(); m.fixQueryModel(1);`);
add("bert-tiny: dispose twice is a no-op", "ok", `const m = ${BERT}; m.dispose(); m.dispose();`);
add("bert-tiny: savePretrained(123) is a TypeError", "TypeError", `const m = ${BERT}; try { await m.savePretrained(123); } finally { m.dispose(); }`);

// Races of dispose with calls in flight: the process survives; the call settles with a result or a typed error.
add("race: tensor.dispose() while a forward reads it", "ok|DisposedError|BusyError", `const m = ${MLP}, x = ${T()}; const p = m.forwardTensor([x]); x.dispose(); try { const y = await p; y.dispose(); } finally { m.dispose(); }`);
add("race: module.dispose() while its forward runs", "ok|DisposedError|BusyError", `const m = ${MLP}, x = ${T()}; const p = m.forwardTensor([x]); try { m.dispose(); } finally { const y = await p; y.dispose(); x.dispose(); }`);
add("race: bert dispose() while forwardItems runs", "ok|DisposedError|BusyError", `const m = ${BERT}; const p = m.forwardItems(["a", "b", "c"]); try { m.dispose(); } finally { const v = await p; v.dispose(); }`);
add("race: 20 forwards then dispose: every forward settles", "ok|DisposedError|BusyError", `const m = ${MLP}, x = ${T()}; const ps = Array.from({ length: 20 }, () => m.forwardTensor([x])); let e; try { m.dispose(); } catch (err) { e = err; } const r = await Promise.allSettled(ps); for (const s of r) if (s.status === "fulfilled") s.value.dispose(); x.dispose(); if (!m.isDisposed) m.dispose(); if (e) throw e;`);
add("race: loadStateDict while a forward runs", "ok|BusyError", `const m = ${MLP}, x = ${T()}; const sd = m.stateDict(); const p = m.forwardTensor([x]); try { await m.loadStateDict(sd); } finally { (await p).dispose(); x.dispose(); for (const t of sd.values()) t.dispose(); m.dispose(); }`);
add("race: to('float64') while a forward runs", "ok|BusyError", `const m = ${MLP}, x = ${T()}; const p = m.forwardTensor([x]); try { m.to("float64"); } finally { (await p).dispose(); x.dispose(); m.dispose(); }`);
add("race: optimizer.dispose() while its step runs", "ok|DisposedError|BusyError", `const m = ${MLP}, o = et.Optimizer.adamw(m, { lr: 0.1 }); const p = o.step(); try { o.dispose(); } finally { await p; m.dispose(); }`);
add("race: dispose() of a cat input while cat runs", "ok|DisposedError|BusyError", `const a = ${T()}, b = ${T()}; const p = et.cat([a, b]); a.dispose(); b.dispose(); (await p).dispose();`);

// Training checkpoints
const ckpt = (what: string, expected: string, edit: string) =>
  add(`checkpoint: ${what}`, expected, `const m = ${MLP}; const state = { version: 1, globalStep: 1, epoch: 0, batchInEpoch: 1, seed: 0, baseLearningRates: [[0.1]], earlyStopping: null, stopped: false, config: { batchSize: 1, accumulateGradBatches: 1, trainSize: 10 } }; const dir = await et.writeCheckpoint(path.join(tmp, "c"), { modules: new Map([["query", m]]), optimizers: [], state }); m.dispose(); const root = path.join(tmp, "c"); ${edit}; await et.readCheckpoint(root);`);
ckpt("an intact checkpoint reads", "ok", ``);
ckpt("latest.json that is not JSON is a CheckpointError", "CheckpointError:ERR_CHECKPOINT", `fs.writeFileSync(path.join(root, "latest.json"), "{x")`);
ckpt("latest.json naming no folder is a CheckpointError", "CheckpointError", `fs.writeFileSync(path.join(root, "latest.json"), "{}")`);
ckpt("latest.json naming ../x is a CheckpointError", "CheckpointError", `fs.writeFileSync(path.join(root, "latest.json"), JSON.stringify({ checkpoint: "../x" }))`);
ckpt("latest.json naming a missing step is a CheckpointError", "CheckpointError", `fs.writeFileSync(path.join(root, "latest.json"), JSON.stringify({ checkpoint: "step-00000009" }))`);
ckpt("trainer.json that is not JSON is a CheckpointError", "CheckpointError", `fs.writeFileSync(path.join(dir, "trainer.json"), "nope")`);
ckpt("trainer.json of version 2 is a CheckpointError", "CheckpointError", `const s = JSON.parse(fs.readFileSync(path.join(dir, "trainer.json"))); fs.writeFileSync(path.join(dir, "trainer.json"), JSON.stringify({ ...s, version: 2 }))`);
ckpt("a missing weights file is a CheckpointError", "CheckpointError", `fs.rmSync(path.join(dir, "query.safetensors"))`);
ckpt("a truncated weights file is a CheckpointError", "CheckpointError", `fs.truncateSync(path.join(dir, "query.safetensors"), 10)`);
ckpt("a weights file changed in place is a CheckpointError naming it", "CheckpointError", `const b = fs.readFileSync(path.join(dir, "query.safetensors")); b[b.length - 1] ^= 1; fs.writeFileSync(path.join(dir, "query.safetensors"), b)`);
ckpt("a checkpoint root that is a file is a CheckpointError", "CheckpointError", `fs.rmSync(root, { recursive: true }); fs.writeFileSync(root, "")`);
add("checkpoint: readCheckpoint of a 5000-character path is a CheckpointError", "CheckpointError", `await et.readCheckpoint(path.join(tmp, "y".repeat(5000)));`);
add("checkpoint: writeCheckpoint under a file is a CheckpointError", "CheckpointError", `const m = ${MLP}; fs.writeFileSync(path.join(tmp, "f"), ""); try { await et.writeCheckpoint(path.join(tmp, "f", "c"), { modules: new Map([["query", m]]), optimizers: [], state: { version: 1, globalStep: 1, epoch: 0, batchInEpoch: 0, seed: 0, baseLearningRates: [], earlyStopping: null, stopped: false, config: { batchSize: 1, accumulateGradBatches: 1, trainSize: 1 } } }); } finally { m.dispose(); }`);

// Triton export
const info = (o: string) => `new et.ModelStorageInfo(${o})`;
add("ModelStorageInfo without a repository defaults to ./models", "ok", `${info('{ modelName: "m", version: 1 }')};`);
for (const [what, o] of [["an empty repository", '{ repository: "", modelName: "m", version: 1 }'], ["a numeric model name", "{ repository: tmp, modelName: 5, version: 1 }"]] as const)
  add(`ModelStorageInfo with ${what} is a TypeError`, "TypeError", `${info(o)};`);
for (const [what, o] of [["model name a/b", '{ repository: tmp, modelName: "a/b", version: 1 }'], ["model name ..", '{ repository: tmp, modelName: "..", version: 1 }'], ["model name .hidden", '{ repository: tmp, modelName: ".hidden", version: 1 }'], ["version 0", '{ repository: tmp, modelName: "m", version: 0 }'], ["version -1", '{ repository: tmp, modelName: "m", version: -1 }'], ["version NaN", '{ repository: tmp, modelName: "m", version: NaN }'], ["version 1.5", '{ repository: tmp, modelName: "m", version: 1.5 }'], ["version '1'", '{ repository: tmp, modelName: "m", version: "1" }'], ["version 2**60", '{ repository: tmp, modelName: "m", version: 2 ** 60 }']] as const)
  add(`ModelStorageInfo with ${what} is an argument error`, "RangeError|TypeError", `${info(o)};`);
add("exportToTriton(null) is a TypeError", "TypeError", `await et.exportToTriton(null, { repository: tmp, name: "m" });`);
add("exportToTriton(model, null) is a TypeError", "TypeError", `const m = ${BERT}; try { await et.exportToTriton(m, null); } finally { m.dispose(); }`);
add("exportToTriton with version 0 is a RangeError", "RangeError", `const m = ${BERT}; try { await et.exportToTriton(m, { repository: tmp, name: "m", version: 0 }); } finally { m.dispose(); }`);
add("exportToTriton into a repository under a file is a RepositoryError", "RepositoryError:ERR_REPOSITORY", `const m = ${BERT}; fs.writeFileSync(path.join(tmp, "f"), ""); try { await et.exportToTriton(m, { repository: path.join(tmp, "f", "r"), name: "m" }); } finally { m.dispose(); }`);
add("exportToTriton of a deployed version is a DeployedVersionError", "DeployedVersionError:ERR_DEPLOYED", `const m = ${BERT}; try { await et.exportToTriton(m, { repository: tmp, name: "m" }); await et.exportToTriton(m, { repository: tmp, name: "m" }); } finally { m.dispose(); }`);
add("saveModel with namedInputs 'yes' is a TypeError", "TypeError", `const m = ${MLP}, x = ${T()}; try { await new et.JitTraceTritonModelStorageManager(${info('{ repository: tmp, modelName: "m", version: 1 }')}).saveModel(m, { input: x }, "yes"); } finally { m.dispose(); x.dispose(); }`);
add("saveModel of a non-module is a TypeError", "TypeError", `await new et.JitTraceTritonModelStorageManager(${info('{ repository: tmp, modelName: "m", version: 1 }')}).saveModel({}, {}, false);`);
add("saveModel with a disposed example input is a DisposedError", "DisposedError", `const m = ${MLP}, x = ${T()}; x.dispose(); try { await new et.JitTraceTritonModelStorageManager(${info('{ repository: tmp, modelName: "m", version: 1 }')}).saveModel(m, { input: x }, false); } finally { m.dispose(); }`);
add("saveModel of a disposed module is a DisposedError", "DisposedError", `const m = ${MLP}, x = ${T()}; m.dispose(); try { await new et.JitTraceTritonModelStorageManager(${info('{ repository: tmp, modelName: "m", version: 1 }')}).saveModel(m, { input: x }, false); } finally { x.dispose(); }`);

// safetensors files
add("readSafetensors of a missing file is a CheckpointError", "CheckpointError", `await et.readSafetensors(path.join(tmp, "none.safetensors"));`);
add("readSafetensors of a folder is a CheckpointError", "CheckpointError", `await et.readSafetensors(tmp);`);
add("readSafetensors with an unknown dtype is a CheckpointError or UnsupportedError", "CheckpointError|UnsupportedError", `const h = Buffer.from(JSON.stringify({ w: { dtype: "Q7", shape: [1], data_offsets: [0, 4] } })); const l = Buffer.alloc(8); l.writeBigUInt64LE(BigInt(h.length)); fs.writeFileSync(path.join(tmp, "a.safetensors"), Buffer.concat([l, h, Buffer.alloc(4)])); const f = await et.readSafetensors(path.join(tmp, "a.safetensors")); for (const e of f.tensors?.values?.() ?? []) void e;`);
add("readSafetensors with offsets past the end is a CheckpointError", "CheckpointError", `const h = Buffer.from(JSON.stringify({ w: { dtype: "F32", shape: [4], data_offsets: [0, 16] } })); const l = Buffer.alloc(8); l.writeBigUInt64LE(BigInt(h.length)); fs.writeFileSync(path.join(tmp, "a.safetensors"), Buffer.concat([l, h, Buffer.alloc(4)])); await et.readSafetensors(path.join(tmp, "a.safetensors"));`);
add("readSafetensors with a shape disagreeing with the offsets is a CheckpointError", "CheckpointError", `const h = Buffer.from(JSON.stringify({ w: { dtype: "F32", shape: [3], data_offsets: [0, 16] } })); const l = Buffer.alloc(8); l.writeBigUInt64LE(BigInt(h.length)); fs.writeFileSync(path.join(tmp, "a.safetensors"), Buffer.concat([l, h, Buffer.alloc(16)])); await et.readSafetensors(path.join(tmp, "a.safetensors"));`);
add("readSafetensors(5) is a TypeError", "TypeError", `await et.readSafetensors(5);`);
add("writeSafetensors(null, ...) is a TypeError", "TypeError", `await et.writeSafetensors(null, new Map());`);
add("writeSafetensors of a non-map is a TypeError", "TypeError", `await et.writeSafetensors(path.join(tmp, "w.safetensors"), 5);`);

// Tokenizer
add("TextTokenizer.fromPretrained of a missing folder is a TokenizerFileError", "TokenizerFileError:ERR_CHECKPOINT", `await et.TextTokenizer.fromPretrained(path.join(tmp, "none"));`);
add("encodeBatch of numbers is a TypeError", "TypeError", `const t = await et.TextTokenizer.fromPretrained(path.join(fx, "bert-tiny")); t.encodeBatch([1, 2]);`);
add("encodeBatch with maxLength -1 is a RangeError", "RangeError", `const t = await et.TextTokenizer.fromPretrained(path.join(fx, "bert-tiny")); t.encodeBatch(["a"], { maxLength: -1 });`);

export const CATALOGUE: readonly CatalogueCase[] = cases;
