/** Sign-in throttling: wrong attempts per key (address, IP) in a fixed one-minute window, in memory (one process serves HTTP). */
export class AttemptLimiter {
  private fails = new Map<string, { start: number; n: number }>();
  constructor(
    private readonly max = 10,
    private readonly windowMs = 60_000,
    private readonly maxKeys = 50_000,
  ) {}

  /** Has this key used up its wrong attempts in the current window? */
  blocked(key: string, now: number): boolean {
    const f = this.fails.get(key);
    return Boolean(f && now - f.start < this.windowMs && f.n >= this.max);
  }

  /** Count one wrong attempt. */
  fail(key: string, now: number): void {
    let f = this.fails.get(key);
    if (!f || now - f.start >= this.windowMs) {
      if (this.fails.size >= this.maxKeys) this.fails.clear();
      f = { start: now, n: 0 };
      this.fails.set(key, f);
    }
    f.n++;
  }
}
