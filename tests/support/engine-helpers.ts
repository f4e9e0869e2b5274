/**
 * Shared pieces of the engine, store and CLI tests: temp dirs, an in-memory engine with a
 * tiny inline sequence, scripted transports, outbox parsing (mailparser) and an independent
 * local-time formatter (Intl, not the code under test's Temporal helpers).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createElement as h } from "react";
import { Text } from "react-email";
import { type ParsedMail, simpleParser } from "mailparser";
import { Layout } from "../../emails/components/layout.tsx";
import type { DeliveryResult, OutgoingMessage, Transport } from "../../src/delivery/transport.ts";
import { Engine, type EngineOptions } from "../../src/engine/engine.ts";
import { Lifecycle } from "../../src/lifecycle/lifecycle.ts";
import { EMAILS_DIR } from "../../src/paths.ts";
import { realClock } from "../../src/delivery/rate-limiter.ts";
import { day, defineSequence, immediately } from "../../src/sequences/define.ts";
import type { EmailProps, Sequence, StepDefinition } from "../../src/sequences/types.ts";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const SECRET = "s".repeat(40);

/** A fresh temp dir per call; `cleanupTempDirs()` in afterAll/afterEach removes them all. */
const made: string[] = [];
export function tempDir(prefix = "drip-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}
export function cleanupTempDirs(): void {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** A tiny template rendered inside the real shared layout (footer, unsubscribe link, address). */
export function TinyEmail(props: EmailProps) {
  // biome-ignore lint/correctness/noChildrenProp: createElement without JSX; Layout types its children as a required prop
  return h(Layout, { ...props, children: h(Text, null, `Hello ${props.subscriber.name || "there"}.`) });
}

/** A tiny valid sequence: welcome now, tips day 1 09:00, bye day 3 09:00 (London by default). */
export function tinySequence(opts: { id?: string; allowReentry?: boolean; steps?: StepDefinition[] } = {}): Sequence {
  return defineSequence({
    id: opts.id ?? "tiny",
    name: "Tiny",
    sender: { name: "Tiny sender", organization: "Tiny Clinic" },
    reason: "You get this because a test enrolled you.",
    defaultTimezone: "Europe/London",
    sendWindow: { start: "08:00", end: "20:00", weekdays: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] },
    allowReentry: opts.allowReentry ?? false,
    steps: opts.steps ?? [
      { id: "welcome", schedule: immediately(), template: TinyEmail, subject: "Welcome", preview: "The first email." },
      { id: "tips", schedule: day(1, "09:00"), template: TinyEmail, subject: "Tips", preview: "The second email." },
      { id: "bye", schedule: day(3, "09:00"), template: TinyEmail, subject: "Bye", preview: "The last email." },
    ],
  });
}

export type Reply = DeliveryResult | ((msg: OutgoingMessage, n: number) => DeliveryResult | Promise<DeliveryResult>);

/** A transport that records every message (and when it was handed over) and answers as scripted. */
export class ScriptedTransport implements Transport {
  readonly name = "outbox" as const;
  readonly calls: OutgoingMessage[] = [];
  constructor(private reply: Reply = { ok: true, providerMessageId: null }) {}
  setReply(reply: Reply) {
    this.reply = reply;
  }
  async send(msg: OutgoingMessage): Promise<DeliveryResult> {
    this.calls.push(msg);
    return typeof this.reply === "function" ? this.reply(msg, this.calls.length) : this.reply;
  }
  stepsTo(email: string): string[] {
    return this.calls.filter((m) => m.to === email).map((m) => m.tags.find((t) => t.name === "step")?.value ?? "?");
  }
}

/** An engine over `new SqliteStore(":memory:")` (migrated) with the given sequences and transport. */
export async function memoryEngine(opts: { sequences?: Sequence[]; transport?: Transport; engine?: Partial<EngineOptions> } = {}) {
  const store = new SqliteStore(":memory:");
  await store.migrate();
  const transport = opts.transport ?? new ScriptedTransport();
  const engine = new Engine({
    store,
    sequences: opts.sequences ?? [tinySequence()],
    transport,
    links: { publicUrl: "https://drip.example.com", bookingUrl: "https://clinic.example.com/book", siteUrl: "https://clinic.example.com" },
    secret: SECRET,
    from: "hello@clinic.example.com",
    postalAddress: "Tiny Clinic, 1 Example Street, Example Town",
    emailsDir: EMAILS_DIR,
    clock: realClock,
    ...opts.engine,
  });
  // Subscriber changes go through the lifecycle door, as in the app.
  const lifecycle = new Lifecycle({ store, sequences: engine });
  return { store, engine, transport, lifecycle };
}

/** Every .eml in `dir`, parsed by mailparser, sorted by file name. */
export async function readOutbox(dir: string): Promise<{ file: string; raw: string; mail: ParsedMail }[]> {
  let files: string[];
  try {
    files = readdirSync(dir)
      .filter((f) => f.endsWith(".eml"))
      .sort();
  } catch {
    return [];
  }
  return Promise.all(
    files.map(async (file) => {
      const raw = readFileSync(join(dir, file), "utf8");
      return { file, raw, mail: await simpleParser(raw) };
    }),
  );
}

/** A header's raw value as written in the file (unfolded), from mailparser's header lines. */
export function rawHeader(mail: ParsedMail, name: string): string | undefined {
  const line = mail.headerLines.find((l) => l.key === name.toLowerCase())?.line;
  return line?.replace(/\r?\n(?=[ \t])/g, "").replace(/^[^:]+:\s*/, "");
}

/** The first address of a parsed To/From header. */
export function addressOf(field: ParsedMail["to"] | ParsedMail["from"]): { address: string; name: string } | undefined {
  const obj = Array.isArray(field) ? field[0] : field;
  const a = obj?.value[0];
  return a ? { address: a.address ?? "", name: a.name } : undefined;
}

/** "YYYY-MM-DD HH:mm GMT±hh:mm" in `zone`, computed with Intl (independent of src/schedule). */
export function localStamp(at: Date, zone: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-GB", {
      timeZone: zone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
      timeZoneName: "longOffset",
    })
      .formatToParts(at)
      .map((p) => [p.type, p.value]),
  );
  const offset = parts.timeZoneName === "GMT" ? "GMT+00:00" : parts.timeZoneName;
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute} ${offset}`;
}

export const at = (iso: string) => new Date(iso);

/** Run the CLI in-process with captured output, a given env and cwd, and a fixed clock. */
export async function runDrip(
  argv: readonly string[],
  opts: { env: Record<string, string | undefined>; cwd: string; now?: Date | (() => Date) },
): Promise<{ code: number; out: string; err: string }> {
  const { runCli } = await import("../../src/cli/main.ts");
  let out = "";
  let err = "";
  const now = opts.now ?? new Date("2026-10-28T12:00:00Z");
  const code = await runCli(argv, {
    out: (s) => void (out += s),
    err: (s) => void (err += s),
    env: opts.env,
    cwd: opts.cwd,
    now: typeof now === "function" ? now : () => now,
    isTTY: false,
  });
  return { code, out, err };
}
