/**
 * Server-rendered pages: plain HTML and CSS that work with no JavaScript, on a phone, with
 * a keyboard and a screen reader (labels, focus styles, AA contrast). Every value is escaped.
 */

const ESC: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export const esc = (s: unknown) => String(s ?? "").replace(/[&<>"']/g, (c) => ESC[c]!);

/** A fragment of trusted HTML (built with `html` below). */
export class Html {
  constructor(readonly value: string) {}
  toString() {
    return this.value;
  }
}

/** Tagged template: interpolated values are escaped unless they are Html (or arrays of it). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  values.forEach((v, i) => {
    const part = Array.isArray(v) ? v.map((x) => (x instanceof Html ? x.value : esc(x))).join("") : v instanceof Html ? v.value : esc(v);
    out += part + strings[i + 1]!;
  });
  return new Html(out);
}

const CSS = `
:root{color-scheme:light dark;--bg:#f3f4f1;--card:#fff;--text:#1f2a24;--muted:#4a5750;--accent:#2f6b4f;--accent-text:#fff;--border:#c9d1cb;--error:#9b1c1c}
@media (prefers-color-scheme:dark){:root{--bg:#121714;--card:#1c231f;--text:#e8eee9;--muted:#b7c3bb;--accent:#8fd1ae;--accent-text:#0d1a13;--border:#3b4a41;--error:#ffb4b4}}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--text);font:17px/1.55 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif}
main{max-width:34rem;margin:0 auto;padding:1.5rem 1rem 3rem}.card{background:var(--card);border-radius:10px;padding:1.5rem;border:1px solid var(--border)}
h1{font-size:1.6rem;line-height:1.25;margin:.2rem 0 1rem}.brand{font-weight:700;color:var(--muted);margin:0 0 .5rem}
label{display:block;font-weight:600;margin:1rem 0 .3rem}.check{display:flex;gap:.7rem;align-items:flex-start;margin:1.2rem 0}.check input{flex:none;width:1.25rem;height:1.25rem;margin:.15rem 0 0}.check label{display:block;font-weight:400;margin:0}input[type=email],input[type=text],select{width:100%;font:inherit;padding:.6rem .7rem;border:1px solid var(--border);border-radius:6px;background:var(--card);color:var(--text)}
button{font:inherit;font-weight:700;margin-top:1.2rem;padding:.7rem 1.2rem;border:0;border-radius:6px;background:var(--accent);color:var(--accent-text);cursor:pointer;width:100%}
button.secondary{background:transparent;color:var(--text);border:1px solid var(--border)}
:focus-visible{outline:3px solid var(--accent);outline-offset:2px}.hint{color:var(--muted);font-size:.95rem}.error{color:var(--error);font-weight:600}
.hp{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}footer{color:var(--muted);font-size:.9rem;margin-top:1.5rem;text-align:center}
form.inline{margin-top:.5rem}hr{border:0;border-top:1px solid var(--border);margin:1.5rem 0}
`;

export function page(opts: { title: string; organization: string; body: Html; script?: string }): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="color-scheme" content="light dark"><meta name="referrer" content="same-origin">
<title>${esc(opts.title)} · ${esc(opts.organization)}</title><style>${CSS}</style></head>
<body><main><div class="card"><p class="brand">${esc(opts.organization)}</p>${opts.body.value}</div>
<footer>${esc(opts.organization)}</footer></main>${opts.script ? `<script>${opts.script}</script>` : ""}</body></html>`;
}
