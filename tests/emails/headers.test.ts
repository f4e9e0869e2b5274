/**
 * The headers subscribers' mail apps read, in real outbox .eml files parsed back with
 * mailparser: a Message-ID unique in the world (RFC 5322 §3.6.4), List-Id per sequence
 * (RFC 2919), List-Unsubscribe with the https one-click URL first and a mailto: fallback
 * (RFC 2369, RFC 8058), and Auto-Submitted on the confirmation email (RFC 3834).
 */
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { createApp } from "../../src/wiring.ts";
import { cleanupTempDirs, rawHeader, readOutbox, runDrip, tempDir } from "../support/engine-helpers.ts";

afterEach(() => cleanupTempDirs());

const NOW = new Date("2026-10-28T14:00:00Z");
const LIST_ID = "Outer hip and leg pain that isn't your IT band <hip-pain-course.list.bodyhealtherapy.example>";

function envFor(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: `file:${join(dir, "drip.db")}`,
    OUTBOX_DIR: join(dir, "outbox"),
    DRIP_SECRET: "h".repeat(40),
    DRIP_PUBLIC_URL: "https://mail.bodyhealtherapy.example",
    DRIP_FROM: "hello@bodyhealtherapy.example",
    ...extra,
  };
}

async function sendBoth(env: Record<string, string>) {
  const app = await createApp(loadConfig(env));
  try {
    expect(await app.lifecycle.signUp({ email: "pat@example.com", name: "Pat", timezone: "Europe/London", tags: [] }, { source: "test" }, NOW)).toBe("queued");
    const active = await app.lifecycle.subscribe(
      { email: "sam@example.com", name: "", timezone: "Europe/London", tags: [] },
      { confirmed: true, source: "test" },
      NOW,
    );
    expect(active.kind).toBe("ok");
    await app.engine.tick(NOW);
    await app.engine.deliverConfirmations(NOW);
  } finally {
    await app.close();
  }
  const outbox = await readOutbox(env.OUTBOX_DIR!);
  const confirm = outbox.find((o) => rawHeader(o.mail, "X-Drip-Step") === "confirm");
  const article = outbox.find((o) => rawHeader(o.mail, "X-Drip-Step") === "article");
  expect(confirm, outbox.map((o) => o.file).join(" ")).toBeDefined();
  expect(article, outbox.map((o) => o.file).join(" ")).toBeDefined();
  return { confirm: confirm!, article: article! };
}

describe("outbox email headers", () => {
  it("Message-ID is <send-id.random@sending-domain>; List-Id names the sequence; one-click List-Unsubscribe alone without a mailbox", async () => {
    const { confirm, article } = await sendBoth(envFor(tempDir("drip-headers-")));
    for (const { file, mail } of [confirm, article]) {
      const id = file.slice(0, -4);
      expect(mail.messageId, file).toMatch(new RegExp(`^<${id.replace(/\./g, "\\.")}\\.[0-9a-f]{16}@bodyhealtherapy\\.example>$`));
      expect(rawHeader(mail, "List-Id"), file).toBe(LIST_ID);
      expect(rawHeader(mail, "List-Unsubscribe"), file).toMatch(/^<https:\/\/mail\.bodyhealtherapy\.example\/unsubscribe\/[A-Za-z0-9._-]+>$/);
      expect(rawHeader(mail, "List-Unsubscribe-Post"), file).toBe("List-Unsubscribe=One-Click");
    }
  });

  it("with DRIP_UNSUBSCRIBE_MAILTO, List-Unsubscribe offers the https URL first and the mailto: after it", async () => {
    const { confirm, article } = await sendBoth(envFor(tempDir("drip-headers-"), { DRIP_UNSUBSCRIBE_MAILTO: "unsubscribe@bodyhealtherapy.example" }));
    for (const { file, mail } of [confirm, article]) {
      expect(rawHeader(mail, "List-Unsubscribe"), file).toMatch(
        /^<https:\/\/mail\.bodyhealtherapy\.example\/unsubscribe\/[A-Za-z0-9._-]+>, <mailto:unsubscribe@bodyhealtherapy\.example\?subject=unsubscribe>$/,
      );
      // mailparser reads both forms of the header.
      const list = mail.headers.get("list") as { unsubscribe?: { url?: string; mail?: string } };
      expect(list.unsubscribe?.url, file).toMatch(/^https:\/\//);
      expect(list.unsubscribe?.mail, file).toBe("unsubscribe@bodyhealtherapy.example?subject=unsubscribe");
    }
  });

  it("the confirmation is Auto-Submitted: auto-generated; a course email is not", async () => {
    const { confirm, article } = await sendBoth(envFor(tempDir("drip-headers-")));
    expect(rawHeader(confirm.mail, "Auto-Submitted")).toBe("auto-generated");
    expect(rawHeader(article.mail, "Auto-Submitted")).toBeUndefined();
  });

  it("two demo runs, into two outboxes, repeat no Message-ID", async () => {
    const dir = tempDir("drip-demo-ids-");
    const env = envFor(dir);
    const ids: string[] = [];
    for (const out of ["one", "two"]) {
      const r = await runDrip(["demo", "--start", "2026-10-28T14:00:00Z", "--outbox", join(dir, out)], { env, cwd: dir, now: NOW });
      expect(r.code, r.err).toBe(0);
      const outbox = await readOutbox(join(dir, out));
      expect(outbox).toHaveLength(7); // the course's six and the first newsletter issue
      ids.push(...outbox.map((o) => o.mail.messageId!));
    }
    expect(ids).toHaveLength(14);
    for (const id of ids) expect(id).toMatch(/^<[^<>@\s]+@bodyhealtherapy\.example>$/);
    expect(new Set(ids).size).toBe(14);
  });
});
