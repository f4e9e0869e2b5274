/**
 * Done-when: three subscribers of the topic in New York, London and Kolkata, one not in the
 * topic and one who leaves the topic after scheduling. Scheduled with `--local 09:00`, the
 * issue reaches each of the three exactly once between 09:00 and 09:30 their time (read from
 * the outbox's .eml files with mailparser), and no one else. Each carries the compliance
 * headers (List-Unsubscribe for this topic, one-click POST, List-Id naming the topic), a text
 * part, the postal address and a "view in your browser" link.
 */
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { createApp } from "../../src/wiring.ts";
import { cleanupTempDirs, localStamp, rawHeader, readOutbox, runDrip, tempDir } from "../support/engine-helpers.ts";

afterAll(cleanupTempDirs);

const ISSUE = "two-ways-to-ease-outer-hip-pain";
const NOW = new Date("2027-01-04T12:00:00Z");
const READERS = [
  { email: "ny@example.com", tz: "America/New_York" },
  { email: "ldn@example.com", tz: "Europe/London" },
  { email: "kol@example.com", tz: "Asia/Kolkata" },
];

describe("drip newsletter schedule --local 09:00", () => {
  it("reaches New York, London and Kolkata each once between 09:00 and 09:30 local, and nobody outside the topic or who left it", async () => {
    const dir = tempDir("drip-nl-local-");
    const env = {
      DATABASE_URL: `file:${join(dir, "drip.db")}`,
      OUTBOX_DIR: join(dir, "outbox"),
      DRIP_POSTAL_ADDRESS: "Body Heal Therapy, 9 Zebra Lane, Testville",
    };
    const drip = async (...argv: string[]) => {
      const r = await runDrip(argv, { env, cwd: dir, now: NOW });
      expect(r.err, argv.join(" ")).not.toMatch(/unexpected/);
      expect(r.code, `${argv.join(" ")}: ${r.err}`).toBe(0);
      return r.out;
    };
    for (const r of READERS) await drip("subscribe", r.email, "--tz", r.tz, "--confirmed", "--topic", "weekly", "--at", "2027-01-01T10:00:00Z");
    await drip("subscribe", "outsider@example.com", "--tz", "Europe/London", "--confirmed", "--at", "2027-01-01T10:00:00Z");
    await drip("subscribe", "leaver@example.com", "--tz", "Europe/London", "--confirmed", "--topic", "weekly", "--at", "2027-01-01T10:00:00Z");

    expect(await drip("newsletter", "audience", ISSUE)).toMatch(/^4 recipients/);
    const out = await drip("newsletter", "schedule", ISSUE, "--local", "09:00", "--date", "2027-01-05");
    expect(out).toMatch(/scheduled "two-ways-to-ease-outer-hip-pain" for 4 recipients/);
    expect(out).toMatch(/snapshot/);

    const app = await createApp(loadConfig(env));
    try {
      const leaver = await app.store.findSubscriberByEmail("leaver@example.com");
      expect(await app.lifecycle.leaveTopic(leaver!, "weekly", new Date("2027-01-04T13:00:00Z"), "preferences")).toBe("left");
      // Every 5 minutes through the whole day (UTC), as the scheduler would.
      for (let t = Date.parse("2027-01-04T18:00:00Z"); t <= Date.parse("2027-01-05T23:00:00Z"); t += 5 * 60_000) await app.engine.tick(new Date(t));
      const report = await app.newsletters.status(ISSUE);
      expect(report.report).toMatchObject({ recipients: 4, sent: 3, skipped: 1, pending: 0, failed: 0, skippedReasons: { "left the topic": 1 } });
    } finally {
      await app.close();
    }

    const mails = (await readOutbox(env.OUTBOX_DIR)).filter((m) => (rawHeader(m.mail, "list-id") ?? "").includes("<weekly.topics."));
    const to = mails.map((m) => (Array.isArray(m.mail.to) ? m.mail.to[0] : m.mail.to)?.value[0]?.address);
    expect(to.sort()).toEqual(READERS.map((r) => r.email).sort());
    for (const r of READERS) {
      const m = mails.find((x) => JSON.stringify(x.mail.to).includes(r.email))!;
      const local = localStamp(m.mail.date!, r.tz);
      expect(local.slice(0, 10), r.email).toBe("2027-01-05");
      const minutes = Number(local.slice(11, 13)) * 60 + Number(local.slice(14, 16));
      expect(minutes, `${r.email} got it at ${local}`).toBeGreaterThanOrEqual(9 * 60);
      expect(minutes, `${r.email} got it at ${local}`).toBeLessThanOrEqual(9 * 60 + 30);
      expect(m.mail.subject).toBe("Two ways to ease outer hip pain at home");
      expect(rawHeader(m.mail, "list-unsubscribe")).toMatch(/^<https?:\/\/[^>]+\/unsubscribe\/[^>]+\?topic=weekly&issue=two-ways-to-ease-outer-hip-pain>/);
      expect(rawHeader(m.mail, "list-unsubscribe-post")).toBe("List-Unsubscribe=One-Click");
      expect(rawHeader(m.mail, "list-id")).toMatch(/^"?The weekly blog"? <weekly\.topics\.[a-z.]+>$/);
      expect(m.mail.text).toContain("9 Zebra Lane");
      expect(m.mail.text).toContain("Read on the blog");
      expect(m.mail.html).toContain(`/newsletters/${ISSUE}`);
    }
  }, 120_000);
});
