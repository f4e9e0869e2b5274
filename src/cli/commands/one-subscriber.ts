/**
 * Staff commands for one subscriber: `drip show` (details and why they left, tags, consent,
 * topics, enrollments with their next send, every send with its status and reason, the
 * automations that fired and why, and the history from the dashboard's timeline query), `drip pause|resume`, and
 * `drip update --name --tz` (a new zone re-plans the pending steps). Changes go through the
 * lifecycle door.
 */
import type { Command } from "commander";
import { subscriberInputSchema } from "../../lifecycle/input.ts";
import type { App } from "../../wiring.ts";
import { type CliIO, UsageError, WorkError, printJson } from "../io.ts";
import { withApp } from "./app-context.ts";

async function find(app: App, email: string) {
  const sub = await app.store.findSubscriberByEmail(email);
  if (!sub) throw new WorkError(`no subscriber ${email} (see drip export for the list)`);
  return sub;
}

export function oneSubscriberCommands(program: Command, io: CliIO) {
  program
    .command("show")
    .description(
      "One subscriber: details (and why they left), topics with consent, enrollments with the next send, the automations that fired for them and why, and the history of every send and event with reasons",
    )
    .argument("<email>", "email address")
    .option(
      "--json",
      "print {subscriber, topics: [{topicId, status, consentAt, consentSource, leftAt}], enrollments: [{sequenceId, status, reason, nextStepId, nextDueAt}], sends: [{id, stepId, status, attempts, dueAt, sentAt, reason}], automations: [{automationId, trigger, firedAt, outcome, detail, enrolled}], timeline: [{at, kind, sequenceId, stepId, sendId, detail}]}",
    )
    .action(async (email: string, opts: { json?: boolean }) => {
      await withApp(
        io,
        async (app) => {
          const s = await find(app, email);
          const iso = (d: Date | null | undefined) => d?.toISOString() ?? null;
          const enrollments = (await app.store.listEnrollments(s.id)).map((e) => ({
            sequenceId: e.sequenceId,
            status: e.status,
            reason: e.reason,
            startedAt: e.startedAt.toISOString(),
            nextStepId: e.nextStepId,
            nextDueAt: iso(e.nextDueAt),
          }));
          const sends = (await app.store.listSends({ subscriberId: s.id })).map((x) => ({
            id: x.id,
            sequenceId: x.sequenceId,
            stepId: x.stepId,
            status: x.status,
            attempts: x.attempts,
            dueAt: x.dueAt.toISOString(),
            sentAt: iso(x.sentAt),
            reason: x.reason,
          }));
          const topics = (await app.store.listTopicMemberships(s.id)).map((t) => ({
            topicId: t.topicId,
            status: t.status,
            consentAt: t.consentAt.toISOString(),
            consentSource: t.consentSource,
            leftAt: iso(t.leftAt),
          }));
          const automations = (await app.store.automationRuns(s.id)).map((r) => ({
            automationId: r.automationId,
            trigger: r.trigger,
            firedAt: r.firedAt.toISOString(),
            outcome: r.outcome,
            detail: r.detail,
            enrolled: r.enrolled,
          }));
          // The dashboard's profile page reads the same query: one history, two views.
          const timeline = (await app.store.subscriberTimeline(s.id)).map((e) => ({
            at: e.at.toISOString(),
            kind: e.kind,
            sequenceId: e.sequenceId ?? null,
            stepId: e.stepId ?? null,
            sendId: e.sendId ?? null,
            detail: e.detail,
          }));
          const left = (await app.store.statusReasons([s.id])).get(s.id) ?? null;
          const subscriber = {
            id: s.id,
            email: s.email,
            name: s.name,
            timezone: s.timezone,
            status: s.status,
            statusReason: left?.reason ?? null,
            tags: s.tags,
            consent: { source: s.consentSource, at: iso(s.consentAt), ip: s.consentIp },
            createdAt: s.createdAt.toISOString(),
            unsubscribedAt: iso(s.unsubscribedAt),
          };
          if (opts.json) return printJson(io, { subscriber, topics, enrollments, sends, automations, timeline });
          const row = (k: string, v: string) => io.out(`${k.padEnd(12)} ${v}\n`);
          row("email", s.email);
          row("name", s.name || "(none)");
          row("time zone", s.timezone || "(none: the sequence's)");
          row("status", s.status + (s.unsubscribedAt ? ` since ${subscriber.unsubscribedAt}` : "") + (left ? ` (${left.reason})` : ""));
          row("tags", s.tags.join(", ") || "(none)");
          row("consent", `${s.consentSource ?? "unknown"} at ${subscriber.consent.at ?? "unknown"}${s.consentIp ? ` from ${s.consentIp}` : ""}`);
          for (const t of topics)
            row("topic", `${t.topicId}: ${t.status}, consent ${t.consentSource} at ${t.consentAt}${t.leftAt ? `, left at ${t.leftAt}` : ""}`);
          for (const e of enrollments)
            row(
              "enrollment",
              `${e.sequenceId}: ${e.status}${e.reason ? ` (${e.reason})` : ""}${e.nextStepId ? `, next ${e.nextStepId} at ${e.nextDueAt}` : ""}`,
            );
          if (sends.length === 0) row("sends", "none yet");
          for (const x of sends) row("send", `${x.sequenceId}/${x.stepId}  ${x.status}  ${x.sentAt ?? x.dueAt}  ${x.id}${x.reason ? `  ${x.reason}` : ""}`);
          if (automations.length === 0) row("automations", "none fired");
          for (const a of automations) row("automation", `${a.automationId} on ${a.trigger} at ${a.firedAt}: ${a.detail || a.outcome} (${a.outcome})`);
          io.out("\nhistory\n");
          const w = Math.max(4, ...timeline.map((e) => e.kind.length));
          for (const e of timeline)
            io.out(`  ${e.at}  ${e.kind.padEnd(w)}  ${e.sequenceId ? `${e.sequenceId}${e.stepId ? `/${e.stepId}` : ""}  ` : ""}${e.detail}\n`);
        },
        { quiet: true },
      );
    });

  for (const [name, verb] of [
    ["pause", "Pause"],
    ["resume", "Resume"],
  ] as const) {
    program
      .command(name)
      .description(
        `${verb} a subscriber's running courses${name === "resume" ? " (a missed step goes out in the next send window)" : " (nothing more is sent until resumed)"}`,
      )
      .argument("<email>", "email address")
      .action(async (email: string) => {
        await withApp(io, async (app) => {
          const s = await find(app, email);
          const n = name === "pause" ? await app.lifecycle.pause(s) : await app.lifecycle.resume(s);
          io.out(`${name === "pause" ? "paused" : "resumed"}: ${s.email} (${n} course${n === 1 ? "" : "s"})\n`);
        });
      });
  }

  program
    .command("update")
    .description("Change a subscriber's name or time zone; a new zone re-plans the steps still to come")
    .argument("<email>", "email address")
    .option("--name <name>", 'first name ("" to clear it)')
    .option("--tz <zone>", "IANA time zone, e.g. Europe/London")
    .action(async (email: string, opts: { name?: string; tz?: string }) => {
      if (opts.name === undefined && opts.tz === undefined) throw new UsageError("say what to change: --name and/or --tz");
      const parsed = subscriberInputSchema.safeParse({ email, name: opts.name ?? "", timezone: opts.tz ?? "" });
      if (!parsed.success) throw new UsageError(parsed.error.issues[0]!.message);
      await withApp(io, async (app) => {
        const s = await find(app, email);
        await app.lifecycle.updateProfile(s, {
          ...(opts.name !== undefined ? { name: parsed.data.name } : {}),
          ...(opts.tz !== undefined ? { timezone: parsed.data.timezone } : {}),
        });
        const after = await find(app, email);
        io.out(`updated: ${after.email} (name "${after.name}", time zone ${after.timezone || "the sequence's"})\n`);
      });
    });
}
