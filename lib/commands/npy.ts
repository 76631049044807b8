/**
 * NumPy's .npy format, version 1.0, for a float32 matrix: the magic
 * "\x93NUMPY", version 1 0, a little-endian u16 header length, a Python dict
 * literal header (descr '<f4', fortran_order False, shape) padded with spaces
 * to a multiple of 64 bytes ending in a newline, then the row-major data.
 */
import { writeFileAtomic } from "../hub/atomic";

/** The bytes of a float32 [rows, columns] .npy file. */
export function npyBytes(data: Float32Array, rows: number, columns: number): Uint8Array[] {
  if (rows * columns !== data.length) throw new RangeError(`npyBytes: ${data.length} values are not [${rows}, ${columns}]`);
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${columns}), }`;
  const unpadded = 10 + header.length + 1;
  header += " ".repeat((64 - (unpadded % 64)) % 64) + "\n";
  const preamble = new Uint8Array(10);
  preamble.set([0x93, ...Buffer.from("NUMPY"), 1, 0]);
  new DataView(preamble.buffer).setUint16(8, header.length, true);
  const body = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);  // little-endian hosts (linux-x64)
  return [preamble, Buffer.from(header, "latin1"), body];
}

/** Writes the matrix as .npy, atomically. */
export function writeNpy(file: string, data: Float32Array, rows: number, columns: number): Promise<void> {
  return writeFileAtomic(file, npyBytes(data, rows, columns));
}
