/**
 * `drip demo`: a newcomer's tour. A sample subscriber walks through the whole course in
 * virtual time on a throwaway database, and every email lands in the outbox.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { loadConfig, readEnv } from "../../config.ts";
import { createApp } from "../../wiring.ts";
import { OutboxTransport } from "../../delivery/outbox.ts";
import { formatLocal } from "../../schedule/index.ts";
import { type CliIO, WorkError } from "../io.ts";
import { instant } from "./app-context.ts";

const HOUR = 3_600_000;

export function demoCommand(program: Command, io: CliIO) {
  program
    .command("demo")
    .description("Walk a sample subscriber through the whole course, then the first newsletter issue, in virtual time; the emails land in the outbox")
    .option("--email <email>", "the sample subscriber", "sam@example.com")
    .option("--tz <zone>", "the sample subscriber's time zone", "America/New_York")
    .option("--start <instant>", "when the sample subscriber confirms (ISO 8601, default: now)")
    .option("--outbox <dir>", "where the emails go (default: OUTBOX_DIR/demo)")
    .action(async (opts: { email: string; tz: string; start?: string; outbox?: string }) => {
      const env = readEnv(io.env, `${io.cwd}/.env`);
      const dbDir = mkdtempSync(join(tmpdir(), "drip-demo-"));
      // The tour never touches the real database or the real provider.
      const config = loadConfig({ ...env, DATABASE_URL: `file:${join(dbDir, "demo.db")}`, RESEND_API_KEY: undefined });
      // A subfolder, so the tour never overwrites real sends that share its file names.
      const outboxDir = resolve(io.cwd, opts.outbox ?? join(config.outboxDir, "demo"));
      const app = await createApp(config, (l) => io.err(`${l}\n`), { transport: new OutboxTransport(outboxDir) });
      try {
        const start = instant(opts.start, io, "--start");
        const res = await app.lifecycle.subscribe({ email: opts.email, name: "Sam", timezone: opts.tz, tags: [] }, { confirmed: true, source: "demo" }, start);
        if (res.kind !== "ok") throw new WorkError(`${opts.email} is suppressed`);
        io.out(`Sample subscriber ${opts.email} (${opts.tz}) confirms at ${formatLocal(start, opts.tz)}; ticking hourly through the course…\n`);
        let count = 0;
        for (let t = start.getTime(); t <= start.getTime() + 21 * 24 * HOUR; t += HOUR) {
          await app.engine.tick(new Date(t), {
            onSend: (e) => {
              if (e.status !== "sent") return;
              count++;
              io.out(`  ${formatLocal(new Date(t), opts.tz)}  ${e.claim.stepId.padEnd(16)} ${e.subject}\n`);
            },
          });
        }
        // After the course, the weekly newsletter (they ticked its box): the first issue, at
        // 09:00 in their own morning the day after the course ends.
        const issue = app.newsletters.files().issues[0];
        if (issue && res.kind === "ok") {
          await app.lifecycle.joinTopic(res.subscriber, issue.topicId, { source: "demo" }, start);
          const end = start.getTime() + 21 * 24 * HOUR;
          const date = formatLocal(new Date(end + 24 * HOUR), opts.tz).slice(0, 10);
          await app.newsletters.schedule(issue.id, { kind: "local", time: "09:00", date, ifPassed: "next-day" }, new Date(end));
          io.out(`Then the newsletter "${issue.id}", scheduled for 09:00 on ${date} in the subscriber's zone:\n`);
          for (let t = end + HOUR; t <= end + 3 * 24 * HOUR; t += HOUR) {
            await app.engine.tick(new Date(t), {
              onSend: (e) => {
                if (e.status !== "sent") return;
                count++;
                io.out(`  ${formatLocal(new Date(t), opts.tz)}  ${"newsletter".padEnd(16)} ${e.subject}\n`);
              },
            });
          }
        }
        io.out(`${count} emails written to ${outboxDir} (open the .eml files in any mail app)\n`);
      } finally {
        await app.close();
        rmSync(dbDir, { recursive: true, force: true });
      }
    });
}
