/**
 * Setup shared by the staff-retry tests that run on both backends with the real Resend SDK at
 * the provider double (tests/delivery/retry-unit.test.ts, retry-left-behind.test.ts).
 */
import { join } from "node:path";
import hipPainCourse from "../../sequences/hip-pain-course.ts";
import { RateLimiter } from "../../src/delivery/rate-limiter.ts";
import { ResendTransport } from "../../src/delivery/resend.ts";
import { Engine, type EngineOptions } from "../../src/engine/engine.ts";
import { EMAILS_DIR } from "../../src/paths.ts";
import { PostgresStore } from "../../src/store/postgres/postgres-store.ts";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import type { Store } from "../../src/store/types.ts";
import { API_KEY, InstantClock, tempDir } from "./delivery-helpers.ts";
import { SECRET } from "./engine-helpers.ts";
import type { ResendDouble } from "./resend-double.ts";

export type Backend = "sqlite" | "postgres";

/** A migrated store: a fresh SQLite file, or the file's PostgreSQL database emptied. */
export async function openStoreOn(backend: Backend, db: { url: string; reset: () => Promise<void> }, prefix: string): Promise<Store> {
  if (backend === "postgres") await db.reset();
  const store = backend === "sqlite" ? new SqliteStore(`file:${join(tempDir(prefix), "drip.db")}`) : new PostgresStore(db.url);
  await store.migrate();
  return store;
}

/** The course's engine sending through the real SDK to `d`, giving up on an answer after `timeoutMs`. */
export function resendEngine(store: Store, d: ResendDouble, timeoutMs: number, more: Partial<EngineOptions> = {}): Engine {
  return new Engine({
    store,
    sequences: [hipPainCourse],
    transport: new ResendTransport(API_KEY, { baseUrl: d.url, limiter: new RateLimiter(100), timeoutMs }),
    links: { publicUrl: "https://drip.example.com", bookingUrl: "https://clinic.example.com/book", siteUrl: "https://clinic.example.com" },
    secret: SECRET,
    from: "hello@clinic.example.com",
    postalAddress: "Body Heal Therapy, 1 Example Street, Example Town, EX1 2MP",
    emailsDir: EMAILS_DIR,
    clock: new InstantClock(),
    maxAttempts: 2,
    ...more,
  });
}

/**
 * The double's onRequest for "the first `n` requests are held 600 ms (past the client's
 * timeout), then never taken" (`taken: false`) or taken, answered too late (`taken: true`).
 */
export function firstRequestsLate(n: number, taken: boolean): () => Promise<void> {
  let left = n;
  return async () => {
    if (left <= 0) return;
    left--;
    await new Promise((resolve) => setTimeout(resolve, 600));
    if (!taken) throw new Error("never taken");
  };
}
