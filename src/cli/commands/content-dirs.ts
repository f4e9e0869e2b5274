/** Where staff content lives (apart from app-context.ts, so commands that only read it do not load the app). */
import { resolve } from "node:path";
import { readEnv } from "../../config.ts";
import { EMAILS_DIR, NEWSLETTERS_DIR, SEQUENCES_DIR } from "../../paths.ts";
import type { CliIO } from "../io.ts";

/**
 * The content folders (DRIP_SEQUENCES_DIR, DRIP_EMAILS_DIR, DRIP_NEWSLETTERS_DIR, relative to
 * the working directory), for commands that read content without opening the app.
 */
export function contentDirs(io: CliIO): { sequencesDir: string; emailsDir: string; newslettersDir: string } {
  const env = readEnv(io.env, `${io.cwd}/.env`);
  const dir = (v: string | undefined, fallback: string) => (v?.trim() ? resolve(io.cwd, v.trim()) : fallback);
  return {
    sequencesDir: dir(env.DRIP_SEQUENCES_DIR, SEQUENCES_DIR),
    emailsDir: dir(env.DRIP_EMAILS_DIR, EMAILS_DIR),
    newslettersDir: dir(env.DRIP_NEWSLETTERS_DIR, NEWSLETTERS_DIR),
  };
}
