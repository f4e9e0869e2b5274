/**
 * `drip list`, `validate` and `simulate` find the content folders without loading config.ts
 * (its zod schema is a tenth of a second of every start): they must find the same folders the
 * app's config does, from the environment and .env alike.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { contentDirs } from "../../src/cli/commands/content-dirs.ts";
import type { CliIO } from "../../src/cli/io.ts";
import { loadConfig, readEnv } from "../../src/config.ts";

const cwd = mkdtempSync(join(tmpdir(), "drip-content-dirs-"));
afterAll(() => rmSync(cwd, { recursive: true, force: true }));

const io = (env: Record<string, string | undefined>): CliIO => ({ out: () => {}, err: () => {}, env, cwd, now: () => new Date(0), isTTY: false });

function both(env: Record<string, string | undefined>, dotenv: string) {
  writeFileSync(join(cwd, ".env"), dotenv);
  const config = loadConfig(readEnv(env, join(cwd, ".env")));
  return {
    cli: contentDirs(io(env)),
    config: { sequencesDir: config.sequencesDir, emailsDir: config.emailsDir, newslettersDir: config.newslettersDir },
  };
}

describe("the content folders, as the CLI finds them without the app's config", () => {
  const cases: [string, Record<string, string | undefined>, string][] = [
    ["nothing set: the install's own folders", {}, ""],
    ["from .env", {}, "DRIP_SEQUENCES_DIR=/srv/clinic/sequences\nDRIP_EMAILS_DIR=/srv/clinic/emails\nDRIP_NEWSLETTERS_DIR=/srv/clinic/news\n"],
    [
      "the environment over .env",
      { DRIP_SEQUENCES_DIR: "/opt/seq", DRIP_NEWSLETTERS_DIR: " /opt/news " },
      "DRIP_SEQUENCES_DIR=/srv/clinic/sequences\nDRIP_EMAILS_DIR=/srv/e\n",
    ],
    [
      "an empty variable is unset, even over .env",
      { DRIP_SEQUENCES_DIR: "", DRIP_EMAILS_DIR: "" },
      "DRIP_SEQUENCES_DIR=/srv/clinic/sequences\nDRIP_EMAILS_DIR=/srv/e\n",
    ],
    ["an empty line in .env is unset", {}, "DRIP_SEQUENCES_DIR=\nDRIP_EMAILS_DIR='/srv/quoted emails'\n"],
  ];
  for (const [name, env, dotenv] of cases)
    it(name, () => {
      const { cli, config } = both(env, dotenv);
      expect(cli).toEqual(config);
    });

  it("a relative folder is taken from the working directory", () => {
    writeFileSync(join(cwd, ".env"), "DRIP_SEQUENCES_DIR=content/sequences\n");
    expect(contentDirs(io({})).sequencesDir).toBe(join(cwd, "content/sequences"));
  });
});
