/**
 * The race between a tick and subscribers using their preferences page: `due` subscribers
 * have step one due at T0; the tick runs through the real Resend SDK against the local double,
 * and while its first batch request is held at the double, `actors` of them act through the
 * HTTP app's preferences routes, exactly as a browser posts the form (token from an email
 * link, the page's CSRF token, the site's Origin): change time zone, pause, pause then resume,
 * change name. Then ticks run (on the test's clock) until nothing is claimed.
 *
 * It uses product code only through HTTP routes, engine.tick and store reads (listSends,
 * getSubscriber), plus the delivery helpers' seeding.
 */
import { expect } from "vitest";
import { createHttpApp } from "../../src/http/app.ts";
import { signToken } from "../../src/tokens.ts";
import type { App } from "../../src/wiring.ts";
import type { SendRecord } from "../../src/store/types.ts";
import { COURSE, MINUTE, T0, deliveryApp, plus, seedEnrolled, tally } from "./delivery-helpers.ts";
import { makePrng } from "./resend-double-rules.ts";
import { type ResendDouble, startResendDouble } from "./resend-double.ts";
import { TestClock } from "./test-clock.ts";
import { httpDeps } from "../../src/wiring.ts";

export type Action = "timezone" | "pause" | "resume" | "name";
export const ACTIONS: readonly Action[] = ["timezone", "pause", "resume", "name"];

/**
 * Zones where T0 (Monday 10:00 UTC) is inside the course's 08:00–20:00 send window, so step
 * one ("immediately") stays due at T0 after the move: whoever moves must still get it, once.
 */
export const ZONES_OPEN_AT_T0 = ["Europe/Paris", "Europe/Berlin", "Europe/Madrid", "Europe/Athens", "Africa/Cairo", "Asia/Dubai"] as const;

export interface Actor {
  id: string;
  email: string;
  action: Action;
  /** The new zone or name, for the actions that change one. */
  value?: string;
}

export interface RaceRun {
  seed: number;
  due: number;
  actors: Actor[];
  /** Actors whose step-one send was claimed but not yet sent when the actions began. */
  actorsHoldingClaims: number;
  /** HTTP statuses of every action request, in order of completion. */
  actionStatuses: number[];
  /** Deliveries at the double per "recipient step" (step tag), and the duplicates among them. */
  perRecipientStep: Map<string, number>;
  duplicates: [string, number][];
  /** Deliveries of step one per subscriber email. */
  articleDeliveries: Map<string, number>;
  sends: SendRecord[];
  /** Subscriber id → email, for every seeded subscriber. */
  emails: Map<string, string>;
  ticks: number;
  app: App;
  double: ResendDouble;
  http: ReturnType<typeof createHttpApp>;
  tokenOf: (id: string) => string;
  close: () => Promise<void>;
}

export const ORIGIN_HEADERS = (publicUrl: string) => ({ "content-type": "application/x-www-form-urlencoded", origin: new URL(publicUrl).origin });

