/**
 * The dashboard at 100,000 subscribers: server time of /admin pages (the real Hono app through
 * app.request(), a signed-in owner session, the real SqliteStore on a temp file): the
 * subscriber list (first page, a deep page by cursor), search by the start of the email and
 * of the name (common, rare, none), by tag and by a rare status, a profile with its timeline, the
 * overview, the course page, and the newsletter list and issue page (half the subscribers joined the topic). Median and p95 of 30 requests each; aim: under 100 ms.
 *
 * Standalone: `npx tsx bench/admin.ts` (ADMIN_BENCH_SIZE=20000 for a quick run).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import Database from "better-sqlite3";
import course from "../sequences/hip-pain-course.ts";
import { startSession } from "../src/admin/auth.ts";
import { loadConfig } from "../src/config.ts";
import { createHttpApp } from "../src/http/app.ts";
import { createApp, httpDeps } from "../src/wiring.ts";

const N = Number(process.env.ADMIN_BENCH_SIZE ?? 100_000);
const RUNS = 30;
const AIM_MS = 100;
const NOW = new Date("2026-03-02T10:00:00Z");
const DAY = 86_400_000;
const SECRET = "bench-secret-0123456789abcdef0123456789abcdef";
const BASE = "https://drip.example.com";

export function insert(dbFile: string, n: number) {
  const db = new Database(dbFile);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = OFF");
  const sub = db.prepare(
    "INSERT INTO subscribers (id, email, email_key, name, timezone, status, consent_source, consent_at, created_at, updated_at, unsubscribed_at) VALUES (?, ?, ?, ?, 'Europe/London', ?, 'bench', ?, ?, ?, ?)",
  );
  const tag = db.prepare("INSERT INTO tags (subscriber_id, tag) VALUES (?, ?)");
  const topic = db.prepare(
    "INSERT INTO subscriber_topics (subscriber_id, topic_id, status, consent_at, consent_source) VALUES (?, 'weekly', 'joined', ?, 'bench')",
  );
  const enr = db.prepare(
    "INSERT INTO enrollments (id, subscriber_id, sequence_id, round, started_at, cursor, next_step_id, next_due_at, status, updated_at) VALUES (?, ?, ?, 1, ?, NULL, ?, ?, 'active', ?)",
  );
  const send = db.prepare(
    "INSERT INTO sends (id, enrollment_id, subscriber_id, sequence_id, step_id, status, attempts, due_at, sent_at, updated_at) VALUES (?, ?, ?, ?, ?, 'sent', 1, ?, ?, ?)",
  );
  const names = ["Ana", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jo"];
  const steps = course.steps.map((s) => s.id);
  db.transaction(() => {
    for (let i = 0; i < n; i++) {
      const id = `bench${String(i).padStart(8, "0")}`;
      const at = NOW.getTime() - 60 * DAY + Math.floor((i / n) * 60 * DAY);
      const status = i % 200 === 0 ? "unsubscribed" : "active";
      sub.run(
        id,
        `u${i}@bench.example`,
        `u${i}@bench.example`,
        i === n - 7 ? "Quentin" : i % 1000 === 0 ? `Zelda ${i}` : `${names[i % 10]} ${i}`,
        status,
        at,
        at,
        at,
        status === "unsubscribed" ? at + DAY : null,
      );
      if (i % 10 === 0) tag.run(id, "vip");
      if (i % 2 === 0) topic.run(id, at); // half joined the weekly newsletter
      if (status === "active") {
        enr.run(i + 1, id, course.id, at, steps[1]!, NOW.getTime() + (i % 30) * DAY, at);
        send.run(`${i + 1}.1.${steps[0]}`, i + 1, id, course.id, steps[0]!, at, at, at);
      }
    }
  })();
  db.close();
}

export async function benchAdmin(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "drip-bench-admin-"));
  try {
    const env = { DATABASE_URL: `file:${join(dir, "drip.db")}`, OUTBOX_DIR: join(dir, "outbox"), DRIP_SECRET: SECRET, DRIP_PUBLIC_URL: BASE };
    let app = await createApp(loadConfig(env));
    await app.close(); // migrated: now the fixture
    const t0 = performance.now();
    insert(join(dir, "drip.db"), N);
    const setup = (performance.now() - t0) / 1000;
    app = await createApp(loadConfig(env));
    const { staff } = await app.store.putStaff("owner@bench.example", "owner", NOW);
    const session = await startSession(app.store, staff, NOW);
    const http = createHttpApp(httpDeps(app, { now: () => NOW }));
    const cookie = `__Host-drip_staff=${session.id}`;
    const mid = `bench${String(Math.floor(N / 2)).padStart(8, "0")}`;
    const midAt = NOW.getTime() - 60 * DAY + Math.floor(0.5 * 60 * DAY);
    const pages: [string, string][] = [
      ["subscriber list, first page", "/admin/subscribers"],
      ["subscriber list, deep page (cursor)", `/admin/subscribers?before=${midAt}.${mid}`],
      ["search: email prefix", `/admin/subscribers?q=u4242`],
      ["search: name start, common", "/admin/subscribers?q=cleo"],
      ["search: name start, 1 in 1,000", "/admin/subscribers?q=zelda"],
      ["search: name start, one match", "/admin/subscribers?q=quentin"],
      ["search: no match", "/admin/subscribers?q=xavier"],
      ["search: tag", "/admin/subscribers?tag=vip"],
      ["search: rare status", "/admin/subscribers?status=unsubscribed"],
      ["profile + timeline", `/admin/subscribers/${mid}`],
      ["overview", "/admin"],
      ["course page (funnel)", `/admin/sequences/${course.id}`],
      ["newsletters list", "/admin/newsletters"],
      ["newsletter issue (audience 50,000)", "/admin/newsletters/two-ways-to-ease-outer-hip-pain"],
    ];
    console.log(
      `dashboard at ${N.toLocaleString("en-US")} subscribers (fixture ${setup.toFixed(1)} s; load ${loadavg()
        .map((x) => x.toFixed(2))
        .join(" ")})`,
    );
    console.log(`${"page".padEnd(38)} ${"median ms".padStart(10)} ${"p95 ms".padStart(8)}  rows  aim < ${AIM_MS} ms`);
    for (const [label, path] of pages) {
      const times: number[] = [];
      let rows = 0;
      for (let i = 0; i < RUNS + 3; i++) {
        const t = performance.now();
        const res = await http.request(`${BASE}${path}`, { headers: { cookie } });
        const body = await res.text();
        const took = performance.now() - t;
        if (res.status !== 200) throw new Error(`${path} answered ${res.status}`);
        if (i >= 3) times.push(took); // 3 warm-up requests (statement cache, page cache)
        rows = (body.match(/<tr><td><a href="\/admin\/subscribers\//g) ?? []).length;
      }
      times.sort((a, b) => a - b);
      const med = times[Math.floor(times.length / 2)]!;
      const p95 = times[Math.ceil(0.95 * times.length) - 1]!;
      console.log(
        `${label.padEnd(38)} ${med.toFixed(1).padStart(10)} ${p95.toFixed(1).padStart(8)}  ${String(rows).padStart(4)}  ${p95 < AIM_MS ? "ok" : "OVER"}`,
      );
    }
    await app.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await benchAdmin();
