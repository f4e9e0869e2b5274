/**
 * Delivering double opt-in emails. Signups only queue them (so the signup route stays fast
 * and the per-address cap is counted in one place); each tick, and a flush right after a
 * signup, send what is queued through the same transport and rate limiter as the course.
 */
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { ComponentType } from "react";
import type { Transport } from "../delivery/transport.ts";
import { buildLinks, type LinkContext } from "../render/links.ts";
import { renderReactEmail } from "../render/react.ts";
import { listHeaders } from "../render/render.ts";
import { htmlToText } from "../render/text.ts";
import type { Sequence } from "../sequences/types.ts";
import type { ConfirmationStore, PendingConfirmation } from "../store/types.ts";
import { CONFIRM_TTL_MS, signToken } from "../tokens.ts";
import type { EmailProps } from "../sequences/types.ts";
import { ensureTypeScript } from "../typescript-imports.ts";

export { CONFIRM_TTL_MS };

/** What emails/confirm.tsx receives on top of every email's props. */
export interface ConfirmProps extends EmailProps {
  confirmUrl: string;
  courseName: string;
}

/**
 * The confirmation email is a template like any other, read from the emails folder staff
 * edit (emails/confirm.tsx), not compiled into the engine.
 */
const templates = new Map<string, Promise<ComponentType<ConfirmProps>>>();
function confirmTemplate(emailsDir: string): Promise<ComponentType<ConfirmProps>> {
  let t = templates.get(emailsDir);
  if (!t) {
    t = ensureTypeScript()
      .then(() => import(pathToFileURL(join(emailsDir, "confirm.tsx")).href))
      .then((m: { default: ComponentType<ConfirmProps> }) => m.default);
    templates.set(emailsDir, t);
  }
  return t;
}

export interface ConfirmationDeps {
  store: ConfirmationStore;
  transport: Transport;
  links: LinkContext;
  secret: string;
  from: string;
  /** DRIP_UNSUBSCRIBE_MAILTO (the List-Unsubscribe mailto: fallback). */
  unsubscribeMailto?: string | undefined;
  postalAddress: string;
  /** The templates folder (emails/), where confirm.tsx lives. */
  emailsDir: string;
  sequence: () => Sequence | undefined;
  log: (line: string) => void;
}

export function confirmUrl(deps: Pick<ConfirmationDeps, "links" | "secret">, subscriberId: string, now: Date): string {
  const token = signToken(deps.secret, "confirm", subscriberId, new Date(now.getTime() + CONFIRM_TTL_MS));
  return `${deps.links.publicUrl.replace(/\/+$/, "")}/confirm/${token}`;
}

export async function deliverConfirmations(deps: ConfirmationDeps, now: Date, limit = 100): Promise<{ sent: number; failed: number }> {
  const result = { sent: 0, failed: 0 };
  const sequence = deps.sequence();
  if (!sequence) return result;
  for (;;) {
    const batch = await deps.store.claimConfirmations(now, limit, 5 * 60_000);
    for (const c of batch) {
      const ok = await deliverOne(deps, sequence, c, now);
      result[ok ? "sent" : "failed"]++;
    }
    if (batch.length < limit) return result;
  }
}

async function deliverOne(deps: ConfirmationDeps, sequence: Sequence, c: PendingConfirmation, now: Date): Promise<boolean> {
  const { subscriber } = c;
  // Confirmed meanwhile (another link), or suppressed: nothing to send. An unsubscribed
  // address gets its (at most monthly) invitation to come back.
  if (subscriber.status !== "pending" && subscriber.status !== "unsubscribed") {
    await deps.store.finishConfirmation(c.id, "failed", now, `subscriber is ${subscriber.status}`);
    return false;
  }
  const links = buildLinks(deps.links, signToken(deps.secret, "manage", subscriber.id), sequence.id, "confirm");
  const preview = "One tap to start the free course.";
  const html = renderReactEmail(await confirmTemplate(deps.emailsDir), {
    subscriber,
    links,
    sender: { organization: sequence.sender.organization, name: sequence.sender.name, postalAddress: deps.postalAddress },
    reason: `You're getting this because this address was entered in the signup form for ${sequence.sender.organization}'s free course.`,
    preview,
    confirmUrl: confirmUrl(deps, subscriber.id, now),
    courseName: sequence.name,
  });
  const res = await deps.transport.send({
    sendId: `confirm-${c.id}`,
    from: `${sequence.sender.name} <${deps.from}>`,
    to: subscriber.email,
    subject: `Confirm your signup: ${sequence.name}`,
    html,
    text: htmlToText(html),
    headers: {
      ...listHeaders(links, sequence, deps),
      // RFC 3834: sent by a program in answer to a signup, so auto-responders do not answer it.
      "Auto-Submitted": "auto-generated",
    },
    tags: [
      { name: "sequence", value: sequence.id },
      { name: "step", value: "confirm" },
    ],
    date: now,
  });
  if (res.ok) {
    await deps.store.finishConfirmation(c.id, "sent", now);
    return true;
  }
  if (res.permanent) {
    await deps.store.finishConfirmation(c.id, "failed", now, res.reason);
    deps.log(`confirmation to subscriber ${subscriber.id} failed: ${res.reason}`);
    return false;
  }
  await deps.store.retryConfirmationLater(c.id, new Date(now.getTime() + 60_000), res.reason);
  return false;
}
