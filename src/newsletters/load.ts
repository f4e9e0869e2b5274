/** Loading the typed newsletter definitions (topics.ts, feeds.ts) from the newsletters folder. */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { FeedDefinition } from "./feeds.ts";
import { type Topic, defineTopics } from "./topics.ts";
import { ensureTypeScript } from "../typescript-imports.ts";

/** newsletters/topics.ts (its default export), validated; a problem comes back as one sentence. */
export async function loadTopics(dir: string): Promise<{ topics: readonly Topic[]; problem: string | null }> {
  const file = join(dir, "topics.ts");
  if (!existsSync(file)) return { topics: [], problem: null };
  try {
    await ensureTypeScript();
    const mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
    if (!Array.isArray(mod.default)) return { topics: [], problem: `${file}: export default defineTopics([...]) is missing` };
    return { topics: defineTopics(mod.default as Topic[]), problem: null };
  } catch (err) {
    return { topics: [], problem: `${file}: ${(err as Error).message.split("\n")[0]}` };
  }
}

/** newsletters/feeds.ts (its default export, given DRIP_FEED_URL), validated. */
export async function loadFeeds(dir: string, feedUrl: string | undefined): Promise<{ feeds: FeedDefinition[]; problem: string | null }> {
  const file = join(dir, "feeds.ts");
  if (!existsSync(file)) return { feeds: [], problem: null };
  try {
    await ensureTypeScript();
    const mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
    if (typeof mod.default !== "function") return { feeds: [], problem: `${file}: export default defineFeeds(({ feedUrl }) => [...]) is missing` };
    return { feeds: (mod.default as (env: { feedUrl: string | undefined }) => FeedDefinition[])({ feedUrl }), problem: null };
  } catch (err) {
    return { feeds: [], problem: `${file}: ${(err as Error).message.split("\n")[0]}` };
  }
}
