/** Temporary copies of fixture checkpoints, for tests that break or change them. */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { FIXTURES } from "./fixtures";

/** Copies fixture `name` into a fresh temp folder, leaving out `omit`. The caller removes it. */
export function copyFixture(name: string, omit: readonly string[] = []): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `et-${name}-`));
  for (const file of fs.readdirSync(path.join(FIXTURES, name))) {
    if (omit.includes(file)) continue;
    fs.copyFileSync(path.join(FIXTURES, name, file), path.join(dir, file));
    fs.chmodSync(path.join(dir, file), 0o644);
  }
  return dir;
}
