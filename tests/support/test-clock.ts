/**
 * The test's clock: one virtual instant that the test moves by hand. The `now` a test passes
 * to code under test (engine.tick(now), the HTTP app's `now`) and the clock of the provider
 * double (quota day, retry-after, idempotency expiry) read the same value, so nothing a test
 * asserts depends on the hour the suite happens to run.
 */
export class TestClock {
  private t: number;
  constructor(start: Date) {
    this.t = start.getTime();
  }
  /** Epoch ms: pass as `startResendDouble({ now: clock.now })`. */
  readonly now = (): number => this.t;
  date(): Date {
    return new Date(this.t);
  }
  /** Move to `at` (forwards only: a clock that runs backwards hides bugs) and return it. */
  set(at: Date): Date {
    if (at.getTime() < this.t) throw new Error(`TestClock: ${at.toISOString()} is before ${this.date().toISOString()}`);
    this.t = at.getTime();
    return at;
  }
}
