/**
 * Staff content (sequences/, emails/, newsletters/) is TypeScript imported at run time. Run
 * from source (tsx, vitest) it imports as it is; run compiled (bin/drip.js), the TypeScript
 * loader is registered only when the first such file is imported, so commands that never read
 * staff content (`drip status`) never start it. Call before every import of a staff file.
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const REGISTER = Symbol.for("drip.registerTypeScript");
const WITHOUT_TEMPLATES = Symbol.for("drip.importWithoutTemplates");

export async function ensureTypeScript(): Promise<void> {
  const register = (globalThis as Record<symbol, unknown>)[REGISTER];
  if (typeof register === "function") await (register as () => Promise<void>)();
}

/**
 * A sequence file for its definition only (`drip list`): under bin/drip.js its email templates
 * are stubbed, so React and the template code are never loaded; anything that stops that
 * (a file needing more of a template than its default export) falls back to `full`, as does
 * running without bin/drip.js.
 */
export async function importWithoutTemplates(file: string, full: (file: string) => Promise<Record<string, unknown>>): Promise<Record<string, unknown>> {
  const stubbed = (globalThis as Record<symbol, unknown>)[WITHOUT_TEMPLATES];
  if (typeof stubbed === "function") {
    try {
      return (await (stubbed as (url: string) => Promise<Record<string, unknown>>)(pathToFileURL(resolve(file)).href)) as Record<string, unknown>;
    } catch (err) {
      if (process.env.DEBUG?.includes("drip")) console.error(err);
      // Imported in full below: its error, if it has one, is reported from there.
    }
  }
  return full(file);
}
