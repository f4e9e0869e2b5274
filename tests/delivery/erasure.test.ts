/**
 * Erasure and leaving reach batches the provider has not taken yet (the real Resend SDK
 * against the local double): an erased person's address never reaches the provider, every
 * recorded provider id belongs to its own recipient (matched by identity, not position), and
 * a complaint about one recipient suppresses that recipient only.
 */
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { BatchOutcome, DeliveryResult, OutgoingMessage, ProviderEmail } from "../../src/delivery/transport.ts";
import { Lifecycle } from "../../src/lifecycle/lifecycle.ts";
import { InstantClock, MINUTE, T0, cleanupTempDirs, handEngine, pendingBatches, plus, seedEnrolled, sendRows } from "../support/delivery-helpers.ts";
import { type ResendDouble, startResendDouble } from "../support/resend-double.ts";

const doubles: ResendDouble[] = [];
afterEach(async () => {
  for (const d of doubles.splice(0)) await d.close();
});
afterAll(cleanupTempDirs);

describe("forget and unsubscribe while a batch is pending", () => {
  it("the provider never receives the erased address; provider ids stay with their recipients; a complaint suppresses only its recipient", async () => {
    // Every request fails (500) until we say otherwise: the batch is written and stays pending.
    const d = await startResendDouble({ rateLimit: 100, failRate: 1, now: () => T0.getTime() });
    doubles.push(d);
    const { engine, store } = await handEngine(d.url, { clock: new InstantClock() });
    const lifecycle = new Lifecycle({ store, sequences: engine });
    try {
      const subs = await seedEnrolled(store, engine, 8, T0);
      const summary = await engine.tick(T0);
      expect(summary.sent).toBe(0);
      expect(await pendingBatches(store)).toHaveLength(1);
      expect(d.delivered).toHaveLength(0);

      // s00003 asks to be forgotten, s00005 unsubscribes, while the batch waits.
      const erased = subs[3]!;
      expect(await lifecycle.forget(erased.email, plus(T0, MINUTE))).toBe("erased");
      await lifecycle.unsubscribe(subs[5]!, plus(T0, MINUTE), "test");
      // Erasure is immediate: the stored payload no longer holds the address.
      const stored = await store.db.selectFrom("batches").select("payload").execute();
      expect(JSON.stringify(stored)).not.toContain(erased.email);

      d.set({ failRate: 0 });
      // Recovery picks the batch up once its retry time has come.
      for (let t = 1; t <= 120 && (await pendingBatches(store)).length > 0; t++) await engine.tick(plus(T0, t * MINUTE));
      expect(await pendingBatches(store)).toEqual([]);

      const delivered = d.delivered.map((e) => e.to[0]);
      expect(delivered).not.toContain(erased.email);
      expect(delivered).not.toContain(subs[5]!.email);
      expect(delivered.sort()).toEqual(
        subs
          .filter((_s, i) => i !== 3 && i !== 5)
          .map((s) => s.email)
          .sort(),
      );

      // Each recorded provider id is the id the provider gave that very recipient's email.
      const idTo = new Map(d.delivered.map((e) => [e.id, e.to[0]]));
      const rows = await sendRows(store);
      const byId = new Map(subs.map((s) => [s.id, s.email]));
      const sent = rows.filter((r) => r.status === "sent");
      expect(sent).toHaveLength(6);
      for (const r of sent) expect(idTo.get(r.provider_message_id!), r.id).toBe(byId.get(r.subscriber_id));
      expect(rows.find((r) => r.subscriber_id === subs[5]!.id)).toMatchObject({ status: "skipped" });
      expect(rows.some((r) => r.subscriber_id === erased.id)).toBe(false);

      // The provider reports a complaint about s00004's email: s00004 is suppressed, nobody else.
      const four = sent.find((r) => r.subscriber_id === subs[4]!.id)!;
      expect(
        await lifecycle.applyProviderEvent({
          id: "msg_complaint_1",
          type: "email.complained",
          createdAt: plus(T0, 2 * 60 * MINUTE),
          emailId: four.provider_message_id!,
        }),
      ).toBe("suppressed");
      const statuses = await Promise.all(subs.filter((_s, i) => i !== 3).map(async (s) => [s.email, (await store.getSubscriber(s.id))?.status]));
      expect(Object.fromEntries(statuses)).toEqual(
        Object.fromEntries(subs.filter((_s, i) => i !== 3).map((s) => [s.email, s === subs[4] ? "suppressed" : s === subs[5] ? "unsubscribed" : "active"])),
      );
    } finally {
      await store.close();
    }
  });
});

describe("forget between two attempts of the same batch within one tick", () => {
  it("the retry leaves the erased person out (same key), and the others are delivered once", async () => {
    let lifecycle: Lifecycle | undefined;
    let erasedEmail = "";
    const calls: { key: string; to: string[] }[] = [];
    // A scripted provider: the first request fails with a 500 (nothing taken); while it is
    // being answered, one recipient asks to be forgotten; the retry is accepted.
    const transport = {
      name: "resend" as const,
      idempotent: true,
      async send(): Promise<DeliveryResult> {
        throw new Error("single sends are not expected here");
      },
      encode: (msg: OutgoingMessage): ProviderEmail => ({
        from: msg.from,
        to: [msg.to],
        subject: msg.subject,
        html: msg.html,
        text: msg.text,
        headers: msg.headers,
        tags: msg.tags,
      }),
      async sendBatch(emails: readonly ProviderEmail[], key: string): Promise<BatchOutcome> {
        calls.push({ key, to: emails.map((e) => e.to[0]!) });
        if (calls.length === 1) {
          await lifecycle!.forget(erasedEmail, plus(T0, MINUTE));
          return { kind: "retry", reason: "internal_server_error: scripted", status: 500 };
        }
        return { kind: "accepted", results: emails.map((_e, i) => ({ ok: true, providerMessageId: `m-${i}` })) };
      },
    };
    const { engine, store } = await handEngine("http://127.0.0.1:9", { transport, clock: new InstantClock() });
    lifecycle = new Lifecycle({ store, sequences: engine });
    try {
      const subs = await seedEnrolled(store, engine, 5, T0);
      erasedEmail = subs[2]!.email;
      expect(await engine.tick(T0)).toMatchObject({ sent: 4 });
      expect(calls).toHaveLength(2);
      expect(calls[1]!.key).toBe(calls[0]!.key);
      expect(calls[0]!.to).toContain(erasedEmail); // the first attempt was composed before the request
      expect(calls[1]!.to).not.toContain(erasedEmail);
      expect(calls[1]!.to.sort()).toEqual(
        subs
          .filter((_s, i) => i !== 2)
          .map((s) => s.email)
          .sort(),
      );
      expect(await pendingBatches(store)).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
