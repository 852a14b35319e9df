/** Where the repository and its Python environment are, for tests that run the server. */
import { existsSync } from "node:fs";
import * as path from "node:path";

/** The repository root: clients/vscode/out/test → ../../../.. */
export const REPO = path.resolve(__dirname, "../../../..");

/** `CODETETHER_PYTHON`, else the repo's .venv, else python3 on PATH. */
export function python(): string {
  const fromEnv = process.env.CODETETHER_PYTHON;
  if (fromEnv) return fromEnv;
  const venv = path.join(REPO, ".venv", "bin", "python");
  return existsSync(venv) ? venv : "python3";
}
