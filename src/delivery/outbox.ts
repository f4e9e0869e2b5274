/**
 * The outbox transport: each message becomes a real RFC 5322 .eml file (built by
 * nodemailer's MailComposer, with both parts and every header). The file is named after the
 * send id and written through a temp file + rename, so a retried send overwrites rather than
 * duplicates, and a crash never leaves a half-written message behind. The folder is created
 * on the first send: a folder drip cannot create fails the sends (with the reason), never the
 * commands that send nothing (unsubscribe, status, import).
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import MailComposer from "nodemailer/lib/mail-composer/index.js";
import { domainOf } from "../render/render.ts";
import type { DeliveryResult, OutgoingMessage, Transport } from "./transport.ts";

/** Send ids are "<enrollment>.<round>.<step>": safe as file names, but check anyway. */
const fileName = (sendId: string) => `${sendId.replace(/[^A-Za-z0-9._-]/g, "_")}.eml`;

/**
 * RFC 5322 §3.6.4: a Message-ID unique to this message in the world. The send id alone repeats
 * across installs, databases and demo runs (every install has an enrollment 1), so a random
 * part follows it, under the sending domain (DRIP_FROM's). A retried send gets a new one, which
 * is right: its file replaces the earlier attempt's, so only one message ever carries either.
 */
export const messageIdFor = (msg: Pick<OutgoingMessage, "sendId" | "from">) => `<${msg.sendId}.${randomBytes(8).toString("hex")}@${domainOf(msg.from)}>`;

export async function composeEml(msg: OutgoingMessage): Promise<Buffer> {
  const mail = new MailComposer({
    from: msg.from,
    to: msg.to,
    subject: msg.subject,
    html: msg.html,
    text: msg.text,
    messageId: messageIdFor(msg),
    date: msg.date,
    headers: {
      ...msg.headers,
      // Provider tags, as X-headers so they survive in the file for staff and tests.
      ...Object.fromEntries(msg.tags.map((t) => [`X-Drip-${t.name[0]!.toUpperCase()}${t.name.slice(1)}`, t.value])),
    },
  });
  return mail.compile().build();
}

export class OutboxTransport implements Transport {
  readonly name = "outbox" as const;
  readonly idempotent = false;
  private ready = false;
  constructor(private readonly dir: string) {
    if (existsSync(dir)) this.sweep();
  }

  /** Remove temp files left by a process killed between write and rename (never a delivery). */
  private sweep(): void {
    let files: string[];
    try {
      files = readdirSync(this.dir);
    } catch {
      return; // not a readable folder: the first send says why
    }
    for (const f of files) {
      const m = /\.eml\.(\d+)\.tmp$/.exec(f);
      if (m && !alive(Number(m[1]))) rmSync(join(this.dir, f), { force: true });
    }
  }

  async send(msg: OutgoingMessage): Promise<DeliveryResult> {
    if (!this.ready) {
      try {
        mkdirSync(this.dir, { recursive: true });
      } catch (err) {
        // Not permanent: once the folder is fixed, the retry goes through.
        return { ok: false, permanent: false, reason: `OUTBOX_DIR ${this.dir} cannot be created: ${(err as Error).message}` };
      }
      this.ready = true;
    }
    const eml = await composeEml(msg);
    const target = join(this.dir, fileName(msg.sendId));
    const tmp = `${target}.${process.pid}.tmp`;
    try {
      writeFileSync(tmp, eml);
      renameSync(tmp, target);
    } catch (err) {
      rmSync(tmp, { force: true });
      return { ok: false, permanent: false, reason: `OUTBOX_DIR ${this.dir} cannot be written: ${(err as Error).message}` };
    }
    return { ok: true, providerMessageId: null };
  }

  pathFor(sendId: string): string {
    return join(this.dir, fileName(sendId));
  }
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
