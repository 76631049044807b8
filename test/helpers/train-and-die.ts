/**
 * Child process for the kill test: runs the resume scenario in argv[2] and
 * SIGKILLs itself in the middle of writing the checkpoint of step argv[3],
 * right after that checkpoint's first file (query.safetensors) is complete.
 */
import * as fs from "node:fs";

import { MlpTwoTower } from "./mlp-two-tower";
import { runScenario } from "./resume-scenario";

const dir = process.argv[2] as string;
const killStep = String(process.argv[3]).padStart(8, "0");
const rename = fs.promises.rename.bind(fs.promises);
fs.promises.rename = async (from: fs.PathLike, to: fs.PathLike) => {
  await rename(from, to);
  if (String(to).includes(`.tmp-step-${killStep}-`) && String(to).endsWith("query.safetensors")) process.kill(process.pid, "SIGKILL");
};
void runScenario(dir, new MlpTwoTower()).then(() => {
  process.stdout.write("finished without being killed\n");
});
