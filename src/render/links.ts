import type { EmailLinks } from "../sequences/types.ts";

export interface LinkContext {
  /** Where drip's own pages live (DRIP_PUBLIC_URL). */
  publicUrl: string;
  /** The clinic's booking page (DRIP_BOOKING_URL). */
  bookingUrl: string;
  /** The clinic's site (DRIP_SITE_URL). */
  siteUrl: string;
}

/** UTM parameters say which sequence and step earned a booking (source, medium, campaign, content). */
export function withUtm(url: string, sequenceId: string, stepId: string): string {
  // The same for every email of a step (a pure function of its arguments): parsed once for a run of them.
  if (last.url !== url || last.sequenceId !== sequenceId || last.stepId !== stepId) last = { url, sequenceId, stepId, out: utmOf(url, sequenceId, stepId) };
  return last.out;
}
let last = { url: "", sequenceId: "", stepId: "", out: "" };

function utmOf(url: string, sequenceId: string, stepId: string): string {
  const u = new URL(url);
  u.searchParams.set("utm_source", "drip");
  u.searchParams.set("utm_medium", "email");
  u.searchParams.set("utm_campaign", sequenceId);
  u.searchParams.set("utm_content", stepId);
  return u.toString();
}

/** The links one email carries; `token` is the subscriber's signed link token. */
export function buildLinks(ctx: LinkContext, token: string, sequenceId: string, stepId: string): EmailLinks {
  const base = ctx.publicUrl.replace(/\/+$/, "");
  return {
    unsubscribe: `${base}/unsubscribe/${token}`,
    preferences: `${base}/preferences/${token}`,
    booking: withUtm(ctx.bookingUrl, sequenceId, stepId),
    site: ctx.siteUrl.replace(/\/+$/, ""),
  };
}
