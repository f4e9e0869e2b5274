/**
 * The text part, written for people: headings and paragraphs as plain lines, links kept
 * as "label <url>", no preview filler, images, layout tables or runs of blank lines.
 */
import { toPlainText } from "react-email";

const selectors = [
  // React Email's <Preview> and MJML's <mj-preview> both render hidden filler divs.
  { selector: "div[style*='display:none']", format: "skip" },
  { selector: "div[style*='display: none']", format: "skip" },
  { selector: "a", options: { linkBrackets: ["<", ">"] as [string, string], hideLinkHrefIfSameAsText: true } },
  { selector: "h1", options: { uppercase: false } },
  { selector: "h2", options: { uppercase: false } },
  { selector: "h3", options: { uppercase: false } },
  { selector: "hr", format: "skip" },
];

export function htmlToText(html: string): string {
  const raw = toPlainText(html, { selectors, wordwrap: 78 });
  return (
    raw
      .split("\n")
      .map((line) => line.replace(/[ \t\u00a0\u200b\u200c\u034f\u2007\u00ad\ufeff]+$/g, "").replace(/^[ \t\u00a0]+/, ""))
      .join("\n")
      .replace(/\n{3,}/g, "\n\n")
      .trim() + "\n"
  );
}
