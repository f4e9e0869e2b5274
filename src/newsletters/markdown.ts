/**
 * Staff Markdown → email-safe HTML, with `marked`. Every element gets the course emails'
 * inline styles (mail clients drop <style> unevenly), images scale to the column, and the
 * output is deterministic (the provider's idempotency check compares payloads).
 */
import { Marked, type Token, type Tokens } from "marked";
import { colors, fontStack } from "../../emails/components/theme.ts";

const text = `color:${colors.text};font-family:${fontStack};font-size:17px;line-height:27px`;
const STYLES: Record<string, string> = {
  p: `${text};margin:0 0 16px`,
  h1: `color:${colors.text};font-family:${fontStack};font-size:26px;line-height:34px;font-weight:700;margin:16px 0 16px`,
  h2: `color:${colors.text};font-family:${fontStack};font-size:20px;line-height:28px;font-weight:700;margin:24px 0 8px`,
  h3: `color:${colors.text};font-family:${fontStack};font-size:18px;line-height:26px;font-weight:700;margin:20px 0 8px`,
  ul: `${text};margin:0 0 16px;padding-left:24px`,
  ol: `${text};margin:0 0 16px;padding-left:24px`,
  li: "margin:0 0 8px",
  blockquote: `${text};color:${colors.muted};border-left:4px solid ${colors.accent};margin:0 0 16px;padding-left:12px`,
};

const marked = new Marked({ gfm: true, breaks: false, async: false });

/** The body HTML of an issue: rendered for nobody in particular (no names, no tokens). */
export function markdownToHtml(markdown: string): string {
  const html = marked.parse(markdown) as string;
  return html
    .replace(/<(p|h1|h2|h3|ul|ol|li|blockquote)>/g, (_m, tag: string) => `<${tag} style="${STYLES[tag]}">`)
    .replace(/<(h[456])>/g, (_m, tag: string) => `<${tag} style="${STYLES.h3}">`)
    .replace(/<a href=/g, `<a style="color:${colors.accent};text-decoration:underline" href=`)
    .replace(/<img /g, '<img style="max-width:100%;height:auto;border:0;display:block;margin:0 0 16px" width="552" ')
    .trim();
}

/** What validation needs to see in the Markdown: its links and images. */
export function markdownParts(markdown: string): { links: string[]; images: { src: string; alt: string }[] } {
  const links: string[] = [];
  const images: { src: string; alt: string }[] = [];
  marked.walkTokens(marked.lexer(markdown), (token: Token) => {
    if (token.type === "link") links.push((token as Tokens.Link).href);
    if (token.type === "image") images.push({ src: (token as Tokens.Image).href, alt: (token as Tokens.Image).text.trim() });
  });
  return { links, images };
}

const escapeAttr = (s: string) => s.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");

/** The "Read on the blog" button: a bulletproof table button (≥ 44 px tall, white on teal 6.4:1). */
export function blogButtonHtml(url: string): string {
  return (
    `<table role="presentation" cellpadding="0" cellspacing="0" border="0" style="margin:8px 0 24px"><tr>` +
    `<td style="background-color:${colors.accent};border-radius:6px">` +
    `<a href="${escapeAttr(url)}" style="display:inline-block;padding:14px 28px;color:${colors.onAccent};font-family:${fontStack.replace(/"/g, "'")};font-size:17px;font-weight:700;line-height:24px;text-decoration:none">Read on the blog</a>` +
    "</td></tr></table>"
  );
}
