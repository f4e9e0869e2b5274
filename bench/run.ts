/** `npm run bench`: each bench prints its own table; run them one after another. */
import { benchRender } from "./render.ts";

const benches: [string, () => Promise<void>][] = [["render", benchRender]];
benches.push(["scale", async () => (await import("./scale.ts")).benchScale()]);
benches.push(["delivery", async () => (await import("./delivery.ts")).benchDelivery()]);
benches.push(["http", async () => (await import("./http.ts")).benchHttp()]);
benches.push(["admin", async () => (await import("./admin.ts")).benchAdmin()]);

for (const [name, bench] of benches) {
  const t0 = performance.now();
  await bench();
  console.log(`(${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
}
