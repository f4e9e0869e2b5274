/**
 * Import with automations: the same CSV imported twice into fresh databases, once with a tag
 * that fires the post-booking automation for every row (`booked`), once with a tag that fires
 * nothing, through the lifecycle door (one transaction per page of 500). Prints rows/s and the
 * cost the automation adds per row. Rows: DRIP_BENCH_IMPORT_ROWS (default 10,000).
 */
import { createReadStream, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../src/config.ts";
import { importCsv, readCsv } from "../src/lifecycle/import.ts";
import { createApp } from "../src/wiring.ts";
import { cleanupTempDirs, tempDir } from "../tests/support/engine-helpers.ts";

export async function benchAutomations(): Promise<void> {
  const rows = Number(process.env.DRIP_BENCH_IMPORT_ROWS ?? 10_000);
  const now = new Date("2026-10-28T12:00:00Z");
  const table: { tags: string; rows: number; seconds: string; "rows/s": number; automations: number }[] = [];
  try {
    for (const tags of ["booked;blog", "blog"]) {
      const dir = tempDir("drip-bench-automations-");
      const lines = ["email,name,timezone,tags"];
      for (let i = 0; i < rows; i++) lines.push(`reader${i}@example.com,Reader ${i},Europe/London,${tags}`);
      const file = join(dir, "import.csv");
      writeFileSync(file, `${lines.join("\n")}\n`);
      const app = await createApp(loadConfig({ DATABASE_URL: `file:${join(dir, "drip.db")}`, OUTBOX_DIR: join(dir, "outbox"), DRIP_SECRET: "b".repeat(40) }));
      try {
        const t0 = performance.now();
        const r = await importCsv(app.lifecycle, readCsv(createReadStream(file), { file }), { confirmed: true, now });
        const s = (performance.now() - t0) / 1000;
        table.push({ tags, rows: r.imported, seconds: s.toFixed(2), "rows/s": Math.round(r.imported / s), automations: r.automations.fired });
      } finally {
        await app.close();
      }
    }
  } finally {
    cleanupTempDirs();
  }
  console.log("import --confirmed, pages of 500 (one transaction each); booked fires the post-booking automation per row");
  console.table(table);
}
