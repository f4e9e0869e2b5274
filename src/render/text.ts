/**
 * The text part, written for people: headings and paragraphs as plain lines, links kept
 * as "label https://…", no preview filler, images, layout tables or runs of blank lines.
 *
 * React Email's `unstableToPlainText` walks the HTML once and is ~15x faster than its
 * html-to-text based `toPlainText` (0.5 ms against 7.7 ms for a course email), which
 * decided the render budget. "unstable" names its API, not its output: the text-part
 * snapshot tests pin what it produces, so an upgrade that changes it fails loudly.
 */
import { unstableToPlainText } from "react-email";

/** Invisible characters used as preview padding by email templates. */
// biome-ignore lint/suspicious/noMisleadingCharacterClass: each invisible character is removed on its own (U+034F included)
const INVISIBLE = /[\u200b\u200c\u200d\u034f\u2007\u00ad\ufeff]/g;

export function htmlToText(html: string): string {
  return `${unstableToPlainText(html)
    .replace(INVISIBLE, "")
    .split("\n")
    .map((line) => line.replace(/[ \t\u00a0]+$/g, "").replace(/^[ \t\u00a0]+/, ""))
    .join("\n")
    .replace(/\n{3,}/g, "\n\n")
    .trim()}\n`;
}
