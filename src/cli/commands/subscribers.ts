import type { Command } from "commander";
import { z } from "zod";
import { subscriberInputSchema } from "../../lifecycle/input.ts";
import { type CliIO, UsageError, WorkError, printJson } from "../io.ts";
import { guardTimeTravel, instant, withApp } from "./app-context.ts";

function parseInput(fields: unknown) {
  const parsed = subscriberInputSchema.safeParse(fields);
  if (!parsed.success) throw new UsageError(z.prettifyError(parsed.error).replace(/\n/g, " "));
  return parsed.data;
}

export function subscriberCommands(program: Command, io: CliIO) {
  program
    .command("subscribe")
    .description("Add a subscriber; with --confirmed they are active at once and enrolled in the sequence")
    .argument("<email>", "email address")
    .option("--name <name>", "first name")
    .option("--tz <zone>", "IANA time zone, e.g. Europe/London (default: the sequence's)")
    .option("--sequence <id>", "sequence to enroll in (default: the first one)")
    .option("--at <instant>", "when they subscribed/confirmed (ISO 8601, default: now)")
    .option("--confirmed", "consent already confirmed (skip double opt-in)")
    .option("--allow-time-travel", "accept an --at more than 24 hours in the future (the course would start then)")
    .option("--json", "print the result as JSON")
    .option("--topic <id...>", "also join these topics (newsletters/topics.ts), consent recorded as given to staff")
    .action(
      async (
        email: string,
        opts: { name?: string; tz?: string; sequence?: string; at?: string; confirmed?: boolean; allowTimeTravel?: boolean; json?: boolean; topic?: string[] },
      ) => {
        const input = parseInput({ email, name: opts.name, timezone: opts.tz });
        // Back-dating is how people who subscribed elsewhere come in; only a future start is refused.
        const now = guardTimeTravel(instant(opts.at, io, "--at"), io, "--at", { allowed: opts.allowTimeTravel, direction: "future" });
        await withApp(io, async (app) => {
          // Topics join in the subscribe's own transaction (an unknown one is refused before anything is written).
          const res = await app.lifecycle.subscribe(
            input,
            { sequenceId: opts.sequence, confirmed: Boolean(opts.confirmed), source: "cli", topics: opts.topic ?? [] },
            now,
          );
          if (res.kind === "suppressed") throw new WorkError(`${email} is on the suppression list (bounced, complained or forgotten) and cannot be added`);
          if (opts.json)
            return printJson(io, {
              id: res.subscriber.id,
              email: res.subscriber.email,
              status: res.subscriber.status,
              created: res.created,
              enrolled: res.enrolled,
            });
          io.out(`${res.created ? "added" : "already known"}: ${res.subscriber.email} (${res.subscriber.status}); enrollment: ${res.enrolled}\n`);
        });
      },
    );

  program
    .command("unsubscribe")
    .description("Unsubscribe an address from everything, at once")
    .argument("<email>", "email address")
    .action(async (email: string) => {
      await withApp(io, async (app) => {
        const sub = await app.store.findSubscriberByEmail(email);
        if (!sub) throw new WorkError(`no subscriber ${email}`);
        await app.lifecycle.unsubscribe(sub, io.now(), "cli");
        io.out(`unsubscribed: ${sub.email}\n`);
      });
    });

  for (const [name, verb] of [
    ["tag", "Add a tag to"],
    ["untag", "Remove a tag from"],
  ] as const) {
    program
      .command(name)
      .description(`${verb} a subscriber (e.g. "booked" makes booking steps skip)`)
      .argument("<email>", "email address")
      .argument("<tag>", "tag")
      .action(async (email: string, tag: string) => {
        if (!/^[\w:.-]{1,64}$/.test(tag)) throw new UsageError(`tag "${tag}" must be 1–64 letters, digits, _ : . or -`);
        await withApp(io, async (app) => {
          const sub = await app.store.findSubscriberByEmail(email);
          if (!sub) throw new WorkError(`no subscriber ${email}`);
          if (name === "tag") await app.lifecycle.tag(sub, tag, io.now());
          else await app.lifecycle.untag(sub, tag);
          io.out(`${name === "tag" ? "tagged" : "untagged"}: ${sub.email} ${tag}\n`);
        });
      });
  }

  program
    .command("event")
    .description('Record an event from the booking system: "booked" tags the subscriber, skips booking steps and credits the last email they engaged with')
    .argument("<email>", "email address")
    .argument("<name>", 'the event: "booked"')
    .option("--at <instant>", "when it happened (ISO 8601, default: now)")
    .action(async (email: string, name: string, opts: { at?: string }) => {
      if (name !== "booked") throw new UsageError(`unknown event "${name}": the only event is "booked"`);
      const at = instant(opts.at, io, "--at");
      await withApp(io, async (app) => {
        const sub = await app.store.findSubscriberByEmail(email);
        if (!sub) throw new WorkError(`no subscriber ${email}`);
        const { creditedSend, automations } = await app.lifecycle.recordBooking(sub, at, io.now());
        const fired = automations.fired
          ? `; ${automations.fired} automation${automations.fired === 1 ? "" : "s"} fired (${automations.entered} sequence${automations.entered === 1 ? "" : "s"} started)`
          : "";
        io.out(`booked: ${sub.email}${creditedSend ? ` (credited to send ${creditedSend})` : " (no email engagement to credit)"}${fired}\n`);
      });
    });

  program
    .command("forget")
    .description("Erase a subscriber's personal data; a hashed suppression entry keeps them from being re-added by an import")
    .argument("<email>", "email address")
    .action(async (email: string) => {
      await withApp(io, async (app) => {
        const res = await app.lifecycle.forget(email, io.now());
        io.out(`${res === "erased" ? "erased" : "no subscriber, suppressed anyway"}: ${email}\n`);
      });
    });
}
