/**
 * Newsletters: time from `send` (Newsletters.schedule) to every recipient planned, and memory,
 * for 100,000 recipients of a topic on the real SqliteStore (a temp file). Planning is one
 * INSERT … SELECT, so the JavaScript heap must stay flat whatever the audience size; the
 * `--local 09:00` variant computes one instant per distinct zone (five here), not per reader.
 * Then the first tick's claim of a page, to show the lane split (course steps keep half).
 * The subscribers and topic rows are a bench fixture inserted with raw prepared statements.
 *
 * Standalone: `npx tsx bench/newsletters.ts` (NEWSLETTER_SIZES=20000,100000).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import Database from "better-sqlite3";
import { loadConfig } from "../src/config.ts";
import { sqlitePath } from "../src/store/sqlite/sqlite-store.ts";
import { createApp } from "../src/wiring.ts";

const NOW = new Date("2027-01-04T06:00:00Z");
const ZONES = ["Europe/London", "America/New_York", "Australia/Sydney", "Asia/Kolkata", ""];
const ISSUE = "two-ways-to-ease-outer-hip-pain";
const AIM_S = 10;
const SIZES = (process.env.NEWSLETTER_SIZES ?? "100000")
  .split(",")
  .map(Number)
  .filter((n) => n > 0);

const mb = (b: number) => (b / 1024 / 1024).toFixed(1);

function seed(dbFile: string, n: number) {
  const db = new Database(dbFile);
  const t = NOW.getTime() - 86_400_000;
  const sub = db.prepare(
    "INSERT INTO subscribers (id, email, email_key, name, timezone, status, consent_source, consent_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'active', 'bench', ?, ?, ?)",
  );
  const topic = db.prepare(
    "INSERT INTO subscriber_topics (subscriber_id, topic_id, status, consent_at, consent_source) VALUES (?, 'weekly', 'joined', ?, 'bench')",
  );
  db.transaction(() => {
    for (let i = 0; i < n; i++) {
      const id = `b${i}`;
      const email = `reader${i}@example.com`;
      sub.run(id, email, email, `Reader ${i}`, ZONES[i % ZONES.length], t, t, t);
      topic.run(id, t);
    }
  })();
  db.close();
}

export async function benchNewsletters(): Promise<void> {
  const rows: string[][] = [];
  for (const n of SIZES) {
    for (const variant of ["send (now)", "--local 09:00"] as const) {
      const dir = mkdtempSync(join(tmpdir(), "drip-bench-nl-"));
      try {
        const env = { DATABASE_URL: `file:${join(dir, "drip.db")}`, OUTBOX_DIR: join(dir, "outbox") };
        const app = await createApp(loadConfig(env));
        seed(sqlitePath(env.DATABASE_URL), n);
        globalThis.gc?.();
        const heap0 = process.memoryUsage().heapUsed;
        const rss0 = process.memoryUsage().rss;
        let peakHeap = heap0;
        let peakRss = rss0;
        const sampler = setInterval(() => {
          const m = process.memoryUsage();
          peakHeap = Math.max(peakHeap, m.heapUsed);
          peakRss = Math.max(peakRss, m.rss);
        }, 5);
        const t0 = performance.now();
        const r =
          variant === "send (now)"
            ? await app.newsletters.schedule(ISSUE, { kind: "now" }, NOW)
            : await app.newsletters.schedule(ISSUE, { kind: "local", time: "09:00", date: "2027-01-05", ifPassed: "next-day" }, NOW);
        const planS = (performance.now() - t0) / 1000;
        clearInterval(sampler);
        const m = process.memoryUsage();
        peakHeap = Math.max(peakHeap, m.heapUsed);
        peakRss = Math.max(peakRss, m.rss);
        if (r.planned !== n) throw new Error(`planned ${r.planned} of ${n}`);
        // The lane split: one claim of a page with all 100,000 due and 40 course steps due too.
        let split = "";
        if (variant === "send (now)") {
          const db = new Database(sqlitePath(env.DATABASE_URL));
          const enr = db.prepare(
            "INSERT INTO enrollments (subscriber_id, sequence_id, round, started_at, next_step_id, next_due_at, status, updated_at) VALUES (?, 'hip-pain-course', 1, ?, 'article', ?, 'active', ?)",
          );
          db.transaction(() => {
            for (let i = 0; i < 40; i++) enr.run(`b${i}`, NOW.getTime(), NOW.getTime(), NOW.getTime());
          })();
          db.close();
          const c0 = performance.now();
          const page = await app.store.claimDue(new Date(NOW.getTime() + 1000), 100, 300_000, "bench");
          const claimMs = performance.now() - c0;
          const course = page.filter((c) => c.sequenceId === "hip-pain-course").length;
          split = `${course} course + ${page.length - course} newsletter (${claimMs.toFixed(0)} ms)`;
        }
        rows.push([
          n.toLocaleString("en-US"),
          variant,
          planS.toFixed(2),
          `${mb(peakHeap - heap0)}`,
          `${mb(peakRss - rss0)}`,
          split || "–",
          planS < AIM_S ? "yes" : "NO",
        ]);
        await app.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  const head = ["recipients", "schedule", "plan s", "heap +MB", "rss +MB", "first page claimed (100)", `< ${AIM_S} s`];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ");
  console.log(
    `newsletters: send → all recipients planned (one INSERT … SELECT); load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );
  console.log(line(head));
  for (const r of rows) console.log(line(r));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await benchNewsletters();
