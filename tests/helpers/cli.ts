/** Run the drip CLI in-process with captured output (no process.env, fixed clock). */
import { fileURLToPath } from "node:url";
import { runCli } from "../../src/cli/main.ts";
import type { CliIO } from "../../src/cli/io.ts";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

export async function drip(argv: readonly string[], env: Record<string, string | undefined> = {}): Promise<CliRun> {
  let out = "";
  let err = "";
  const io: CliIO = {
    out: (s) => {
      out += s;
    },
    err: (s) => {
      err += s;
    },
    env,
    cwd: ROOT,
    now: () => new Date("2026-03-06T15:00:00Z"),
    isTTY: false,
  };
  const code = await runCli(argv, io);
  return { code, out, err };
}
