import type { Command } from "commander";
import { z } from "zod";
import { loadConfig } from "../../config.ts";
import { buildLinks } from "../../render/links.ts";
import { renderStep } from "../../render/render.ts";
import { SAMPLE_SUBSCRIBER } from "../../sequences/check.ts";
import { type CliIO, UsageError } from "../io.ts";
import { findSequence } from "./sequences.ts";

const subscriberSchema = z
  .object({
    email: z.email().default(SAMPLE_SUBSCRIBER.email),
    name: z.string().default(SAMPLE_SUBSCRIBER.name),
    timezone: z.string().default(SAMPLE_SUBSCRIBER.timezone),
    tags: z.array(z.string()).default([]),
  })
  .strict();

export function parseSubscriberJson(json: string | undefined) {
  if (json === undefined) return SAMPLE_SUBSCRIBER;
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new UsageError(`--subscriber is not valid JSON: pass an object such as '{"name":"Ana","timezone":"Europe/Lisbon"}'`);
  }
  const parsed = subscriberSchema.safeParse(raw);
  if (!parsed.success) throw new UsageError(`--subscriber: ${z.prettifyError(parsed.error).replace(/\n/g, " ")}`);
  return parsed.data;
}

export function previewCommand(program: Command, io: CliIO) {
  program
    .command("preview")
    .description("Render one step for a subscriber and print its HTML or text part")
    .argument("<sequence>", "sequence id (see drip list)")
    .argument("<step>", "step id")
    .option("--format <format>", "html or text", "html")
    .option("--subscriber <json>", 'subscriber fields, e.g. \'{"name":"Ana","tags":["booked"]}\'')
    .action(async (sequenceId: string, stepId: string, opts: { format: string; subscriber?: string }) => {
      if (opts.format !== "html" && opts.format !== "text") throw new UsageError(`--format must be html or text, not "${opts.format}"`);
      const subscriber = parseSubscriberJson(opts.subscriber);
      const sequence = await findSequence(io, sequenceId);
      const step = sequence.steps.find((s) => s.id === stepId);
      if (!step) throw new UsageError(`sequence "${sequenceId}" has no step "${stepId}": its steps are ${sequence.steps.map((s) => s.id).join(", ")}`);
      const config = loadConfig(io.env);
      const links = buildLinks(config, "preview-token.0000", sequence.id, step.id);
      const email = await renderStep({ sequence, step, subscriber, links, postalAddress: config.postalAddress, list: config, emailsDir: config.emailsDir });
      if (opts.format === "html") io.out(email.html.endsWith("\n") ? email.html : `${email.html}\n`);
      else io.out(`Subject: ${email.subject}\nPreview: ${email.preview}\n\n${email.text}`);
    });
}
