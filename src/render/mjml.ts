/**
 * MJML templates: compiled once per file (mjml2html costs milliseconds; a warm render must
 * not), then {{placeholders}} are filled into the compiled HTML with HTML escaping. The
 * placeholders survive compilation because MJML copies attribute and text values verbatim.
 */
import { readFileSync, statSync } from "node:fs";
import { relative } from "node:path";
import type { EmailProps } from "../sequences/types.ts";
import { greetingLine, senderLines } from "./greeting.ts";

/**
 * Every placeholder an MJML template may use, and where its value comes from. A list of
 * lines is filled as escaped lines joined by <br />.
 */
export const MJML_PLACEHOLDERS: Record<string, (p: MjmlValues) => string | readonly string[]> = {
  "subscriber.name": (p: MjmlValues) => p.subscriber.name,
  "subscriber.email": (p: MjmlValues) => p.subscriber.email,
  "links.unsubscribe": (p: MjmlValues) => p.links.unsubscribe,
  "links.preferences": (p: MjmlValues) => p.links.preferences,
  "links.booking": (p: MjmlValues) => p.links.booking,
  "links.site": (p: MjmlValues) => p.links.site,
  "sender.organization": (p: MjmlValues) => p.sender.organization,
  "sender.name": (p: MjmlValues) => p.sender.name,
  "sender.postalAddress": (p: MjmlValues) => p.sender.postalAddress,
  /** The footer's sender lines: the name, then the address, the name once only (see senderLines). */
  "sender.lines": (p: MjmlValues) => senderLines(p.sender.organization, p.sender.postalAddress),
  /** "Hi Sam," or, with no name, "Hello," (as the React templates' <Greeting>). */
  greeting: (p: MjmlValues) => greetingLine(p.subscriber.name),
  reason: (p: MjmlValues) => p.reason,
  preview: (p: MjmlValues) => p.preview,
};

export type MjmlValues = EmailProps;

/** Any {{…}}: a name that is not a known placeholder (Kit's {{subscriber.first_name}}, a typo) is an error, never sent literally. */
const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;

export class TemplateError extends Error {
  constructor(
    readonly file: string,
    message: string,
    readonly line?: number,
  ) {
    super(`${relative(process.cwd(), file) || file}${line ? `:${line}` : ""}: ${message}`);
    this.name = "TemplateError";
  }
}

interface Compiled {
  mtimeMs: number;
  html: string;
}
const cache = new Map<string, Compiled>();

/** Compile an MJML file (strict validation), cached until the file changes. */
export async function compileMjml(path: string): Promise<string> {
  let mtimeMs: number;
  try {
    mtimeMs = statSync(path).mtimeMs;
  } catch {
    throw new TemplateError(path, "the MJML template file does not exist: create it under emails/ or fix the name in the sequence");
  }
  const hit = cache.get(path);
  if (hit && hit.mtimeMs === mtimeMs) return hit.html;
  const source = readFileSync(path, "utf8");
  const unknown = [...source.matchAll(PLACEHOLDER)].filter((m) => !Object.hasOwn(MJML_PLACEHOLDERS, m[1]!));
  if (unknown.length > 0) {
    const at = unknown[0]!.index ?? 0;
    const line = source.slice(0, at).split("\n").length;
    throw new TemplateError(
      path,
      `unknown placeholder ${unknown[0]![0]}: use one of ${Object.keys(MJML_PLACEHOLDERS)
        .map((k) => `{{${k}}}`)
        .join(", ")}`,
      line,
    );
  }
  let html: string;
  try {
    // Loaded on first use: mjml costs ~1 s to import, which every CLI command would pay.
    const { default: mjml2html } = await import("mjml");
    const result = await mjml2html(source, { validationLevel: "strict", filePath: path, minify: false });
    html = result.html;
  } catch (err) {
    // mjml throws a ValidationError whose .errors lists line numbers and messages.
    const errors = (err as { errors?: { formattedMessage?: string; message?: string }[] }).errors;
    const detail = errors?.length ? errors.map((e) => e.formattedMessage ?? e.message).join("; ") : (err as Error).message;
    throw new TemplateError(path, `invalid MJML: ${detail}`);
  }
  html = previewAsReactEmail(html);
  cache.set(path, { mtimeMs, html });
  return html;
}

/** React Email's preview filler: invisible characters that keep the inbox snippet from running into the body. */
const PREVIEW_FILLER = "\u00a0\u200c\u200b\u200d\ufeff".repeat(150);

/**
 * MJML's <mj-preview> renders a hidden div in white 1px text (a spam-filter hit:
 * SpamAssassin's low-contrast rules) and with no filler, so the inbox snippet runs on into
 * the body. Render it the way React Email's <Preview> does: hidden without colour tricks,
 * followed by filler, and marked so the text part does not repeat the preview.
 */
function previewAsReactEmail(html: string): string {
  return html.replace(
    /<div style="display:none;font-size:1px;color:#ffffff;line-height:1px;max-height:0px;max-width:0px;opacity:0;overflow:hidden;">([\s\S]*?)<\/div>/,
    (_m, text: string) =>
      `<div data-skip-in-text="true" style="display:none;overflow:hidden;line-height:1px;opacity:0;max-height:0;max-width:0">${text}<div>${PREVIEW_FILLER}</div></div>`,
  );
}

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

/** Fill placeholders; values are escaped for both text and attribute positions. */
export function fillMjml(html: string, values: MjmlValues): string {
  return html.replace(PLACEHOLDER, (_m, name: string) => {
    const value = Object.hasOwn(MJML_PLACEHOLDERS, name) ? MJML_PLACEHOLDERS[name]!(values) : undefined;
    if (value === undefined) return "";
    return typeof value === "string" ? escapeHtml(value) : value.map(escapeHtml).join("<br />");
  });
}
