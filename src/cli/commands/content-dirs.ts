/**
 * Where staff content lives (apart from app-context.ts, so commands that only read it do not
 * load the app, nor config.ts: its zod schema costs `drip list` a tenth of a second to load).
 */
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse as parseDotenv } from "dotenv";
import { EMAILS_DIR, NEWSLETTERS_DIR, SEQUENCES_DIR } from "../../paths.ts";
import type { CliIO } from "../io.ts";

/** One variable as config.ts's readEnv reads it: the environment over .env, empty meaning unset. */
function envValue(io: CliIO, name: string): string | undefined {
  const file = `${io.cwd}/.env`;
  const value = io.env[name] ?? (existsSync(file) ? parseDotenv(readFileSync(file))[name] : undefined);
  return value === "" ? undefined : value;
}

/**
 * The content folders (DRIP_SEQUENCES_DIR, DRIP_EMAILS_DIR, DRIP_NEWSLETTERS_DIR, relative to
 * the working directory), for commands that read content without opening the app.
 */
export function contentDirs(io: CliIO): { sequencesDir: string; emailsDir: string; newslettersDir: string } {
  const dir = (name: string, fallback: string) => {
    const v = envValue(io, name)?.trim();
    return v ? resolve(io.cwd, v) : fallback;
  };
  return {
    sequencesDir: dir("DRIP_SEQUENCES_DIR", SEQUENCES_DIR),
    emailsDir: dir("DRIP_EMAILS_DIR", EMAILS_DIR),
    newslettersDir: dir("DRIP_NEWSLETTERS_DIR", NEWSLETTERS_DIR),
  };
}
