/**
 * The rate limiter counts a request from when it leaves (src/delivery/wire.ts,
 * RateLimiter.sent), not from when its slot was given: a busy process can write a request long
 * after its slot while the next goes out at once, and the provider counts arrivals.
 */
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { afterAll, describe, expect, it } from "vitest";
import { type Clock, RateLimiter, type Slot } from "../../src/delivery/rate-limiter.ts";
import { ResendTransport } from "../../src/delivery/resend.ts";
import type { ProviderEmail } from "../../src/delivery/transport.ts";
import { API_KEY } from "../support/delivery-helpers.ts";
import { type ResendDouble, startResendDouble } from "../support/resend-double.ts";

/** A clock that moves only when the code under test sleeps or the test sets it. */
class FakeClock implements Clock {
  constructor(public t = 0) {}
  now() {
    return this.t;
  }
  async sleep(ms: number) {
    this.t += ms;
  }
}

const doubles: ResendDouble[] = [];
afterAll(async () => {
  for (const d of doubles.splice(0)) await d.close();
});

const email = (i: number): ProviderEmail => ({
  from: "Body Heal Therapy <hello@example.com>",
  to: [`reader${i}@example.org`],
  subject: `Test ${i}`,
  html: `<p>Test ${i}</p>`,
  text: `Test ${i}`,
  headers: {},
  tags: [],
});

describe("a request counts from when it leaves", () => {
  it("on the limiter's clock: a request written late pushes the window; one written at once changes nothing", async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter(2, clock);
    const first = await limiter.acquire();
    expect(first.at).toBe(0);
    clock.t = 400; // the process was busy: the request leaves 400 ms after its slot
    limiter.sent(first);
    const second = await limiter.acquire(); // spacing: 510 ms after the first's departure
    expect(second.at).toBe(910);
    limiter.sent(second); // leaves at once
    const third = await limiter.acquire();
    // Two in the window: the third waits for the first to age out, counted from when it left.
    expect(third.at).toBeGreaterThanOrEqual(400 + 1000);
    // sent() never moves a slot back.
    const s: Slot = { at: 5000, cold: false };
    clock.t = 100;
    limiter.sent(s);
    expect(s.at).toBe(5000);
  });

  it("through the real SDK: at 2 req/s, requests two apart leave a second apart even when one left 400 ms after its slot", async () => {
    // The double's own limit is out of the way: what is measured is when requests leave (its
    // arrival times, in this same process, also carry its event loop's delays).
    const d = await startResendDouble({ rateLimit: 100 });
    doubles.push(d);
    // Busy for 400 ms right after the second slot is given (a long synchronous job elsewhere on
    // the event loop), before the SDK writes the request. (Not the first: a request on a cold
    // connection counts from its answer anyway.)
    let calls = 0;
    class BusyAfterFirstSlot extends RateLimiter {
      override async acquire(): Promise<Slot> {
        const slot = await super.acquire();
        if (calls++ === 1) {
          const until = Date.now() + 400;
          while (Date.now() < until) {}
        }
        return slot;
      }
    }
    const transport = new ResendTransport(API_KEY, { baseUrl: d.url, limiter: new BusyAfterFirstSlot(2), timeoutMs: 10_000 });
    // When each request's headers are written, as the provider would see them leave.
    const left = new Map<string, number>();
    const listener = (m: unknown) => {
      const key = /\r\nidempotency-key: *([^\r\n]*)\r\n/i.exec((m as { headers: string }).headers)?.[1];
      if (key?.startsWith("wire-test-")) left.set(key, performance.now());
    };
    subscribe("undici:client:sendHeaders", listener);
    try {
      for (let i = 0; i < 4; i++) {
        const out = await transport.sendBatch([email(i)], `wire-test-${i}`);
        expect(out.kind, `request ${i}`).toBe("accepted");
      }
    } finally {
      unsubscribe("undici:client:sendHeaders", listener);
    }
    const t = [0, 1, 2, 3].map((i) => left.get(`wire-test-${i}`)!);
    for (const x of t) expect(x).toBeTypeOf("number");
    // Without counting from departure: the fourth goes 1,020 ms after the second's slot, about
    // 620 ms after the second left (three in one second at a provider allowing two: a 429).
    expect(t[3]! - t[1]!).toBeGreaterThanOrEqual(1000);
  });
});
