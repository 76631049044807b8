"""PyTorch-eager side of bench/text.js: a line-delimited JSON server on stdin/stdout.

bench/text.js starts one of these per model shape and sends commands, so the
three implementations can be timed back to back in one run without reloading:
  {"cmd": "load", "config": "config.json", "weights": "model.safetensors"}
      model_type "clip": the text tower (bench/python/clip_text.py, input_ids -> text_embeds);
      otherwise BERT / XLM-R (bench/python/bert.py, input_ids + attention_mask -> pooler_output)
  {"cmd": "parity", "file": "parity.safetensors"}  the model's inputs, ours.* -> max |ours - python|
  {"cmd": "export", "path": "model.onnx"}          torch.onnx.export, opset 14, dynamic batch/sequence
  {"cmd": "time", "file": "inputs.safetensors", "iters": n, "warmup": w, "mode": "inference_mode"|"no_grad"}
  {"cmd": "quit"}
Every reply is one JSON line on stdout; logs go to stderr.
Usage: python3 bench/python/bench_text.py THREADS
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read when libgomp starts: before importing torch

import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bert import BertModel, read_safetensors  # noqa: E402
from clip_text import CLIPTextModelWithProjection  # noqa: E402

BertModel.input_names = ["input_ids", "attention_mask"]
BertModel.output_name = "pooler_output"


def openblas_core():
    """The kernel set OpenBLAS picked for this CPU (OPENBLAS_CORETYPE overrides its detection)."""
    import ctypes
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if "libopenblas" in line}
    for path in paths:
        lib = ctypes.CDLL(path)
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_corename().decode()
    return "(OpenBLAS not loaded)"


def main():
    threads = int(sys.argv[1])
    torch.set_num_threads(threads)
    model = None
    inputs = {}

    def load_inputs(path):
        if path not in inputs:
            inputs[path] = read_safetensors(path)
        return inputs[path]

    for line in sys.stdin:
        msg = json.loads(line)
        cmd = msg["cmd"]
        reply = {"ok": True}
        if cmd == "load":
            with open(msg["config"]) as f:
                config = json.load(f)
            start = time.perf_counter()
            family = CLIPTextModelWithProjection if config.get("model_type") == "clip" else BertModel
            model = family.from_safetensors(config, msg["weights"])
            reply.update(seconds=time.perf_counter() - start, torch=torch.__version__,
                         threads=torch.get_num_threads(), omp_wait_policy=os.environ.get("OMP_WAIT_POLICY"),
                         openblas_core=openblas_core())
        elif cmd == "parity":
            t = load_inputs(msg["file"])
            with torch.inference_mode():
                got = model(*(t[name] for name in model.input_names))
            diffs = {k[len("ours."):]: float((got - t[k]).abs().max()) for k in t if k.startswith("ours.")}
            reply.update(max_abs_diff=diffs, shape=list(got.shape))
        elif cmd == "export":
            ids = torch.randint(2, 100, (2, 16))
            example = (ids, torch.ones_like(ids))[:len(model.input_names)]
            axes = {name: {0: "batch", 1: "sequence"} for name in model.input_names}
            start = time.perf_counter()
            with torch.no_grad():
                torch.onnx.export(model, example, msg["path"], opset_version=14,
                                  input_names=model.input_names, output_names=[model.output_name],
                                  dynamic_axes={**axes, model.output_name: {0: "batch"}})
            reply.update(seconds=time.perf_counter() - start)
        elif cmd == "time":
            t = load_inputs(msg["file"])
            args = [t[name] for name in model.input_names]
            guard = torch.inference_mode if msg.get("mode", "inference_mode") == "inference_mode" else torch.no_grad
            samples = []
            with guard():
                for _ in range(msg.get("warmup", 0)):
                    model(*args)
                faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                for _ in range(msg["iters"]):
                    start = time.perf_counter()
                    model(*args)
                    samples.append(time.perf_counter() - start)
            # Minor page faults per call: fresh pages the allocator mapped (and the kernel zeroed) for it.
            faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / max(1, msg["iters"])
            reply.update(samples=samples, faults_per_call=faults)
        elif cmd == "quit":
            print(json.dumps(reply), flush=True)
            return
        else:
            reply = {"ok": False, "error": f"unknown command {cmd}"}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
