import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { simpleParser } from "mailparser";
import { afterEach, describe, expect, it } from "vitest";
import { OutboxTransport } from "../../src/delivery/outbox.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const fresh = () => {
  const d = mkdtempSync(join(tmpdir(), "drip-outbox-"));
  dirs.push(d);
  return d;
};
const msg = (sendId: string, subject = "Hello") => ({
  sendId,
  from: "Clinic <hello@clinic.example>",
  to: "ana@example.com",
  subject,
  html: "<p>Hi</p>",
  text: "Hi\n",
  headers: { "List-Unsubscribe": "<https://drip.example/unsubscribe/t>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click" },
  tags: [
    { name: "sequence", value: "s" },
    { name: "step", value: "one" },
  ],
  date: new Date("2026-03-06T15:00:00Z"),
});

describe("outbox transport", () => {
  it("a retried send overwrites its file instead of adding a second one", async () => {
    const dir = fresh();
    const outbox = new OutboxTransport(dir);
    await outbox.send(msg("7.1.one", "First try"));
    await outbox.send(msg("7.1.one", "Second try"));
    expect(readdirSync(dir)).toEqual(["7.1.one.eml"]);
    const mail = await simpleParser(readFileSync(join(dir, "7.1.one.eml")));
    expect(mail.subject).toBe("Second try");
    expect(mail.date?.toISOString()).toBe("2026-03-06T15:00:00.000Z");
  });

  it("sweeps temp files left by a killed process, never those of a live one", () => {
    const dir = fresh();
    const dead = join(dir, "1.1.one.eml.999999999.tmp");
    const mine = join(dir, `1.1.two.eml.${process.pid}.tmp`);
    writeFileSync(dead, "half a message");
    writeFileSync(mine, "in progress");
    new OutboxTransport(dir);
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(mine)).toBe(true);
  });
});
