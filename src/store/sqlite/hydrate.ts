import type { Kysely } from "kysely";
import type { DB, SubscribersTable } from "../schema.ts";
import { toSubscriber } from "../shared.ts";
import type { Subscriber } from "../types.ts";

/** Subscribers with their tags, in the order given. */
export async function hydrate(q: Kysely<DB>, rows: SubscribersTable[]): Promise<Subscriber[]> {
  const ids = rows.map((r) => r.id);
  const tags = new Map<string, string[]>(ids.map((id) => [id, []]));
  if (ids.length > 0) {
    const found = await q.selectFrom("tags").select(["subscriber_id", "tag"]).where("subscriber_id", "in", ids).orderBy("tag").execute();
    for (const r of found) tags.get(r.subscriber_id)?.push(r.tag);
  }
  return rows.map((r) => toSubscriber(r, tags.get(r.id) ?? []));
}

/** The subscribers with these ids (tags included), by id. */
export async function subscribersById(q: Kysely<DB>, ids: readonly string[]): Promise<Map<string, Subscriber>> {
  if (ids.length === 0) return new Map();
  const rows = await q
    .selectFrom("subscribers")
    .selectAll()
    .where("id", "in", [...new Set(ids)])
    .execute();
  return new Map((await hydrate(q, rows)).map((s) => [s.id, s]));
}
