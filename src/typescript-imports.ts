/**
 * Staff content (sequences/, emails/, newsletters/) is TypeScript imported at run time. Run
 * from source (tsx, vitest) it imports as it is; run compiled (bin/drip.js), the TypeScript
 * loader is registered only when the first such file is imported, so commands that never read
 * staff content (`drip status`) never start it. Call before every import of a staff file.
 */
const REGISTER = Symbol.for("drip.registerTypeScript");

export async function ensureTypeScript(): Promise<void> {
  const register = (globalThis as Record<symbol, unknown>)[REGISTER];
  if (typeof register === "function") await (register as () => Promise<void>)();
}
