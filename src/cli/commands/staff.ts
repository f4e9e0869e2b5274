import type { Command } from "commander";
import { issueSignInLink, newTotp, parseRole } from "../../admin/auth.ts";
import { emailSchema } from "../../lifecycle/input.ts";
import { type CliIO, UsageError, WorkError, printJson } from "../io.ts";
import { withApp } from "./app-context.ts";

function staffEmail(email: string): string {
  const parsed = emailSchema.safeParse(email);
  if (!parsed.success) throw new UsageError(`"${email}" is not an email address`);
  return parsed.data;
}

/** `drip staff add|list|remove|link|totp`: dashboard accounts, from the terminal (how the first owner gets in). */
export function staffCommands(program: Command, io: CliIO) {
  const staff = program.command("staff").description("Dashboard accounts (/admin): add, list, remove, sign-in links, two-factor");

  staff
    .command("add")
    .description("Add a staff account, or change the role of an existing one")
    .argument("<email>", "their email address")
    .requiredOption("--role <role>", "owner (everything, staff too), editor (subscribers, newsletters) or viewer (read only)")
    .option("--json", "print {id, email, role, created}")
    .action(async (email: string, opts: { role: string; json?: boolean }) => {
      const role = parseRole(opts.role);
      const address = staffEmail(email);
      await withApp(
        io,
        async (app) => {
          const now = io.now();
          const { staff: s, created } = await app.store.putStaff(address, role, now);
          await app.store.appendAudit({
            at: now,
            staffId: null,
            staffEmail: "cli",
            action: created ? "staff.add" : "staff.role",
            target: s.email,
            detail: role,
          });
          if (opts.json) return printJson(io, { id: s.id, email: s.email, role: s.role, created });
          io.out(`${created ? "added" : "updated"} ${s.email} as ${s.role}; 'drip staff link ${s.email}' prints a sign-in link\n`);
        },
        { quiet: true },
      );
    });

  staff
    .command("list")
    .description("Every staff account with its role and whether it has two-factor sign-in")
    .option("--json", "print [{id, email, role, totp, createdAt}]")
    .action(async (opts: { json?: boolean }) => {
      await withApp(
        io,
        async (app) => {
          const rows = await app.store.listStaff();
          if (opts.json)
            return printJson(
              io,
              rows.map((s) => ({ ...s, createdAt: s.createdAt.toISOString() })),
            );
          if (rows.length === 0) return io.out("no staff accounts yet: drip staff add <email> --role owner\n");
          const w = Math.max(5, ...rows.map((s) => s.email.length));
          for (const s of rows) io.out(`${s.email.padEnd(w)}  ${s.role.padEnd(6)}  ${s.totp ? "two-factor" : ""}\n`);
        },
        { quiet: true },
      );
    });

  staff
    .command("remove")
    .description("Remove a staff account: its sessions end at once (the audit log keeps its entries)")
    .argument("<email>", "their email address")
    .action(async (email: string) => {
      await withApp(
        io,
        async (app) => {
          const s = await app.store.findStaffByEmail(email);
          if (!s) throw new WorkError(`there is no staff account for ${email} ('drip staff list' shows them)`);
          await app.store.removeStaff(s.id);
          await app.store.appendAudit({ at: io.now(), staffId: null, staffEmail: "cli", action: "staff.remove", target: s.email });
          io.out(`removed ${s.email}\n`);
        },
        { quiet: true },
      );
    });

  staff
    .command("link")
    .description("Print a one-time sign-in link for a staff account, valid 15 minutes")
    .argument("<email>", "their email address")
    .option("--json", "print {url, expiresAt}")
    .action(async (email: string, opts: { json?: boolean }) => {
      await withApp(
        io,
        async (app) => {
          const s = await app.store.findStaffByEmail(email);
          if (!s) throw new WorkError(`there is no staff account for ${email}: add it first with 'drip staff add ${email} --role owner'`);
          const now = io.now();
          const link = await issueSignInLink(app.store, s, app.config.publicUrl, now);
          await app.store.appendAudit({ at: now, staffId: null, staffEmail: "cli", action: "staff.link", target: s.email });
          if (opts.json) return printJson(io, { url: link.url, expiresAt: link.expiresAt.toISOString() });
          io.out(`${link.url}\nvalid once, until ${link.expiresAt.toISOString()}\n`);
        },
        { quiet: true },
      );
    });

  staff
    .command("totp")
    .description("Turn on two-factor sign-in (TOTP) for an account and print the otpauth:// URI for its authenticator app; --off turns it off")
    .argument("<email>", "their email address")
    .option("--off", "turn two-factor sign-in off")
    .action(async (email: string, opts: { off?: boolean }) => {
      await withApp(
        io,
        async (app) => {
          const s = await app.store.findStaffByEmail(email);
          if (!s) throw new WorkError(`there is no staff account for ${email} ('drip staff list' shows them)`);
          if (opts.off) {
            await app.store.setStaffTotp(s.id, null);
            await app.store.appendAudit({ at: io.now(), staffId: null, staffEmail: "cli", action: "staff.totp.off", target: s.email });
            return io.out(`two-factor sign-in is off for ${s.email}\n`);
          }
          const totp = newTotp(s.email, app.engine.defaultSequence?.sender.organization ?? "drip");
          await app.store.setStaffTotp(s.id, totp.secret);
          await app.store.appendAudit({ at: io.now(), staffId: null, staffEmail: "cli", action: "staff.totp.on", target: s.email });
          io.out(`${totp.uri}\nadd this to an authenticator app; sign-in now asks ${s.email} for its 6-digit code\n`);
        },
        { quiet: true },
      );
    });
}
