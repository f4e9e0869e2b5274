/**
 * The whole subscriber journey on each backend (issue 12: "passes on Postgres as on SQLite"):
 * signup over HTTP, the confirmation email and its button, the course's first email on the
 * next tick, one-click unsubscribe from that email's List-Unsubscribe URL, and signed Resend
 * webhooks (stored once per delivery id; a hard bounce suppresses). The same steps run on a
 * SQLite file and on the run's PostgreSQL server (one database for this file).
 */
import { Webhook } from "standardwebhooks";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { cleanupTempDirs } from "../support/engine-helpers.ts";
import { pgDatabase } from "../support/pg.ts";
import { DAY, type Harness, WEBHOOK_SECRET, activeReader, harness, pageText, unsubscribeUrl } from "./harness.ts";

const pg = pgDatabase("drip_journey");
afterAll(() => cleanupTempDirs());

function signed(h: Harness, id: string, type: string, data: Record<string, unknown>): RequestInit {
  const payload = JSON.stringify({
    type,
    created_at: h.now().toISOString(),
    data: { created_at: h.now().toISOString(), from: "x@clinic.example", subject: "s", ...data },
  });
  const at = new Date();
  return {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "svix-id": id,
      "svix-timestamp": String(Math.floor(at.getTime() / 1000)),
      "svix-signature": new Webhook(WEBHOOK_SECRET).sign(id, at, payload),
    },
    body: payload,
  };
}

describe.each(["sqlite", "postgres"] as const)("the subscriber journey on %s", (backend) => {
  let h: Harness | null = null;
  afterEach(async () => {
    await h?.close();
    h = null;
  });

  it("signup, confirm, the course's first email, one-click unsubscribe, webhooks", async () => {
    if (backend === "postgres") await pg.reset();
    h = await harness(backend === "postgres" ? { env: { DATABASE_URL: pg.url } } : {});
    expect(h.app.store.constructor.name).toBe(backend === "postgres" ? "PostgresStore" : "SqliteStore");
    const ann = await activeReader(h, "ann@example.com");
    const bob = await activeReader(h, "bob@example.com");
    expect((await h.app.store.getSubscriber(ann.id))?.status).toBe("active");
    expect((await h.app.store.listSends({ subscriberId: ann.id, statuses: ["sent"] })).map((s) => s.stepId)).toEqual(["article"]);

    // One-click unsubscribe, as a mailbox provider posts it.
    const res = await h.req(unsubscribeUrl(ann.article), {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "List-Unsubscribe=One-Click",
    });
    expect(res.status).toBe(200);
    expect(await pageText(res)).toContain("You're unsubscribed");
    expect((await h.app.store.getSubscriber(ann.id))?.status).toBe("unsubscribed");

    // Webhooks: a delivery is stored once (a replay changes nothing); a hard bounce suppresses.
    const delivered = signed(h, "msg_delivered_1", "email.delivered", { to: ["bob@example.com"] });
    expect((await (await h.req("/webhooks/resend", delivered)).json()) as unknown).toMatchObject({ ok: true, result: "stored" });
    const replay = await h.req("/webhooks/resend", signed(h, "msg_delivered_1", "email.delivered", { to: ["bob@example.com"] }));
    expect(replay.status).toBe(200);
    expect(await replay.json()).not.toMatchObject({ result: "stored" });
    const bounce = await h.req("/webhooks/resend", signed(h, "msg_bounce_1", "email.bounced", { to: ["bob@example.com"], bounce: { type: "Permanent" } }));
    expect(bounce.status).toBe(200);
    expect((await h.app.store.getSubscriber(bob.id))?.status).toBe("suppressed");
    expect(await h.app.store.isSuppressed("BOB@example.com")).toBe(true);

    // Days later nobody who left gets anything more.
    const before = h.files().length;
    for (let d = 1; d <= 5; d++) await h.tick(h.advance(DAY));
    expect(h.files().length).toBe(before);
    expect((await h.app.store.status()).enrollments).toMatchObject({ active: 0, exited: 2 });
  });
});
