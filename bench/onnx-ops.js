// Counts the operator types in an .onnx file (ModelProto.graph.node[].op_type)
// with a minimal protobuf reader: the `onnx` package is not available, and this
// is all bench/text needs to show which fusions onnxruntime applied.
"use strict";
const fs = require("node:fs");

function* fields(buf, start, end) {
  let pos = start;
  const varint = () => {
    let value = 0;
    let scale = 1;
    for (;;) {
      const byte = buf[pos++];
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
    }
  };
  while (pos < end) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) yield { field, wire, value: varint() };
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const length = varint();
      yield { field, wire, start: pos, end: pos + length };
      pos += length;
    } else throw new Error(`onnx-ops: unsupported wire type ${wire} at byte ${pos}`);
  }
}

/** {op_type (domain-qualified unless ONNX's default): count} of the main graph. */
function countOps(file) {
  const buf = fs.readFileSync(file);
  const counts = {};
  for (const model of fields(buf, 0, buf.length)) {
    if (model.field !== 7 || model.wire !== 2) continue; // ModelProto.graph
    for (const graph of fields(buf, model.start, model.end)) {
      if (graph.field !== 1 || graph.wire !== 2) continue; // GraphProto.node
      let op = "";
      let domain = "";
      for (const f of fields(buf, graph.start, graph.end)) {
        if (f.wire !== 2) continue;
        if (f.field === 4) op = buf.toString("utf8", f.start, f.end); // NodeProto.op_type
        if (f.field === 7) domain = buf.toString("utf8", f.start, f.end); // NodeProto.domain
      }
      const name = domain && domain !== "ai.onnx" ? `${domain}:${op}` : op;
      counts[name] = (counts[name] ?? 0) + 1;
    }
  }
  return counts;
}

module.exports = { countOps };

if (require.main === module) console.log(countOps(process.argv[2]));
