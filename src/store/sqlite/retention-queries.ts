/**
 * Event retention (`drip db prune`): old provider events deleted in bounded batches. Portable
 * SQL, used by the SQLite and PostgreSQL stores alike. Each batch is one DELETE (its own
 * transaction), walking the primary key upwards from the last batch, so a pass reads the
 * table once and never holds a lock for long.
 */
import type { Kysely } from "kysely";
import type { DB } from "../schema.ts";
import { PRUNABLE_EVENT_TYPES } from "../types.ts";

const TYPES = [...PRUNABLE_EVENT_TYPES];

export async function countPrunableEvents(q: Kysely<DB>, before: Date): Promise<number> {
  const row = await q
    .selectFrom("events")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("at", "<", before.getTime())
    .where("type", "in", TYPES)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

export async function pruneEvents(q: Kysely<DB>, before: Date, limit: number, afterId = 0): Promise<{ deleted: number; lastId: number }> {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`pruneEvents: limit must be a positive integer (got ${limit})`);
  const batch = q
    .selectFrom("events")
    .select("id")
    .where("id", ">", afterId)
    .where("at", "<", before.getTime())
    .where("type", "in", TYPES)
    .orderBy("id")
    .limit(limit);
  const rows = await q.deleteFrom("events").where("id", "in", batch).returning("id").execute();
  let lastId = afterId;
  for (const r of rows) lastId = Math.max(lastId, Number(r.id));
  return { deleted: rows.length, lastId };
}
