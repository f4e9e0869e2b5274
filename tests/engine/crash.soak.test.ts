/**
 * Crash test (DESIGN.md guarantee: a step reaches a subscriber at most once, and every due
 * step is delivered or recorded, across kill -9 at any point).
 *
 * The parent enrolls 350 confirmed subscribers in the hip-pain course at T0 (6 steps each;
 * 50 of them are tagged `booked`, so their two booking steps are skipped): 2,000 sends and
 * 100 skips come due over 15 virtual days, on the outbox transport. A child process
 * (tests/support/tick-worker.ts) runs `engine.tick(now)` over a virtual clock, one line per
 * transport call and per recorded outcome on stdout. The parent kills it with SIGKILL after
 * a random (seeded) number of recorded outcomes plus a random 0–3 ms, so kills land in
 * claims, renders, outbox writes and records alike, and restarts it, at least 20 times.
 * After the last run reaches the end of the course, the outbox and the database must show
 * every due step exactly once.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import hipPainCourse from "../../sequences/hip-pain-course.ts";
import { createApp } from "../../src/wiring.ts";
import { loadConfig } from "../../src/config.ts";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import { makePrng } from "../support/resend-double-rules.ts";
import { readLines } from "../support/process.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const WORKER = join(ROOT, "tests/support/tick-worker.ts");
const SEED = Number(process.env.CRASH_SEED ?? 20260302);

const SUBSCRIBERS = 350;
const isBooked = (i: number) => i % 7 === 0; // 50 of 350
const T0 = new Date("2026-03-02T10:00:00Z"); // a Monday, 10:00 in London (GMT), inside the send window
const END = new Date(T0.getTime() + 15 * 24 * 3_600_000); // the last step is day 14 at 09:00
const TICK_STEP_MS = 3_600_000; // the worker's virtual clock moves one hour per tick
const MINUTE = 60_000;
/**
 * Each restart starts at its predecessor's last tick instant + 6 minutes. Claims hold a
 * lease of 5 minutes (the claim pushes next_due_at to now + 5 min), so the claims a killed
 * worker held come due again only once the lease has run out. In the real world the lease
 * runs out in real time while the crashed process is down (or restarted by its supervisor);
 * on a virtual clock we have to move time past the lease ourselves, or the restarted worker
 * would (correctly) leave the dead worker's claims alone until the lease expires.
 */
const RESTART_GAP_MS = 6 * MINUTE;
/**
 * Kill after this many recorded outcomes (inclusive range). 20 kills × at most 100 < the
 * 2,100 outcomes (less one lost per kill), so at least 20 kills always happen. The range is
 * narrow on purpose: each restart costs a process start (~2.5 s: tsx, React Email, MJML),
 * and the moment inside a send is randomised by the extra 0–3 ms before the kill.
 */
const KILL_AFTER = [60, 100] as const;
const MIN_KILLS = 20;

/** Seeded, so a failing run can be replayed with CRASH_SEED. */
const rng = makePrng;

type Line = { run: number; kind: "N" | "T" | "S" | "D"; rest: string };
interface RunResult {
  killed: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  lastNow: Date | null;
  done: boolean;
  stderr: string;
  /** The last line seen before the kill: tells where the kill landed. */
  lastKind: Line["kind"] | null;
}

let dir: string;
let env: Record<string, string>;

function runWorker(run: number, start: Date, killAfter: number | null, killDelayMs: number, lines: Line[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(
      process.execPath,
      ["--import", "tsx", WORKER, "--start", start.toISOString(), "--end", END.toISOString(), "--step-ms", String(TICK_STEP_MS)],
      { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] },
    );
    const result: RunResult = { killed: false, code: null, signal: null, lastNow: null, done: false, stderr: "", lastKind: null };
    let outcomes = 0;
    let killScheduled = false;
    const onLine = (text: string) => {
      if (!text) return;
      const kind = text[0] as Line["kind"];
      const rest = text.slice(2);
      lines.push({ run, kind, rest });
      result.lastKind = kind;
      if (kind === "N") result.lastNow = new Date(rest);
      if (kind === "D") result.done = true;
      if (kind === "S") outcomes++;
      if (killAfter !== null && !killScheduled && outcomes >= killAfter) {
        killScheduled = true;
        const kill = () => {
          if (child.exitCode === null && child.signalCode === null) {
            child.kill("SIGKILL");
            result.killed = true;
          }
        };
        if (killDelayMs === 0) kill();
        else setTimeout(kill, killDelayMs);
      }
    };
    const flush = readLines(child, onLine, (chunk) => {
      result.stderr += chunk;
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      flush();
      result.code = code;
      result.signal = signal;
      resolve(result);
    });
  });
}

