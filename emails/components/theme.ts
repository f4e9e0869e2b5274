/**
 * Colours and type shared by the React layout and its parts. Every text/background pair
 * meets WCAG AA (4.5:1) in both schemes; the MJML template copies these values by hand.
 */
import type { CSSProperties } from "react";

export const colors = {
  page: "#f3f4f1",
  card: "#ffffff",
  text: "#1f2a27", // 14.8:1 on card
  muted: "#4a5551", // 7.0:1 on page, 7.7:1 on card
  accent: "#0b6b5d", // links and button: 6.4:1 against white
  onAccent: "#ffffff",
  rule: "#d9ddd8",
} as const;

/** System fonts only: no web-font requests (MJML would fetch Google Fonts for "Roboto", so neither uses it). */
export const fontStack = "-apple-system, BlinkMacSystemFont, 'Segoe UI', Helvetica, Arial, sans-serif";

/**
 * Dark mode, a progressive enhancement only: clients that honour prefers-color-scheme (Apple
 * Mail and iOS Mail, Outlook.com) apply these; Gmail, Outlook for Windows and Yahoo do not,
 * and show the inline light design, which must stand alone (the browser test strips this
 * stylesheet and checks it does). Inline light styles stay the fallback, hence !important. Class names are
 * prefixed so they cannot clash with a client's own. React Email's <Body> repeats its
 * background inline on an inner <td>, hence the child selector.
 */
export const darkModeCss = `
:root { color-scheme: light dark; supported-color-schemes: light dark; }
@media (prefers-color-scheme: dark) {
  .bht-page, .bht-page > table > tbody > tr > td { background-color: #111412 !important; }
  .bht-card { background-color: #1b1f1d !important; }
  .bht-text, .bht-heading, .bht-brand { color: #e8ece9 !important; }
  .bht-muted { color: #c2c9c5 !important; }
  .bht-link { color: #8fd9c9 !important; }
  .bht-button { background-color: #8fd9c9 !important; color: #0b1f1c !important; }
  .bht-rule { border-color: #3a423e !important; }
}
`.trim();

export const textStyle: CSSProperties = {
  color: colors.text,
  fontSize: "16px",
  lineHeight: "26px",
  margin: "0 0 16px",
};

export const linkStyle: CSSProperties = {
  color: colors.accent,
  textDecoration: "underline",
};
