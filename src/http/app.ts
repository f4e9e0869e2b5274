/** The HTTP app (Hono). Lifecycle routes (signup, confirm, unsubscribe, webhooks) build on this. */
import { Hono } from "hono";
import type { Store } from "../store/types.ts";

export interface HttpDeps {
  store: Store;
  /** When the scheduler last finished a tick (for /healthz). */
  lastTick: () => Date | null;
}

export function createHttpApp(deps: HttpDeps): Hono {
  const app = new Hono();
  app.get("/healthz", async (c) => {
    try {
      await deps.store.getMeta("secret");
      return c.json({ ok: true, lastTick: deps.lastTick()?.toISOString() ?? null });
    } catch {
      return c.json({ ok: false, error: "database unavailable" }, 503);
    }
  });
  app.notFound((c) => c.json({ error: "not found" }, 404));
  app.onError((_err, c) => c.json({ error: "internal error" }, 500));
  return app;
}
