/**
 * Batches in flight together each get their own quota answer; their retry-after values can
 * differ (read a second apart). Whatever order they come back in, the pause must cover every
 * paused batch, so when it lifts all of them are sent: none is stranded behind a later lease.
 */
import { afterAll, describe, expect, it } from "vitest";
import type { BatchOutcome, DeliveryResult, OutgoingMessage, ProviderEmail, Transport } from "../../src/delivery/transport.ts";
import { InstantClock, MINUTE, T0, cleanupTempDirs, handEngine, seedEnrolled } from "../support/delivery-helpers.ts";

afterAll(cleanupTempDirs);

/** Answers each batch as scripted: accepted, or a quota 429 with the given retry-after. */
class ScriptedBatches implements Transport {
  readonly name = "resend" as const;
  readonly idempotent = true;
  readonly sent = new Set<string>();
  constructor(public script: (n: number) => { quotaAfterMs: number } | "accept") {}
  private calls = 0;
  async send(): Promise<DeliveryResult> {
    throw new Error("single sends are not expected here");
  }
  encode(msg: OutgoingMessage): ProviderEmail {
    return { from: msg.from, to: [msg.to], subject: msg.subject, html: msg.html, text: msg.text, headers: msg.headers, tags: msg.tags };
  }
  async sendBatch(emails: readonly ProviderEmail[]): Promise<BatchOutcome> {
    const answer = this.script(++this.calls);
    if (answer === "accept") {
      for (const e of emails) this.sent.add(e.to[0]!);
      return { kind: "accepted", results: emails.map(() => ({ ok: true, providerMessageId: null })) };
    }
    return { kind: "paused", reason: "daily_quota_exceeded: scripted", afterMs: answer.quotaAfterMs, status: 429 };
  }
}

describe("quota pause with batches in flight", () => {
  for (const [label, later, sooner] of [
    ["the longer retry-after answers first", 1, 2],
    ["the shorter retry-after answers first", 2, 1],
  ] as const) {
    it(`every paused batch is due when the pause lifts (${label})`, async () => {
      // Two batches in flight; both hit the quota, one told 61 s, the other 60 s.
      const transport = new ScriptedBatches((n) => (n === later ? { quotaAfterMs: 61_000 } : n === sooner ? { quotaAfterMs: 60_000 } : "accept"));
      const { engine, store } = await handEngine("http://127.0.0.1:9", { transport, clock: new InstantClock(), concurrency: 2 });
      await seedEnrolled(store, engine, 200, T0);
      expect(await engine.tick(T0)).toMatchObject({ sent: 0, deferred: 200 });
      const pause = await engine.pausedUntil(T0);
      expect(pause?.until).toBe(new Date(T0.getTime() + 61_000).toISOString());

      const resumed = await engine.tick(new Date(pause!.until));
      expect(resumed.sent).toBe(200);
      expect(transport.sent.size).toBe(200);
      expect(await engine.tick(new Date(T0.getTime() + 10 * MINUTE))).toMatchObject({ sent: 0, deferred: 0 });
      await store.close();
    });
  }
});
