/**
 * `--data <clickstream.jsonl> [--catalogue <catalogue.jsonl>]` for the
 * commands: the sessions, and the item texts from the catalogue or, without
 * one, from the texts the sessions' results carry.
 */
import * as fs from "node:fs";

import { catalogueFromSessions, readCatalogue, readClickstream, type ClickstreamSession } from "../training/clickstream/format";
import { UsageError } from "./usage";

export interface CommandData {
  readonly sessions: ClickstreamSession[];
  readonly catalogue: Map<string, string>;
}

/** @throws UsageError naming a missing file or an empty catalogue. */
export async function readCommandData(data: string, catalogueFile: string | undefined): Promise<CommandData> {
  for (const [flag, file] of [["--data", data], ["--catalogue", catalogueFile]] as const)
    if (file !== undefined && !fs.existsSync(file)) throw new UsageError(`${flag} ${file} does not exist`);
  const sessions = await readClickstream(data);
  const catalogue = catalogueFile === undefined ? catalogueFromSessions(sessions) : await readCatalogue(catalogueFile);
  if (catalogue.size === 0)
    throw new UsageError(`no item texts: ${data}'s results carry no "text" and no --catalogue was given (a JSONL file of {"item_id", "text"})`);
  return { sessions, catalogue };
}
