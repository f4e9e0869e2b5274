/** The dashboard's page frame: header, navigation (by role), one stylesheet and script file (strict CSP: no inline code). */
import { Html, esc, html } from "../http/html.ts";
import type { Staff } from "../store/types.ts";
import { allows } from "./auth.ts";

export { html, esc, Html };

export interface Frame {
  title: string;
  organization: string;
  staff?: Staff | null;
  csrf?: string;
  /** The nav entry to mark as current. */
  section?: string;
  body: Html;
  /** Load the charting library (pages with charts only). */
  charts?: boolean;
}

const NAV: { href: string; label: string; section: string; role: Staff["role"] }[] = [
  { href: "/admin", label: "Overview", section: "overview", role: "viewer" },
  { href: "/admin/sequences", label: "Sequences", section: "sequences", role: "viewer" },
  { href: "/admin/subscribers", label: "Subscribers", section: "subscribers", role: "viewer" },
  { href: "/admin/newsletters", label: "Newsletters", section: "newsletters", role: "viewer" },
  { href: "/admin/failures", label: "Failures", section: "failures", role: "viewer" },
  { href: "/admin/staff", label: "Staff", section: "staff", role: "owner" },
  { href: "/admin/audit", label: "Audit log", section: "audit", role: "owner" },
];

/** A hidden CSRF field for a form. */
export const csrfField = (token: string | undefined) => html`<input type="hidden" name="csrf" value="${token ?? ""}">`;

export function adminPage(f: Frame): string {
  const nav = f.staff
    ? html`<nav aria-label="Dashboard"><ul>${NAV.filter((n) => allows(f.staff!.role, n.role)).map(
        (n) => html`<li><a href="${n.href}"${n.section === f.section ? html` aria-current="page"` : ""}>${n.label}</a></li>`,
      )}</ul></nav>
      <form method="post" action="/admin/signout">${csrfField(f.csrf)}<button class="secondary" type="submit">Sign out <span class="muted">(${f.staff.email}, ${f.staff.role})</span></button></form>`
    : html``;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="color-scheme" content="light dark"><meta name="referrer" content="same-origin"><meta name="robots" content="noindex">
<title>${esc(f.title)} · ${esc(f.organization)} dashboard</title><link rel="stylesheet" href="/admin/assets/admin.css"></head>
<body><a class="skip" href="#main">Skip to content</a>
<header class="top"><span class="brand">${esc(f.organization)} · drip</span>${nav.value}</header>
<main id="main">${f.body.value}</main>
${f.charts ? '<script src="/admin/assets/chart.js" defer></script>' : ""}<script src="/admin/assets/admin.js" defer></script></body></html>`;
}

export const pct = (part: number, whole: number) => (whole > 0 ? `${((100 * part) / whole).toFixed(1)}%` : "–");
export const when = (d: Date | null | undefined) => (d ? d.toISOString().replace("T", " ").slice(0, 16) : "–");
export const n = (x: number) => x.toLocaleString("en-US");