/** Run the race once: `due` subscribers with step one due at T0, `actorCount` of them acting while the tick's first batch is in flight. */
export async function raceTickAgainstActions(opts: { seed: number; due: number; actors: number; rateLimit?: number }): Promise<RaceRun> {
  const clock = new TestClock(T0);
  const rand = makePrng(opts.seed);
  let fire: (() => Promise<void>) | null = null;
  let fired: Promise<void> | null = null;
  const double = await startResendDouble({
    // The double's clock is the test's; its rate limit is out of the way (drip's own limiter paces requests).
    now: clock.now,
    rateLimit: 100_000,
    seed: opts.seed,
    // The first batch request waits at the double until every action has been answered.
    onRequest: async (r) => {
      if (r.path !== "/emails/batch" || !fire) return;
      if (!fired) fired = fire();
      await fired;
    },
  });
  const { app } = await deliveryApp(double.url, opts.rateLimit ?? 50);
  const http = createHttpApp(httpDeps(app, { now: () => clock.date() }));
  const env = { incoming: { socket: { remoteAddress: "203.0.113.7", remotePort: 40000, remoteFamily: "IPv4" } } };
  const request = (path: string, init?: RequestInit) => http.request(`${app.config.publicUrl}${path}`, init, env);
  const tokenOf = (id: string) => signToken(app.secret, "manage", id);
  const close = async () => {
    await app.close();
    await double.close();
  };

  try {
    const subs = await seedEnrolled(app.store, app.engine, opts.due, T0);
    // A seeded choice of who acts and how.
    const order = subs.map((s) => s.id);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const byId = new Map(subs.map((s) => [s.id, s]));
    const actors: Actor[] = order.slice(0, opts.actors).map((id, k) => {
      const action = ACTIONS[k % ACTIONS.length]!;
      const email = byId.get(id)!.email;
      if (action === "timezone") return { id, email, action, value: ZONES_OPEN_AT_T0[Math.floor(rand() * ZONES_OPEN_AT_T0.length)]! };
      if (action === "name") return { id, email, action, value: `Renamed ${k}` };
      return { id, email, action };
    });

    // Each actor has their preferences page open (from the link in an email) before the tick.
    const csrf = new Map<string, string>();
    for (const a of actors) {
      const page = await (await request(`/preferences/${tokenOf(a.id)}`)).text();
      const m = /<input type="hidden" name="csrf" value="([^"]*)"/.exec(page);
      if (!m) throw new Error(`no csrf field on ${a.email}'s preferences page`);
      csrf.set(a.id, m[1]!);
    }
    const headers = ORIGIN_HEADERS(app.config.publicUrl);
    const post = async (a: Actor, fields: Record<string, string>) => {
      const res = await request(`/preferences/${tokenOf(a.id)}`, {
        method: "POST",
        headers,
        body: new URLSearchParams({ csrf: csrf.get(a.id)!, ...fields }).toString(),
      });
      actionStatuses.push(res.status);
    };
    const actionStatuses: number[] = [];
    let actorsHoldingClaims = -1;
    fire = async () => {
      const claimed = new Set((await app.store.listSends({ sequenceId: COURSE, statuses: ["claimed"] })).map((s) => s.subscriberId));
      actorsHoldingClaims = actors.filter((a) => claimed.has(a.id)).length;
      await Promise.all(
        actors.map(async (a) => {
          if (a.action === "timezone") return post(a, { action: "profile", name: byId.get(a.id)!.name, timezone: a.value! });
          if (a.action === "name") return post(a, { action: "profile", name: a.value!, timezone: byId.get(a.id)!.timezone });
          await post(a, { action: "pause" });
          if (a.action === "resume") await post(a, { action: "resume" });
        }),
      );
    };

    // The tick, then ticks a minute apart (on the test's clock) until nothing is claimed.
    let now = T0;
    let ticks = 0;
    for (; ticks < 15; ticks++) {
      await app.engine.tick(clock.set(now));
      if ((await app.store.listSends({ statuses: ["claimed"], limit: 1 })).length === 0 && ticks > 0) break;
      now = plus(now, MINUTE);
    }
    ticks++;

    const perRecipientStep = tally(double.delivered.map((e) => `${e.to[0]} ${e.tags?.find((t) => t.name === "step")?.value ?? "?"}`));
    const duplicates = [...perRecipientStep].filter(([, n]) => n > 1);
    const articleDeliveries = tally(double.delivered.filter((e) => e.tags?.some((t) => t.name === "step" && t.value === "article")).map((e) => e.to[0]!));
    const sends = await app.store.listSends({ sequenceId: COURSE });
    const emails = new Map(subs.map((x) => [x.id, x.email]));
    return {
      seed: opts.seed,
      due: opts.due,
      actors,
      actorsHoldingClaims,
      actionStatuses,
      perRecipientStep,
      duplicates,
      articleDeliveries,
      sends,
      emails,
      ticks,
      app,
      double,
      http,
      tokenOf,
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/**
 * What must hold after the race, whatever the interleaving:
 * - the provider got each recipient each step at most once (counted at the double by
 *   recipient + step tag), and drip's `sent` rows match the provider's deliveries one for one;
 * - everyone who did not pause got step one exactly once, recorded `sent` (a time-zone move
 *   to a zone where the window is open, a resume, a name change: none of these cancels it);
 * - whoever paused got it at most once: once if their send was already claimed when they
 *   paused (recorded `sent`), otherwise it is held (no `sent` row; skipped only with a
 *   reason) and their preferences page says the course is paused;
 * - nothing is left claimed, and every action took effect (303, and the profile changed).
 */
export async function expectEachDueSendOnce(run: RaceRun): Promise<void> {
  const resumes = run.actors.filter((a) => a.action === "resume").length;
  expect(run.actionStatuses, "every action answered 303 (post/redirect/get)").toEqual(Array(run.actors.length + resumes).fill(303));
  // The actions really landed while the tick held claims (else this test proves nothing).
  expect(run.actorsHoldingClaims, "actors whose send was claimed and not yet sent when they acted").toBeGreaterThan(0);

  const delivered = run.double.delivered;
  const sent = run.sends.filter((s) => s.status === "sent");
  const providerIds = new Set(delivered.map((e) => e.id));
  expect(
    {
      deliveries: delivered.length,
      distinctRecipientSteps: run.perRecipientStep.size,
      duplicateRecipientSteps: run.duplicates.length,
      extraEmails: delivered.length - run.perRecipientStep.size,
      sentRows: sent.length,
      claimedRows: run.sends.filter((s) => s.status === "claimed").length,
    },
    `seed ${run.seed}: duplicates at the provider, e.g. ${run.duplicates
      .slice(0, 3)
      .map(([k, n]) => `${k} ×${n}`)
      .join(", ")}`,
  ).toEqual({
    deliveries: run.perRecipientStep.size,
    distinctRecipientSteps: run.perRecipientStep.size,
    duplicateRecipientSteps: 0,
    extraEmails: 0,
    sentRows: run.perRecipientStep.size,
    claimedRows: 0,
  });
  // One sent row per provider message, each pointing at a message the provider holds.
  expect(new Set(sent.map((s) => s.providerMessageId)).size).toBe(sent.length);
  expect(sent.every((s) => s.providerMessageId !== null && providerIds.has(s.providerMessageId))).toBe(true);

  const action = new Map(run.actors.map((a) => [a.id, a]));
  const article = new Map(run.sends.filter((s) => s.stepId === "article").map((s) => [s.subscriberId, s]));
  const wrong: string[] = [];
  const held: string[] = [];
  for (const [id, email] of run.emails) {
    const got = run.articleDeliveries.get(email) ?? 0;
    const row = article.get(id);
    const a = action.get(id);
    if (a?.action !== "pause") {
      if (got !== 1 || row?.status !== "sent") wrong.push(`${email} (${a?.action ?? "no action"}): ${got} deliveries, row ${row?.status ?? "none"}`);
    } else if (got === 1) {
      if (row?.status !== "sent") wrong.push(`${email} (pause): delivered once, row ${row?.status ?? "none"}`);
    } else if (got === 0) {
      if (row && row.status !== "skipped") wrong.push(`${email} (pause): not delivered, row ${row.status}`);
      if (row && !row.reason) wrong.push(`${email} (pause): skipped without a reason`);
      held.push(id);
    } else wrong.push(`${email} (pause): ${got} deliveries`);
  }
  expect(wrong, `seed ${run.seed}: step one not exactly once`).toEqual([]);

  // Held ones are held by the pause, as the subscriber sees it.
  for (const id of held) {
    const page = await (await run.http.request(`${run.app.config.publicUrl}/preferences/${run.tokenOf(id)}`)).text();
    expect(page, `${run.emails.get(id)} held without a paused course`).toContain("Your course is paused.");
  }
  // Every action took effect.
  for (const a of run.actors) {
    const s = await run.app.store.getSubscriber(a.id);
    if (a.action === "timezone") expect(s?.timezone).toBe(a.value);
    if (a.action === "name") expect(s?.name).toBe(a.value);
  }
}