describe("crash test: SIGKILL at random points during a 2,000-send run (outbox transport)", () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "drip-crash-"));
    env = {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? dir,
      DATABASE_URL: `file:${join(dir, "drip.db")}`,
      OUTBOX_DIR: join(dir, "outbox"),
      DRIP_SECRET: "crash-test-secret-0123456789abcdef0123456789",
      NODE_ENV: "production",
    };
    const app = await createApp(loadConfig(env));
    try {
      for (let i = 0; i < SUBSCRIBERS; i++) {
        const out = await app.lifecycle.subscribe(
          { email: `s${i}@example.com`, name: `Sub ${i}`, timezone: "Europe/London", tags: isBooked(i) ? ["booked"] : [] },
          { confirmed: true, source: "crash-test", sequenceId: hipPainCourse.id },
          T0,
        );
        expect(out).toMatchObject({ kind: "ok", enrolled: "created" });
      }
    } finally {
      await app.close();
    }
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("after ≥ 20 kills and restarts, every due step is in the outbox exactly once and recorded", async () => {
    const random = rng(SEED);
    const lines: Line[] = [];
    const landed: Record<string, number> = {};
    let kills = 0;
    let start = T0;
    let final: RunResult | null = null;
    for (let run = 0; run < 200; run++) {
      const killAfter = KILL_AFTER[0] + Math.floor(random() * (KILL_AFTER[1] - KILL_AFTER[0] + 1));
      const killDelayMs = Math.floor(random() * 4);
      const r = await runWorker(run, start, killAfter, killDelayMs, lines);
      if (r.killed && r.signal === "SIGKILL") {
        kills++;
        landed[r.lastKind ?? "startup"] = (landed[r.lastKind ?? "startup"] ?? 0) + 1;
        expect(r.lastNow, "a kill only comes after recorded sends, so a tick has started").not.toBeNull();
        start = new Date(r.lastNow!.getTime() + RESTART_GAP_MS);
        continue;
      }
      expect(r.stderr, `run ${run} failed (seed ${SEED})`).toBe("");
      expect(r.code, `run ${run} exit code (seed ${SEED})`).toBe(0);
      expect(r.done).toBe(true);
      final = r;
      break;
    }
    expect(final, "the last run reaches the end of the course").not.toBeNull();
    expect(kills).toBeGreaterThanOrEqual(MIN_KILLS);

    // What should have happened: 6 steps per enrollment; booked subscribers skip the booking prompts.
    const expected = new Map<string, { email: string; status: "sent" | "skipped"; stepIndex: number }>();
    let expectedSent: string[] = [];
    const store = new SqliteStore(env.DATABASE_URL!);
    try {
      const status = await store.status();
      expect(status.enrollments).toEqual({ active: 0, completed: SUBSCRIBERS, exited: 0, paused: 0 });
      expect(status.nextDueAt).toBeNull();

      const enrollments = await store.db
        .selectFrom("enrollments")
        .innerJoin("subscribers", "subscribers.id", "enrollments.subscriber_id")
        .select(["enrollments.id", "enrollments.round", "enrollments.cursor", "enrollments.next_step_id", "enrollments.status", "subscribers.email"])
        .execute();
      expect(enrollments).toHaveLength(SUBSCRIBERS);
      for (const e of enrollments) {
        const i = Number(/^s(\d+)@/.exec(e.email)![1]);
        hipPainCourse.steps.forEach((step, stepIndex) => {
          const skipped = isBooked(i) && (step.skipIf?.tags.includes("booked") ?? false);
          expected.set(`${e.id}.${e.round}.${step.id}`, { email: e.email, status: skipped ? "skipped" : "sent", stepIndex });
        });
        expect(e).toMatchObject({ status: "completed", cursor: hipPainCourse.steps.at(-1)!.id, next_step_id: null });
      }
      expectedSent = [...expected].filter(([, v]) => v.status === "sent").map(([id]) => id);
      expect(expectedSent).toHaveLength(2000);

      // Every send row is recorded: sent, or skipped with its reason; none left claimed, failed or in doubt.
      const rows = await store.db.selectFrom("sends").selectAll().execute();
      expect(rows).toHaveLength(expected.size);
      expect(status.sends).toEqual({ claimed: 0, sent: 2000, skipped: 100, failed: 0, in_doubt: 0 });
      for (const row of rows) {
        const want = expected.get(row.id);
        expect(want, `unexpected send row ${row.id}`).toBeDefined();
        expect(row.status, row.id).toBe(want!.status);
        if (want!.status === "skipped") expect(row.reason).toBe('subscriber has tag "booked"');
        else expect(row.sent_at, `${row.id} sent before it was due`).toBeGreaterThanOrEqual(row.due_at);
      }
      // No step skipped, none out of order: each enrollment's steps were recorded in course order.
      const byEnrollment = new Map<number, typeof rows>();
      for (const row of rows) byEnrollment.set(row.enrollment_id, [...(byEnrollment.get(row.enrollment_id) ?? []), row]);
      for (const [id, list] of byEnrollment) {
        expect(list.map((r) => r.step_id).sort(), `enrollment ${id}`).toEqual(hipPainCourse.steps.map((s) => s.id).sort());
        const inOrder = [...list].sort((a, b) => expected.get(a.id)!.stepIndex - expected.get(b.id)!.stepIndex);
        for (let k = 1; k < inOrder.length; k++) expect(inOrder[k]!.updated_at, `enrollment ${id} step order`).toBeGreaterThan(inOrder[k - 1]!.updated_at);
      }
    } finally {
      await store.close();
    }

    // The outbox: one complete .eml per sent step, nothing else counts as a delivery.
    const files = readdirSync(env.OUTBOX_DIR!);
    const emls = files.filter((f) => f.endsWith(".eml"));
    // A kill between the temp-file write and the rename leaves `<sendId>.eml.<pid>.tmp`:
    // never a delivery (it is not named .eml, so it is neither counted here nor picked up
    // by anything reading the outbox), and its send was retried and renamed into place.
    const tmps = files.filter((f) => f.endsWith(".tmp"));
    expect(files.length - emls.length - tmps.length, `stray files: ${files.join(" ")}`).toBe(0);
    expect(emls).toHaveLength(2000);
    expect(new Set(emls.map((f) => f.slice(0, -4)))).toEqual(new Set(expectedSent));
    for (const tmp of tmps) {
      const id = /^(.+)\.eml\.\d+\.tmp$/.exec(tmp)?.[1];
      expect(id, tmp).toBeDefined();
      expect(emls, `${tmp} left behind but its send was never delivered`).toContain(`${id}.eml`);
    }
    for (const f of emls) {
      const id = f.slice(0, -4);
      const text = readFileSync(join(env.OUTBOX_DIR!, f), "utf8");
      const want = expected.get(id)!;
      // Unique: the send id, a random part, the sending domain (nodemailer may fold it onto a second line).
      expect(text, f).toMatch(new RegExp(`^Message-ID:\\s+<${id.replace(/\./g, "\\.")}\\.[0-9a-f]{16}@bodyhealtherapy\\.example>\r$`, "m"));
      expect(text, f).toContain(`To: ${want.email}`);
      expect(text, f).toContain(`X-Drip-Step: ${hipPainCourse.steps[want.stepIndex]!.id}`);
      // Complete: the multipart body ends with its closing boundary.
      expect(text.trimEnd(), f).toMatch(/\r\n--[^\r\n]+--$/);
    }

    // At most once, as far as the transport is concerned: a send is handed over again only
    // when the kill came after the hand-over and before its outcome was recorded, which a
    // kill can do to at most one send (the worker processes sends one at a time).
    const calls = new Map<string, number>();
    const recordedAt = new Map<string, number>();
    lines.forEach((l, index) => {
      const id = l.rest.split(" ")[0]!;
      if (l.kind === "T") {
        expect(recordedAt.has(id), `${id} handed to the transport after its outcome was recorded`).toBe(false);
        expect(expected.get(id)?.status, `${id} handed to the transport but should not be sent`).toBe("sent");
        calls.set(id, (calls.get(id) ?? 0) + 1);
      }
      if (l.kind === "S" && !recordedAt.has(id)) recordedAt.set(id, index);
    });
    const duplicates = [...calls.values()].reduce((n, c) => n + c - 1, 0);
    expect(calls.size).toBe(2000);
    expect(duplicates).toBeLessThanOrEqual(kills);

    console.info(
      `crash test (seed ${SEED}): ${kills} kills, last line before each kill ${JSON.stringify(landed)}, ` +
        `${lines.filter((l) => l.kind === "T").length} transport calls for 2000 sends (${duplicates} re-sends after a lost record), ${tmps.length} leftover .tmp files`,
    );
  });
});
