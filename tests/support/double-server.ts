/**
 * The Resend double (tests/support/resend-double.ts) in a process of its own, driven over
 * IPC by tests/support/remote-double.ts. The real provider is another machine: its clock
 * and its request timestamps do not stall while drip renders a page of emails. Run in the
 * same process, the double's arrival times (and its rolling rate-limit window) are skewed by
 * whatever blocks drip's event loop, which measures the test's process, not the provider.
 * Out of process, `process.cpuUsage()` in the parent also counts drip's work alone.
 *
 * Options arrive as JSON in DOUBLE_OPTS (no `now`: the double uses the real clock).
 */
import { type ResendDoubleOptions, startResendDouble } from "./resend-double.ts";

type Message =
  | { id: number; type: "set"; opts: Partial<ResendDoubleOptions> }
  | { id: number; type: "resetQuota" }
  | { id: number; type: "snapshot" }
  | { id: number; type: "close" };

const send = (m: unknown) => process.send?.(m);

const double = await startResendDouble(JSON.parse(process.env.DOUBLE_OPTS ?? "{}") as ResendDoubleOptions);
process.on("message", (m: Message) => {
  switch (m.type) {
    case "set":
      double.set(m.opts);
      return send({ id: m.id });
    case "resetQuota":
      double.resetQuota();
      return send({ id: m.id });
    case "snapshot":
      // Everything but the bodies (5,000 emails × 10 kB would be 50 MB of IPC).
      return send({
        id: m.id,
        requests: double.requests,
        delivered: double.delivered.map(({ id, to, subject, idempotencyKey, batchIndex, receivedAt }) => ({
          id,
          to,
          subject,
          idempotencyKey,
          batchIndex,
          receivedAt,
        })),
      });
    case "close":
      void double.close().then(() => {
        send({ id: m.id });
        process.exit(0);
      });
  }
});
// The parent went away (a failed test): do not linger.
process.on("disconnect", () => process.exit(0));
send({ type: "ready", url: double.url });
