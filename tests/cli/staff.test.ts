/**
 * Staff commands for one subscriber: show (details, consent, enrollments, sends), pause and
 * resume, update --name --tz (a new zone re-plans the next step), and stats with separated,
 * aligned columns and rates.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cleanupTempDirs, runDrip, tempDir } from "../support/engine-helpers.ts";

let dir: string;
let env: Record<string, string>;
const NOW = new Date("2026-10-28T12:00:00Z"); // Wednesday, 12:00 in London
const drip = (argv: string[]) => runDrip(argv, { env, cwd: dir, now: NOW });

beforeEach(() => {
  dir = tempDir("drip-staff-");
  env = { DATABASE_URL: `file:${dir}/drip.db`, OUTBOX_DIR: `${dir}/outbox`, DRIP_SECRET: "x".repeat(40) };
});
afterEach(() => cleanupTempDirs());

describe("one subscriber", () => {
  it("show, pause, resume and update --tz (re-planned), all through the CLI", async () => {
    expect((await drip(["subscribe", "ana@example.com", "--name", "Ana", "--tz", "Europe/London", "--confirmed"])).code).toBe(0);
    expect((await drip(["tick"])).code).toBe(0);
    const shown = JSON.parse((await drip(["show", "ana@example.com", "--json"])).out);
    expect(shown.subscriber).toMatchObject({ email: "ana@example.com", name: "Ana", timezone: "Europe/London", status: "active", consent: { source: "cli" } });
    expect(shown.enrollments).toEqual([
      expect.objectContaining({ sequenceId: "hip-pain-course", status: "active", nextStepId: "self-release", nextDueAt: "2026-10-30T09:00:00.000Z" }),
    ]);
    expect(shown.sends).toEqual([expect.objectContaining({ stepId: "article", status: "sent" })]);
    const text = (await drip(["show", "ana@example.com"])).out;
    expect(text).toMatch(/^enrollment {3}hip-pain-course: active, next self-release at 2026-10-30T09:00:00.000Z$/m);
    expect(text).toMatch(/^send {9}hip-pain-course\/article {2}sent {2}/m);

    expect((await drip(["pause", "ana@example.com"])).out).toBe("paused: ana@example.com (1 course)\n");
    expect(JSON.parse((await drip(["show", "ana@example.com", "--json"])).out).enrollments[0].status).toBe("paused");
    expect((await drip(["resume", "ana@example.com"])).out).toBe("resumed: ana@example.com (1 course)\n");

    const u = await drip(["update", "ana@example.com", "--name", "Ana Maria", "--tz", "Asia/Tokyo"]);
    expect(u.out).toBe('updated: ana@example.com (name "Ana Maria", time zone Asia/Tokyo)\n');
    const after = JSON.parse((await drip(["show", "ana@example.com", "--json"])).out);
    expect(after.subscriber).toMatchObject({ name: "Ana Maria", timezone: "Asia/Tokyo" });
    expect(after.enrollments[0].nextDueAt).toBe("2026-10-30T00:00:00.000Z"); // 09:00 in Tokyo
    expect((await drip(["update", "ana@example.com", "--tz", "Mars/Base"])).code).toBe(2);
    expect((await drip(["show", "nobody@example.com"])).err).toBe("drip: no subscriber nobody@example.com (see drip export for the list)\n");
  });

  it("show: topics with consent, the automations that fired and why, the history (the dashboard's timeline), and why they left", async () => {
    expect((await drip(["subscribe", "cy@example.com", "--name", "Cy", "--confirmed", "--topic", "weekly"])).code).toBe(0);
    expect((await drip(["tick"])).code).toBe(0);
    expect((await drip(["tag", "cy@example.com", "booked"])).code).toBe(0);
    const shown = JSON.parse((await drip(["show", "cy@example.com", "--json"])).out);
    expect(shown.topics).toEqual([expect.objectContaining({ topicId: "weekly", status: "joined", consentAt: NOW.toISOString() })]);
    expect(shown.automations).toEqual([
      expect.objectContaining({ automationId: "booked-starts-post-booking", trigger: 'tag "booked" added', outcome: "done", enrolled: "post-booking" }),
    ]);
    const kinds = shown.timeline.map((e: { kind: string }) => e.kind);
    expect(kinds).toEqual(expect.arrayContaining(["signed_up", "confirmed", "enrolled", "sent", "automation"]));
    expect(shown.timeline.find((e: { kind: string }) => e.kind === "automation").detail).toBe(
      'booked-starts-post-booking fired on tag "booked" added: enrolled in post-booking (done)',
    );
    expect(shown.enrollments.map((e: { sequenceId: string }) => e.sequenceId).sort()).toEqual(["hip-pain-course", "post-booking"]);
    const text = (await drip(["show", "cy@example.com"])).out;
    expect(text).toMatch(/^topic {8}weekly: joined, consent /m);
    expect(text).toMatch(/^automation {3}booked-starts-post-booking on tag "booked" added at .*: enrolled in post-booking \(done\)$/m);
    expect(text).toMatch(/^history\n {2}2026-10-28T12:00:00\.000Z {2}signed_up/m);
    expect(text).toMatch(/^ {2}\S+ {2}sent +hip-pain-course\/article {2}sent$/m);

    expect((await drip(["unsubscribe", "cy@example.com"])).code).toBe(0);
    const after = JSON.parse((await drip(["show", "cy@example.com", "--json"])).out);
    expect(after.subscriber).toMatchObject({ status: "unsubscribed", statusReason: expect.stringMatching(/^unsubscribed via /) });
    expect((await drip(["show", "cy@example.com"])).out).toMatch(/^status {7}unsubscribed since \S+ \(unsubscribed via /m);
  });

  it("stats: separated, aligned columns with rates", async () => {
    await drip(["subscribe", "bo@example.com", "--confirmed"]);
    await drip(["tick"]);
    const lines = (await drip(["stats"])).out.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^step\s+ {2}sent {2}skipped {2}delivered {2}opened {2}clicked {2}bounced {2}complained {2}unsubscribed {2}booked$/);
    expect(lines[1]).toMatch(/^hip-pain-course\/article\s+1\s+0 0%\s+0 0%\s+0\s+0\s+0 0%/);
    // Every column ends where its header ends.
    expect(lines[1]!.length).toBe(lines[0]!.length);
  });

  it("stats: a skipped column with its rate, and the reasons in --json", async () => {
    for (const who of ["bo", "cy"]) await drip(["subscribe", `${who}@example.com`, "--tz", "Europe/London", "--confirmed"]);
    await drip(["tick"]);
    await drip(["tag", "cy@example.com", "booked"]);
    // Day 2, 4 and 6 of the course (09:00 in London): cy booked, so the booking step skips for cy only.
    for (const at of ["2026-10-30T10:00:00Z", "2026-11-01T10:00:00Z", "2026-11-03T10:00:00Z"])
      expect((await drip(["tick", "--now", at, "--allow-time-travel"])).code).toBe(0);
    const rows = JSON.parse((await drip(["stats", "--sequence", "hip-pain-course", "--json"])).out) as {
      stepId: string;
      sent: number;
      skipped: number;
      skippedReasons: Record<string, number>;
    }[];
    const book = rows.find((r) => r.stepId === "book")!;
    expect(book).toMatchObject({ sent: 1, skipped: 1 });
    expect(Object.values(book.skippedReasons)).toEqual([1]);
    expect(Object.keys(book.skippedReasons)[0]).toMatch(/booked/);
    expect(rows.find((r) => r.stepId === "article")).toMatchObject({ sent: 2, skipped: 0, skippedReasons: {} });
    const lines = (await drip(["stats", "--sequence", "hip-pain-course"])).out.trimEnd().split("\n");
    const line = lines.find((l) => l.startsWith("hip-pain-course/book"))!;
    expect(line).toMatch(/^hip-pain-course\/book\s+1\s+1 50%\s/);
    for (const l of lines) expect(l.length).toBe(lines[0]!.length);
  });
});
