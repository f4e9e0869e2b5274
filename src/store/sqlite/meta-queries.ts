/**
 * Meta queries: the store's key/value settings (signing secret, schema facts). Each function
 * is one operation on the caller's connection or transaction (`q`).
 */
import type { Kysely } from "kysely";
import type { DB } from "../schema.ts";

export async function getMeta(q: Kysely<DB>, key: string): Promise<string | null> {
  const row = await q.selectFrom("meta").select("value").where("key", "=", key).executeTakeFirst();
  return row?.value ?? null;
}

export async function setMeta(q: Kysely<DB>, key: string, value: string | null): Promise<void> {
  if (value === null) await q.deleteFrom("meta").where("key", "=", key).execute();
  else
    await q
      .insertInto("meta")
      .values({ key, value })
      .onConflict((oc) => oc.column("key").doUpdateSet({ value }))
      .execute();
}

/** Set `key` unless it is already set; the value that is stored either way. */
export async function initMeta(q: Kysely<DB>, key: string, value: string): Promise<string> {
  await q
    .insertInto("meta")
    .values({ key, value })
    .onConflict((oc) => oc.column("key").doNothing())
    .execute();
  return (await getMeta(q, key)) ?? value;
}
