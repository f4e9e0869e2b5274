/**
 * `drip retry` end to end: the real Resend SDK against the provider double, the CLI on the
 * same SQLite file. An in-doubt send that the provider did take is retried under its first
 * key and is not delivered again; a failed one (the provider took nothing) is delivered once;
 * a send whose subscriber left is refused with the reason; the course goes on where it was.
 */
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { RateLimiter } from "../../src/delivery/rate-limiter.ts";
import { ResendTransport } from "../../src/delivery/resend.ts";
import { API_KEY, COURSE, HOUR, InstantClock, T0, cleanupTempDirs, handEngine, plus, seedEnrolled, sendRows, tempDir } from "../support/delivery-helpers.ts";
import { type ResendDouble, type ResendDoubleOptions, startResendDouble } from "../support/resend-double.ts";
import { runDrip } from "../support/engine-helpers.ts";
import { TestClock } from "../support/test-clock.ts";

const doubles: ResendDouble[] = [];
async function double(opts: ResendDoubleOptions): Promise<ResendDouble> {
  const d = await startResendDouble(opts);
  doubles.push(d);
  return d;
}
afterEach(async () => {
  for (const d of doubles.splice(0)) await d.close();
});
afterAll(() => cleanupTempDirs());

const cli = (env: Record<string, string>, argv: string[], now: Date) => runDrip(argv, { env, cwd: tempDir(), now });

describe("drip retry", () => {
  it("in doubt (the provider took the batch, every answer was lost): retried under its first key, recorded as sent, delivered once; the course goes on where it was", async () => {
    const time = new TestClock(T0);
    // The first request is taken and its answer lost; the second gets no answer in time either.
    let stall = true;
    let seen = 0;
    const d = await double({
      rateLimit: 100,
      dropRate: 1,
      now: time.now,
      onRequest: async () => {
        if (++seen >= 2 && stall) await new Promise((resolve) => setTimeout(resolve, 800));
      },
    });
    const transport = new ResendTransport(API_KEY, { baseUrl: d.url, limiter: new RateLimiter(100), timeoutMs: 300 });
    const { engine, store, env } = await handEngine(d.url, { clock: new InstantClock(), maxAttempts: 2, transport });
    try {
      const subs = await seedEnrolled(store, engine, 3, T0);
      await engine.tick(time.set(T0));
      const before = await sendRows(store);
      expect(before.map((r) => r.status)).toEqual(["in_doubt", "in_doubt", "in_doubt"]);
      const firstKey = d.requests[0]!.idempotencyKey;
      expect(d.delivered).toHaveLength(3);
      const positions = await Promise.all(subs.map((s) => store.getEnrollment(s.id, COURSE)));

      const failures = await cli(env, ["failures"], plus(T0, HOUR));
      expect(failures.out).toContain(`retry: drip retry ${before[0]!.id}`);
      const dry = await cli(env, ["retry", "--all-failed", "--dry-run", "--json"], plus(T0, HOUR));
      expect(dry.code, dry.err).toBe(0);
      expect(JSON.parse(dry.out)).toEqual([expect.objectContaining({ outcome: "queued", key: firstKey, siblings: [before[1]!.id, before[2]!.id] })]);
      expect((await sendRows(store)).map((r) => r.status)).toEqual(["in_doubt", "in_doubt", "in_doubt"]); // a dry run changes nothing

      d.set({ dropRate: 0 });
      stall = false;
      const r = await cli(env, ["retry", before[1]!.id], plus(T0, HOUR));
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(/^queued +.*first idempotency key/);
      const requests = d.requests.length;
      expect(await engine.tick(time.set(plus(T0, HOUR)))).toMatchObject({ sent: 3, failed: 0 });
      // The same key: the double answers with the first result (same bytes) or 409 (a changed payload), and sends nothing.
      const retried = d.requests.slice(requests);
      expect(retried.map((q) => q.idempotencyKey)).toEqual([firstKey]);
      expect([200, 409]).toContain(retried[0]!.status);
      expect(d.delivered).toHaveLength(3); // nobody got it twice
      expect((await sendRows(store)).map((row) => row.status)).toEqual(["sent", "sent", "sent"]);
      expect(await Promise.all(subs.map((s) => store.getEnrollment(s.id, COURSE)))).toEqual(positions);
    } finally {
      await store.close();
    }
  });

  it("failed (the provider took nothing): delivered once under a new key; a second retry, and one for someone who unsubscribed, are refused with the reason", async () => {
    const time = new TestClock(T0);
    const d = await double({ rateLimit: 100, failRate: 1, now: time.now });
    const { engine, store, env } = await handEngine(d.url, { clock: new InstantClock(), maxAttempts: 2 });
    try {
      const [ana, bo] = await seedEnrolled(store, engine, 2, T0);
      await engine.tick(time.set(T0));
      const rows = await sendRows(store);
      expect(rows.map((x) => x.status)).toEqual(["failed", "failed"]);
      const oldKey = d.requests[0]!.idempotencyKey;
      const anaSend = rows.find((x) => x.subscriber_id === ana!.id)!;
      const boSend = rows.find((x) => x.subscriber_id === bo!.id)!;
      expect((await cli(env, ["unsubscribe", bo!.email], plus(T0, 30 * 60_000))).code).toBe(0);

      d.set({ failRate: 0 });
      const refused = await cli(env, ["retry", boSend.id], plus(T0, HOUR));
      expect(refused.code).toBe(1);
      expect(refused.err).toMatch(new RegExp(`^drip: send ${boSend.id.replace(/\./g, "\\.")} was not retried: ${bo!.email} unsubscribed on `));
      const all = await cli(env, ["retry", "--all-failed", "--json"], plus(T0, HOUR));
      expect(all.code).toBe(1); // one was refused
      expect(JSON.parse(all.out)).toEqual([
        expect.objectContaining({ sendId: anaSend.id, outcome: "queued", key: null }),
        expect.objectContaining({ sendId: boSend.id, outcome: "refused", reason: expect.stringContaining("unsubscribed") }),
      ]);
      await engine.tick(time.set(plus(T0, HOUR)));
      expect(d.delivered.map((e) => e.to[0])).toEqual([ana!.email]);
      expect(d.delivered[0]!.idempotencyKey).not.toBe(oldKey);
      expect((await sendRows(store)).find((x) => x.id === anaSend.id)).toMatchObject({ status: "sent" });
      const again = await cli(env, ["retry", anaSend.id], plus(T0, 2 * HOUR));
      expect(again.code).toBe(1);
      expect(again.err).toContain("it was sent");
      const shown = JSON.parse((await cli(env, ["show", ana!.email, "--json"], plus(T0, 2 * HOUR))).out);
      expect(JSON.stringify(shown)).toContain("queued again by the CLI");
      expect((await cli(env, ["retry"], T0)).code).toBe(2);
      expect((await cli(env, ["retry", "x", "--all-failed"], T0)).code).toBe(2);
      expect((await cli(env, ["retry", "--help"], T0)).out).toContain("--all-failed");
    } finally {
      await store.close();
    }
  });
});
