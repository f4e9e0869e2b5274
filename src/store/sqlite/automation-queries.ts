/**
 * Automation queries: runs (why an automation fired for whom, and what it did) and the
 * completions waiting to fire theirs. Each function is one operation on the caller's
 * connection or transaction (`q`); the lifecycle door calls them inside its transaction, so a
 * run is recorded with the change it made, or not at all.
 */
import { type Kysely, sql } from "kysely";
import type { AutomationRun, AutomationStats } from "../../automations/types.ts";
import type { DB } from "../schema.ts";
import { toEnrollment } from "../shared.ts";
import type { Enrollment } from "../types.ts";

export async function automationRunSeen(q: Kysely<DB>, automationId: string, subscriberId: string, key: string): Promise<boolean> {
  // The unique index (automation_id, subscriber_id, run_key) answers this with one probe.
  const row = await q
    .selectFrom("automation_runs")
    .select("id")
    .where("automation_id", "=", automationId)
    .where("subscriber_id", "=", subscriberId)
    .where("run_key", "=", key)
    .executeTakeFirst();
  return row !== undefined;
}

export async function recordAutomationRun(q: Kysely<DB>, run: Omit<AutomationRun, "id">): Promise<boolean> {
  const res = await q
    .insertInto("automation_runs")
    .values({
      automation_id: run.automationId,
      subscriber_id: run.subscriberId,
      trigger: run.trigger,
      run_key: run.key,
      fired_at: run.firedAt.getTime(),
      outcome: run.outcome,
      detail: run.detail,
      enrolled: run.enrolled,
    })
    .onConflict((oc) => oc.doNothing())
    .executeTakeFirst();
  return Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
}

export async function automationRuns(q: Kysely<DB>, subscriberId: string): Promise<AutomationRun[]> {
  const rows = await q.selectFrom("automation_runs").selectAll().where("subscriber_id", "=", subscriberId).orderBy("id").execute();
  return rows.map((r) => ({
    id: Number(r.id),
    automationId: r.automation_id,
    subscriberId: r.subscriber_id,
    trigger: r.trigger,
    key: r.run_key,
    firedAt: new Date(Number(r.fired_at)),
    outcome: r.outcome as AutomationRun["outcome"],
    detail: r.detail,
    enrolled: r.enrolled,
  }));
}

export async function automationStats(q: Kysely<DB>): Promise<AutomationStats[]> {
  const rows = await q
    .selectFrom("automation_runs")
    .select([
      "automation_id",
      sql<number>`count(*)`.as("fired"),
      sql<number>`count(enrolled)`.as("entered"),
      // A join is recorded in the run's detail, which fireAutomations writes as "…; joined topic <id>; …".
      sql<number>`sum(CASE WHEN outcome = 'done' AND (detail LIKE 'joined topic %' OR detail LIKE '%; joined topic %') THEN 1 ELSE 0 END)`.as("joined"),
      sql<number>`sum(CASE WHEN outcome = 'unchanged' THEN 1 ELSE 0 END)`.as("unchanged"),
      sql<number>`sum(CASE WHEN outcome = 'skipped' THEN 1 ELSE 0 END)`.as("skipped"),
    ])
    .groupBy("automation_id")
    .orderBy("automation_id")
    .execute();
  return rows.map((r) => ({
    automationId: r.automation_id,
    fired: Number(r.fired),
    entered: Number(r.entered),
    joined: Number(r.joined),
    unchanged: Number(r.unchanged),
    skipped: Number(r.skipped),
  }));
}

export async function pendingCompletions(q: Kysely<DB>, limit: number): Promise<Enrollment[]> {
  // The partial index enrollments_completion holds exactly these rows: an idle check is one probe.
  const rows = await q
    .selectFrom("enrollments")
    .selectAll()
    .where("status", "=", "completed")
    .where(sql<boolean>`fired_round < round`)
    .orderBy("id")
    .limit(limit)
    .execute();
  return rows.map(toEnrollment);
}

export async function markCompletionFired(q: Kysely<DB>, enrollmentId: number, round: number): Promise<void> {
  await q.updateTable("enrollments").set({ fired_round: round }).where("id", "=", enrollmentId).where("fired_round", "<", round).execute();
}
