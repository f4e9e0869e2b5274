/**
 * Live edits at scale: reading every enrollment's position, the pure plan, and the apply
 * (one transaction: moves and the version row) for a course with many people in flight.
 * An edit that moves most of them: `dynamic-release` removed, `book` a day earlier.
 */
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import course from "../sequences/hip-pain-course.ts";
import { EMAILS_DIR } from "../src/paths.ts";
import { defineSequence } from "../src/sequences/define.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import { applyVersion } from "../src/versions/apply.ts";
import { planSequence } from "../src/versions/plan.ts";
import { type SequenceSnapshot, snapshotSequence } from "../src/versions/snapshot.ts";

const NOW = new Date("2027-03-15T12:00:00Z");
const DAY = 86_400_000;

async function run(n: number) {
  const file = join(tmpdir(), `drip-bench-plan-${process.pid}-${n}.db`);
  const store = new SqliteStore(`file:${file}`);
  await store.migrate();
  await applyVersion(store, course, EMAILS_DIR, new Date(NOW.getTime() - 60 * DAY));
  // n people, each at a step of the course by how long ago they started (0..16 days), with their sends.
  const steps = course.steps.map((s) => ({ id: s.id, day: s.schedule.kind === "day" ? s.schedule.day : 0 }));
  const rows = Array.from({ length: n }, (_, i) => ({ email: `p${i}@example.com`, status: "active" as const, timezone: "Europe/London" }));
  for (let i = 0; i < n; i += 1000) {
    await store.importSubscribers(rows.slice(i, i + 1000), NOW, (sub) => {
      const ago = (Number.parseInt(sub.email.slice(1), 10) % 17) * DAY;
      return { sequenceId: course.id, startedAt: new Date(NOW.getTime() - ago), firstStepId: steps[0]!.id, firstDueAt: new Date(NOW.getTime() - ago) };
    });
  }
  const enrollments = await store.db.selectFrom("enrollments").select(["id", "subscriber_id", "started_at"]).execute();
  await store.transaction(async (tx) => {
    const db = (tx as SqliteStore).db;
    for (const e of enrollments) {
      const ago = (NOW.getTime() - e.started_at) / DAY;
      const done = steps.filter((s) => s.day <= ago - 0.5);
      const next = steps.find((s) => s.day > ago - 0.5);
      for (const s of done)
        await db
          .insertInto("sends")
          .values({
            id: `${e.id}.1.${s.id}`,
            enrollment_id: e.id,
            subscriber_id: e.subscriber_id,
            sequence_id: course.id,
            step_id: s.id,
            status: "sent",
            attempts: 1,
            due_at: e.started_at,
            claimed_at: null,
            sent_at: NOW.getTime(),
            provider_message_id: null,
            reason: null,
            updated_at: NOW.getTime(),
            batch_id: null,
          })
          .execute();
      await db
        .updateTable("enrollments")
        .set(next ? { next_step_id: next.id, next_due_at: e.started_at + next.day * DAY } : { next_step_id: null, next_due_at: null, status: "completed" })
        .where("id", "=", e.id)
        .execute();
    }
  });
  const edited = defineSequence({
    ...course,
    steps: course.steps
      .filter((s) => s.id !== "dynamic-release")
      .map((s) => (s.id === "book" ? { ...s, schedule: { kind: "day" as const, day: 5, at: "09:00" } } : s)),
  });
  const next = await snapshotSequence(edited, EMAILS_DIR);
  const live = (await store.liveVersion(course.id))!.snapshot as SequenceSnapshot;
  let t0 = performance.now();
  const positions = await store.enrollmentPositions(course.id);
  const read = performance.now() - t0;
  t0 = performance.now();
  const plan = planSequence({ live, next, sequence: edited, enrollments: positions, now: NOW });
  const pure = performance.now() - t0;
  t0 = performance.now();
  const applied = await applyVersion(store, edited, EMAILS_DIR, NOW);
  const apply = performance.now() - t0;
  await store.close();
  rmSync(file, { force: true });
  for (const side of ["-wal", "-shm"]) rmSync(file + side, { force: true });
  return { n, read, pure, apply, moved: applied.planned, changes: plan.changes.length };
}

export async function benchPlan(): Promise<void> {
  console.log("live edit: positions read, pure plan, apply (one transaction), by enrollments in flight");
  console.log(`${"enrollments".padStart(12)}${"read ms".padStart(10)}${"plan ms".padStart(10)}${"apply ms".padStart(10)}${"moved".padStart(8)}`);
  for (const n of [1_000, 10_000]) {
    const r = await run(n);
    console.log(
      `${String(r.n).padStart(12)}${r.read.toFixed(0).padStart(10)}${r.pure.toFixed(0).padStart(10)}${r.apply.toFixed(0).padStart(10)}${String(r.moved).padStart(8)}`,
    );
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchPlan();
