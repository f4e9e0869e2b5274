/**
 * Wake-ups: a confirmation makes the first email go out at once through the ordinary tick
 * (TickLoop), and a wake-up racing the minute tick, a second engine on the same SQLite file
 * and a second process ticking that file cannot send any step twice.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { TickLoop, type WakeChannel, Waker } from "../../src/engine/wake.ts";
import { fileWakeChannel, wakeFilePath } from "../../src/store/sqlite/wake-file.ts";
import { createApp } from "../../src/wiring.ts";
import { waitFor } from "../support/delivery-helpers.ts";
import { cleanupTempDirs, ScriptedTransport, tempDir } from "../support/engine-helpers.ts";
import { envFor, T0, wakeRace } from "../support/wake-race.ts";

const COURSE = "hip-pain-course";

afterAll(() => cleanupTempDirs());

describe("TickLoop", () => {
  it("runs one tick at a time and turns any number of calls during a tick into exactly one more", async () => {
    let running = 0;
    let maxRunning = 0;
    let ticks = 0;
    let release: () => void = () => {};
    const loop = new TickLoop(async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      ticks++;
      if (ticks === 1) await new Promise<void>((r) => (release = r));
      running--;
    });
    const first = loop.run();
    const during = [loop.run(), loop.run(), loop.run(), loop.run()];
    expect(ticks).toBe(1);
    release();
    await Promise.all([first, ...during]);
    expect(ticks).toBe(2); // four wake-ups during the first tick: one more tick, not four
    expect(maxRunning).toBe(1);
    await loop.run();
    expect(ticks).toBe(3);
    loop.stop();
    await loop.run();
    expect(ticks).toBe(3);
  });
});

describe("Waker", () => {
  it("runs the tick where it is attached, and notifies the channel where it is not", async () => {
    let notified = 0;
    let listener: (() => void) | null = null;
    const channel: WakeChannel = {
      notify: () => void notified++,
      listen: (on) => {
        listener = on;
        return () => void (listener = null);
      },
    };
    const cli = new Waker(channel);
    cli.wake();
    expect(notified).toBe(1);
    let ran = 0;
    const server = new Waker(channel);
    server.attach(async () => void ran++);
    server.wake();
    expect(ran).toBe(1);
    expect(notified).toBe(1); // a ticking process does not notify itself
    listener!(); // another process's notification
    expect(ran).toBe(2);
    server.detach();
    expect(listener).toBeNull();
  });

  it("the SQLite wake file: nobody listening means nothing is written; a listener hears a write", async () => {
    const dir = tempDir("drip-wake-");
    const path = wakeFilePath(join(dir, "drip.db"));
    const channel = fileWakeChannel(path);
    channel.notify();
    expect(existsSync(path)).toBe(false);
    let heard = 0;
    const stop = channel.listen(() => void heard++);
    expect(existsSync(path)).toBe(true);
    fileWakeChannel(path).notify();
    await waitFor(() => heard > 0, 5_000, 5);
    stop();
  });
});

describe("event-driven first email", () => {
  it("a confirmation wakes the ticking process: the first email is handed over without any minute tick", async () => {
    const dir = tempDir("drip-wake-");
    const transport = new ScriptedTransport();
    const app = await createApp(loadConfig(envFor(dir)), () => {}, { transport, wakeChannel: null });
    try {
      const loop = new TickLoop(async () => void (await app.engine.tick(T0)));
      app.waker.attach(() => loop.run());
      const signup = await app.lifecycle.signUp({ email: "new@example.com", name: "Ada", timezone: "Europe/London", tags: [] }, { source: "test" }, T0);
      expect(signup).toBe("queued");
      const sub = (await app.store.findSubscriberByEmail("new@example.com"))!;
      await app.lifecycle.confirm(sub.id, T0, T0);
      await loop.idle();
      expect(transport.stepsTo("new@example.com")).toEqual(["article"]);
      expect(app.waker.requested).toBe(1);
    } finally {
      await app.close();
    }
  });

  it("a CLI process's confirmed subscribe reaches `drip start` in another app through the wake file", async () => {
    const dir = tempDir("drip-wake-");
    const transport = new ScriptedTransport();
    const server = await createApp(loadConfig(envFor(dir)), () => {}, { transport });
    const cli = await createApp(loadConfig(envFor(dir)), () => {}, { transport: new ScriptedTransport() });
    try {
      const loop = new TickLoop(async () => void (await server.engine.tick(T0)));
      server.waker.attach(() => loop.run());
      // The CLI app has no runner: its wake-up goes through the file, as from another process.
      await cli.lifecycle.subscribe(
        { email: "cli@example.com", name: "Bo", timezone: "Europe/London", tags: [] },
        { confirmed: true, source: "cli", sequenceId: COURSE },
        T0,
      );
      await waitFor(() => transport.calls.length > 0, 10_000, 5);
      await loop.idle();
      expect(transport.stepsTo("cli@example.com")).toEqual(["article"]);
    } finally {
      server.waker.detach();
      await server.close();
      await cli.close();
    }
  });

  it("a wake-up racing the minute tick and a second engine on the same file: every first email exactly once", async () => {
    const by = await wakeRace(40, { process: false });
    expect(by.mine + by.engine).toBe(40);
  }, 60_000);
});
