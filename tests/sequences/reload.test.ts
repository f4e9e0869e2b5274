/**
 * Live reload keeps the last good definitions: an edit that validates replaces the running
 * sequence; an edit that does not is reported with its file and path, and nothing changes.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { EMAILS_DIR, ROOT } from "../../src/paths.ts";
import { reloadSequences } from "../../src/sequences/reload.ts";
import { memoryEngine } from "../support/engine-helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "drip-reload-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A real sequence file, importing the real templates and defineSequence by absolute path. */
function writeSequence(opts: { subject: string; day?: number; mjmlFile?: string }) {
  writeFileSync(
    join(dir, "live.ts"),
    `import Article from ${JSON.stringify(join(ROOT, "emails/article.tsx"))};
import { day, defineSequence, immediately, mjml } from ${JSON.stringify(join(ROOT, "src/sequences/define.ts"))};
export default defineSequence({
  id: "live",
  name: "Live",
  sender: { name: "David", organization: "Body Heal Therapy" },
  reason: "You signed up for the live course.",
  defaultTimezone: "Europe/London",
  sendWindow: { start: "08:00", end: "20:00", weekdays: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] },
  steps: [
    { id: "one", schedule: immediately(), template: Article, subject: ${JSON.stringify(opts.subject)}, preview: "First." },
    { id: "two", schedule: day(${opts.day ?? 2}, "09:00"), template: mjml(${JSON.stringify(opts.mjmlFile ?? "keep-it-away.mjml")}), subject: "Two", preview: "Second." },
  ],
});
`,
  );
}

describe("reloadSequences", () => {
  it("swaps in an edit that validates, and keeps the last good definitions when an edit does not", async () => {
    const { engine } = await memoryEngine();
    const logs: string[] = [];
    const o = { engine, sequencesDir: dir, emailsDir: EMAILS_DIR, log: (l: string) => logs.push(l) };

    writeSequence({ subject: "First version" });
    expect(await reloadSequences(o)).toEqual([]);
    expect(engine.getSequence("live")?.steps[0]?.subject).toBe("First version");

    // The same file edited in place is read anew (no stale module cache).
    writeSequence({ subject: "Second version" });
    expect(await reloadSequences(o)).toEqual([]);
    expect(engine.getSequence("live")?.steps[0]?.subject).toBe("Second version");

    writeSequence({ subject: "Broken version", day: -1 });
    const bad = await reloadSequences(o);
    expect(bad).toEqual([expect.objectContaining({ path: "steps[1].schedule.day", file: expect.stringContaining("live.ts") })]);
    expect(engine.getSequence("live")?.steps[0]?.subject).toBe("Second version");
    expect(logs.at(-1)).toMatch(/not reloaded .*last good definitions keep running[\s\S]*steps\[1\]\.schedule\.day/);

    writeSequence({ subject: "Missing template", mjmlFile: "nope.mjml" });
    const missing = await reloadSequences(o);
    expect(missing).toEqual([expect.objectContaining({ path: "steps[1].template", message: expect.stringContaining("does not exist") })]);
    expect(engine.getSequence("live")?.steps[0]?.subject).toBe("Second version");
  });
});
