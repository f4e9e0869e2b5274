/**
 * MJML templates: compiled once per file (mjml2html costs milliseconds; a warm render must
 * not), then {{placeholders}} are filled into the compiled HTML with HTML escaping. The
 * placeholders survive compilation because MJML copies attribute and text values verbatim.
 */
import { readFileSync, statSync } from "node:fs";
import type { EmailProps } from "../sequences/types.ts";

/** Every placeholder an MJML template may use, and where its value comes from. */
export const MJML_PLACEHOLDERS = {
  "subscriber.name": (p: MjmlValues) => p.subscriber.name,
  "subscriber.email": (p: MjmlValues) => p.subscriber.email,
  "links.unsubscribe": (p: MjmlValues) => p.links.unsubscribe,
  "links.preferences": (p: MjmlValues) => p.links.preferences,
  "links.booking": (p: MjmlValues) => p.links.booking,
  "links.site": (p: MjmlValues) => p.links.site,
  "sender.organization": (p: MjmlValues) => p.sender.organization,
  "sender.name": (p: MjmlValues) => p.sender.name,
  "sender.postalAddress": (p: MjmlValues) => p.sender.postalAddress,
  reason: (p: MjmlValues) => p.reason,
  preview: (p: MjmlValues) => p.preview,
} as const;

export type MjmlValues = EmailProps;

const PLACEHOLDER = /\{\{\s*([a-zA-Z.]+)\s*\}\}/g;

export class TemplateError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
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
  const unknown = [...source.matchAll(PLACEHOLDER)].map((m) => m[1]!).filter((name) => !(name in MJML_PLACEHOLDERS));
  if (unknown.length > 0) {
    throw new TemplateError(
      path,
      `unknown placeholder {{${unknown[0]}}}: use one of ${Object.keys(MJML_PLACEHOLDERS)
        .map((k) => `{{${k}}}`)
        .join(", ")}`,
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
  // MJML's <mj-preview> renders a hidden div; mark it the way React Email's <Preview> is
  // marked, so the text part does not start with the preview text a second time.
  html = html.replace(/<div style="display:none;font-size:1px;/g, '<div data-skip-in-text="true" style="display:none;font-size:1px;');
  cache.set(path, { mtimeMs, html });
  return html;
}

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

/** Fill placeholders; values are escaped for both text and attribute positions. */
export function fillMjml(html: string, values: MjmlValues): string {
  return html.replace(PLACEHOLDER, (_m, name: string) => {
    const get = MJML_PLACEHOLDERS[name as keyof typeof MJML_PLACEHOLDERS];
    return get ? escapeHtml(get(values)) : "";
  });
}
