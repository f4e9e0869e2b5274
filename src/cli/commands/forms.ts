import type { Command } from "commander";
import { formSnippet } from "../../http/forms.ts";
import { type CliIO, UsageError, printJson } from "../io.ts";
import { withApp } from "./app-context.ts";

export function formCommands(program: Command, io: CliIO) {
  const form = program.command("form").description("Signup forms (sequences/forms.ts): list them, or print one as HTML for the clinic's blog");

  form
    .command("list")
    .description("The signup forms: id, the sequence each starts, its fields, and where it is served")
    .option("--json", "print [{id, title, sequence, topics, fields, default, url, thankYou}]")
    .action(async (opts: { json?: boolean }) => {
      await withApp(
        io,
        async (app) => {
          const source = app.automations.forms;
          const rows = source.forms().map((f) => ({
            id: f.id,
            title: f.title,
            sequence: f.sequence ?? app.engine.defaultSequence?.id ?? null,
            topics: f.topics ?? [],
            fields: ["email", ...f.fields],
            default: f.id === source.defaultForm.id,
            url: `${app.config.publicUrl}/f/${f.id}`,
            thankYou: "redirect" in f.thankYou ? { redirect: f.thankYou.redirect } : { text: f.thankYou.text },
          }));
          if (opts.json) return printJson(io, rows);
          for (const r of rows)
            io.out(`${r.id}${r.default ? " (default, also at /)" : ""}  ${r.url}  starts ${r.sequence ?? "nothing"}  fields: ${r.fields.join(", ")}\n`);
        },
        { quiet: true },
      );
    });

  form
    .command("snippet")
    .description("Print a plain HTML <form> to paste into the clinic's blog: it posts to drip (DRIP_PUBLIC_URL) and works without JavaScript")
    .argument("<id>", "form id (see drip form list)")
    .action(async (id: string) => {
      await withApp(
        io,
        async (app) => {
          const f = app.automations.forms.getForm(id);
          if (!f)
            throw new UsageError(
              `no form "${id}": known forms are ${app.automations.forms
                .forms()
                .map((x) => x.id)
                .join(", ")} (see \`drip form list\`)`,
            );
          const seq = (f.sequence ? app.engine.getSequence(f.sequence) : undefined) ?? app.engine.defaultSequence;
          io.out(
            formSnippet(f, { publicUrl: app.config.publicUrl, secret: app.secret, defaultZone: seq?.defaultTimezone ?? "UTC", topics: app.topics.topics() }),
          );
          if (io.isTTY)
            io.err(
              `note: the blog's origin must be allowed: ${app.config.formOrigins.join(", ")} (DRIP_SITE_URL and DRIP_FORM_ORIGINS); a form posted from anywhere else is refused\n`,
            );
        },
        { quiet: true },
      );
    });
}
