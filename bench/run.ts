/** `npm run bench`: each bench prints its own table; run them one after another. */
import { benchRender } from "./render.ts";

const benches: [string, () => Promise<void>][] = [["render", benchRender]];
benches.push(["scale", async () => (await import("./scale.ts")).benchScale()]);
benches.push(["delivery", async () => (await import("./delivery.ts")).benchDelivery()]);
benches.push(["http", async () => (await import("./http.ts")).benchHttp()]);
benches.push(["newsletters", async () => (await import("./newsletters.ts")).benchNewsletters()]);
benches.push(["workers", async () => (await import("./workers.ts")).benchWorkers()]);
benches.push(["plan", async () => (await import("./plan.ts")).benchPlan()]);
benches.push(["wake", async () => (await import("./wake.ts")).benchWake()]);
benches.push(["admin", async () => (await import("./admin.ts")).benchAdmin()]);
benches.push(["automations", async () => (await import("./automations.ts")).benchAutomations()]);
benches.push(["cli", async () => (await import("./cli-start.ts")).benchCliStart()]);
benches.push(["validate", async () => (await import("./validate.ts")).benchValidate()]);

// `npm run bench -- wake delivery` runs only those; an unknown name is an error, not a silent no-op.
const only = process.argv.slice(2);
const unknown = only.filter((name) => !benches.some(([n]) => n === name));
if (unknown.length > 0) {
  console.error(`bench: no bench named ${unknown.join(", ")} (there are: ${benches.map(([n]) => n).join(", ")})`);
  process.exit(2);
}
for (const [name, bench] of benches) {
  if (only.length > 0 && !only.includes(name)) continue;
  const t0 = performance.now();
  await bench();
  console.log(`(${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
}
