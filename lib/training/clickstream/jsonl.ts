/**
 * JSON Lines, read line by line: a file is streamed through readline (no
 * whole-file string, which V8 caps at ~512 MiB), and every value carries
 * "file:line" for errors. Blank lines are skipped but counted.
 */
import * as fs from "node:fs";
import * as readline from "node:readline";

export interface JsonLine {
  readonly value: unknown;
  /** "file:line" (1-based), for error messages. */
  readonly where: string;
}

/** The value of one line. @throws SyntaxError naming `where`. */
function parseLine(line: string, where: string): unknown {
  try {
    return JSON.parse(line) as unknown;
  } catch (error) {
    throw new SyntaxError(`${where}: not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
}

/** The lines of a JSONL text held in memory. */
export function* jsonLines(text: string, file: string): Generator<JsonLine> {
  let start = 0;
  for (let n = 1; start <= text.length; n++) {
    const end = text.indexOf("\n", start);
    const line = text.slice(start, end === -1 ? text.length : end);
    if (line.trim() !== "") yield { value: parseLine(line, `${file}:${n}`), where: `${file}:${n}` };
    if (end === -1) break;
    start = end + 1;
  }
}

/** The lines of a JSONL file, read as a stream (64 KiB at a time). */
export async function* jsonFileLines(file: string): AsyncGenerator<JsonLine> {
  const input = fs.createReadStream(file, { encoding: "utf8" });
  const lines = readline.createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const line of lines) {
      n++;
      if (line.trim() !== "") yield { value: parseLine(line, `${file}:${n}`), where: `${file}:${n}` };
    }
  } finally {
    lines.close();
    input.destroy();
  }
}
