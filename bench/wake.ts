/**
 * Confirm → first email: the time from a reader pressing "Confirm my subscription" (the POST
 * /confirm/:token the page's button sends) to the course's first email handed to the
 * transport, while the server runs as `drip start` runs it (the HTTP app on @hono/node-server,
 * the scheduler's TickLoop attached to the lifecycle's wake-ups, the minute cron beside it).
 * A SQLite file and the outbox transport (real .eml files); the real course.
 *
 * 200 people signed up beforehand (their confirmation emails are out); then they confirm:
 *   (a) one after another (a quiet server),
 *   (b) 40 a second, overlapping (wake-ups arrive during ticks and coalesce).
 * Aims: p50 < 1 s, p99 < 5 s (the minute tick alone gave p50 ≈ 30 s, p99 ≈ 60 s).
 *
 * Standalone: `npx tsx bench/wake.ts`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const PEOPLE = 200;
const RATE = 40; // confirmations per second in run (b)
const AIM = { p50: 1_000, p99: 5_000 };

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => r.map((v, c) => (c === 0 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join("  ");
  return [line(rows[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)].join("\n");
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

export async function benchWake(): Promise<void> {
  process.env.NODE_ENV ??= "production";
  const { serve } = await import("@hono/node-server");
  const cron = (await import("node-cron")).default;
  const { createApp, httpDeps } = await import("../src/wiring.ts");
  const { loadConfig } = await import("../src/config.ts");
  const { createHttpApp } = await import("../src/http/app.ts");
  const { OutboxTransport } = await import("../src/delivery/outbox.ts");
  const { TickLoop } = await import("../src/engine/wake.ts");
  const { signToken } = await import("../src/tokens.ts");
  const { csrfToken } = await import("../src/http/security.ts");

  const dir = mkdtempSync(join(tmpdir(), "drip-bench-wake-"));
  const config = loadConfig({
    DATABASE_URL: `file:${join(dir, "drip.db")}`,
    OUTBOX_DIR: join(dir, "outbox"),
    DRIP_SECRET: "bench-wake-secret-0123456789abcdef0123456789",
    DRIP_PUBLIC_URL: "http://127.0.0.1",
  });
  /** When each address's first course email was handed to the transport (ms, performance.now()). */
  const handed = new Map<string, number>();
  const waiting = new Map<string, (at: number) => void>();
  const outbox = new OutboxTransport(config.outboxDir);
  const transport: typeof outbox = Object.assign(Object.create(outbox) as typeof outbox, {
    send: (m: Parameters<typeof outbox.send>[0]) => {
      if (m.tags.some((t) => t.name === "step" && t.value !== "confirm") && !handed.has(m.to)) {
        const at = performance.now();
        handed.set(m.to, at);
        waiting.get(m.to)?.(at);
      }
      return outbox.send(m);
    },
  });
  const app = await createApp(config, () => {}, { transport });
  let ticks = 0;
  const loop = new TickLoop(async () => {
    ticks++;
    await app.engine.tick(new Date());
  });
  app.waker.attach(() => loop.run());
  const task = cron.schedule("* * * * *", () => loop.run(), { timezone: "UTC", noOverlap: true, name: "bench-tick" });
  const http = createHttpApp(httpDeps(app, { now: () => new Date(), signupsPerIp: Number.POSITIVE_INFINITY }));
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: http.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s));
  });
  const port = (server.address() as { port: number }).port;
  const base = `http://127.0.0.1:${port}`;

  const people = async (prefix: string) => {
    const ids: { email: string; token: string }[] = [];
    for (let i = 0; i < PEOPLE; i++) {
      const email = `${prefix}${i}@bench.example`;
      await app.lifecycle.signUp({ email, name: `Reader ${i}`, timezone: "Europe/London", tags: [] }, { source: "bench" }, new Date());
      const sub = (await app.store.findSubscriberByEmail(email))!;
      ids.push({ email, token: signToken(app.secret, "confirm", sub.id, new Date(Date.now() + 86_400_000)) });
    }
    while ((await app.engine.deliverConfirmations(new Date())).sent > 0);
    return ids;
  };
  /** The reader opens the link (GET: the page with the button), then presses it (POST): timed from the POST. */
  const confirmOne = async (p: { email: string; token: string }): Promise<number> => {
    const page = await fetch(`${base}/confirm/${p.token}`);
    const body = await page.text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(body)?.[1] ?? csrfToken(app.secret, `confirm:${p.token}`, new Date());
    const t0 = performance.now();
    const res = await fetch(`${base}/confirm/${p.token}`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: base },
      body: `csrf=${encodeURIComponent(csrf)}`,
    });
    await res.text();
    if (res.status !== 200) throw new Error(`POST /confirm answered ${res.status}`);
    const at =
      handed.get(p.email) ??
      (await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no first email for ${p.email} within 90 s`)), 90_000);
        waiting.set(p.email, (t) => {
          clearTimeout(timer);
          resolve(t);
        });
      }));
    return at - t0;
  };

  const load = () =>
    loadavg()
      .map((l) => l.toFixed(2))
      .join(" ");
  const loadBefore = load();
  const rows: string[][] = [["run", "confirmations", "p50 ms", "p99 ms", "max ms", "ticks", "aim", "result"]];
  const row = (title: string, lat: number[], t: number) => {
    const s = [...lat].sort((a, b) => a - b);
    const [p50, p99] = [pct(s, 50), pct(s, 99)];
    rows.push([
      title,
      String(s.length),
      p50.toFixed(1),
      p99.toFixed(1),
      s[s.length - 1]!.toFixed(1),
      String(t),
      `p50 < ${AIM.p50} ms, p99 < ${AIM.p99} ms`,
      p50 < AIM.p50 && p99 < AIM.p99 ? "ok" : "MISSED",
    ]);
  };
  try {
    // Warm-up: JIT, the first render of each template.
    for (const p of (await people("warm")).slice(0, 20)) await confirmOne(p);
    const one = await people("serial");
    let t = ticks;
    const serial: number[] = [];
    for (const p of one) serial.push(await confirmOne(p));
    row("(a) one after another", serial, ticks - t);
    const many = await people("burst");
    t = ticks;
    const overlapping = await Promise.all(many.map((p, i) => new Promise((r) => setTimeout(r, (i * 1000) / RATE)).then(() => confirmOne(p))));
    row(`(b) ${RATE}/s, overlapping`, overlapping, ticks - t);
    console.log(
      `\nwake: confirm → first email handed to the transport, server in this process (Hono on @hono/node-server, TickLoop woken by the lifecycle, minute cron beside it), SQLite file, outbox transport, Node ${process.version}`,
    );
    console.log(table(rows));
    console.log(`load average before ${loadBefore}, after ${load()} on ${availableParallelism()} cores`);
  } finally {
    await task.stop();
    app.waker.detach();
    loop.stop();
    await loop.idle();
    server.close();
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await benchWake();
