/**
 * Named forms over HTTP (app.request, the real app): `/f/<id>` pages, the snippet's
 * cross-origin POST (signed token + an allowed Origin), refusals that store nothing, a
 * redirect thank-you, and a form that starts its own sequence and fires its signup trigger.
 * The real-browser version (JavaScript off, a second origin standing in for the blog) is
 * forms.soak.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { compileAutomations } from "../../src/automations/compile.ts";
import { defineForms } from "../../src/forms/define.ts";
import { formSnippet, formToken } from "../../src/http/forms.ts";
import { cleanupTempDirs, runDrip } from "../support/engine-helpers.ts";
import { BASE, type Harness, SECRET, confirmVia, form, harness, hidden } from "./harness.ts";

const BLOG = "https://blog.bodyhealtherapy.example";
let h: Harness;
beforeEach(async () => {
  h = await harness({ env: { DRIP_FORM_ORIGINS: BLOG } });
});
afterEach(async () => {
  await h.close();
  cleanupTempDirs();
});

const snippetPost = (fields: Record<string, string>, origin?: string) =>
  h.req("/f/hip-pain", form({ form_token: formToken(SECRET, "hip-pain"), ...fields }, origin ? { origin } : {}));

describe("forms", () => {
  it("/f/<id> serves the form; an unknown id is a 404 page", async () => {
    const page = await h.req("/f/hip-pain");
    expect(page.status).toBe(200);
    const body = await page.text();
    expect(body).toContain("<h1>Outer hip and leg pain that isn&#39;t your IT band</h1>");
    expect(body).toContain('action="/f/hip-pain"');
    expect((await h.req("/f/nope")).status).toBe(404);
  });

  it("the snippet posted from an allowed origin signs the reader up through that form", async () => {
    const res = await snippetPost({ email: "blog@example.com", name: "Bea", timezone: "Europe/Paris" }, BLOG);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("A confirmation link is on its way");
    const sub = await h.app.store.findSubscriberByEmail("blog@example.com");
    expect(sub).toMatchObject({ status: "pending", name: "Bea", timezone: "Europe/Paris", consentSource: "signup form: hip-pain" });
    // DRIP_SITE_URL's origin is allowed as well.
    expect((await snippetPost({ email: "site@example.com" }, "https://bodyhealtherapy.example")).status).toBe(200);
  });

  it("the same POST from another origin, without the token, or with another form's token is refused, and nothing is stored", async () => {
    const refused = [
      await snippetPost({ email: "evil@example.com" }, "https://evil.example"),
      await snippetPost({ email: "evil@example.com" }, "null"),
      await h.req("/f/hip-pain", form({ email: "evil@example.com" }, { origin: BLOG })),
      await h.req("/f/hip-pain", form({ email: "evil@example.com", form_token: formToken(SECRET, "other") }, { origin: BLOG })),
      await h.req("/f/hip-pain", form({ email: "evil@example.com", form_token: formToken("another-secret".padEnd(40, "x"), "hip-pain") }, { origin: BLOG })),
    ];
    for (const r of refused) expect(r.status).toBe(403);
    expect(await refused[0]!.text()).toContain("not one drip allows");
    expect(await h.app.store.findSubscriberByEmail("evil@example.com")).toBeNull();
  });

  it("drip's own page posts with its hourly token; the honeypot is answered like everyone and stores nothing", async () => {
    const page = await (await h.req("/f/hip-pain")).text();
    const csrf = hidden(page, "csrf");
    expect((await h.req("/f/hip-pain", form({ csrf, email: "own@example.com" }, { origin: BASE }))).status).toBe(200);
    expect(await h.app.store.findSubscriberByEmail("own@example.com")).not.toBeNull();
    expect((await h.req("/f/hip-pain", form({ csrf, email: "own2@example.com" }, { origin: BLOG }))).status).toBe(403);
    const bot = await snippetPost({ email: "bot@example.com", website: "http://spam.example" }, BLOG);
    expect(bot.status).toBe(200);
    expect(await h.app.store.findSubscriberByEmail("bot@example.com")).toBeNull();
  });

  it("a form with its own sequence and a redirect: 303 to the clinic's page; confirming starts that sequence and its signup trigger fires", async () => {
    const forms = defineForms({
      default: "hip-pain",
      forms: [
        { id: "hip-pain", title: "Course", sequence: "hip-pain-course", fields: [], thankYou: { text: "Thanks" } },
        { id: "after", title: "After", sequence: "post-booking", fields: ["name"], thankYou: { redirect: "https://bodyhealtherapy.example/thanks" } },
      ],
    });
    const seqs = ["hip-pain-course", "post-booking"].map((id) => ({ sequence: h.app.engine.getSequence(id)! }));
    const automations = compileAutomations(seqs, {
      file: "automations.ts",
      automations: [{ id: "after-form-tags", on: { on: "signup", form: "after" }, do: [{ addTag: "from-after-form" }] }],
    });
    h.app.automations.set({ automations, forms });
    const res = await h.req("/f/after", form({ form_token: formToken(SECRET, "after"), email: "r@example.com", name: "Rae" }, { origin: BLOG }));
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("https://bodyhealtherapy.example/thanks");
    await h.tick();
    const mail = (await h.mails("confirm-")).find((m) => JSON.stringify(m.mail.to).includes("r@example.com"))!;
    const link = /href="([^"]*\/confirm\/[^"]+)"/.exec(String(mail.mail.html))![1]!.replace(/&amp;/g, "&");
    expect((await confirmVia(h, link)).status).toBe(200);
    const sub = (await h.app.store.findSubscriberByEmail("r@example.com"))!;
    expect((await h.app.store.listEnrollments(sub.id)).map((e) => e.sequenceId)).toEqual(["post-booking"]);
    expect(sub.tags).toEqual(["from-after-form"]);
    expect(await h.app.store.automationRuns(sub.id)).toMatchObject([{ automationId: "after-form-tags", trigger: "signup through form after" }]);
  });

  it("drip form list and drip form snippet print the forms and a form that posts here with its token", async () => {
    const cli = (argv: string[]) => runDrip(argv, { env: h.env, cwd: h.dir, now: h.now() });
    const list = await cli(["form", "list", "--json"]);
    expect(list.code, list.err).toBe(0);
    expect(JSON.parse(list.out)).toEqual([
      {
        id: "hip-pain",
        title: "Outer hip and leg pain that isn't your IT band",
        sequence: "hip-pain-course",
        topics: [{ id: "weekly", when: "after-course" }],
        fields: ["email", "name", "timezone"],
        default: true,
        url: `${BASE}/f/hip-pain`,
        thankYou: { text: "A confirmation link is on its way: open it and press the button to start the course." },
      },
    ]);
    const snippet = await cli(["form", "snippet", "hip-pain"]);
    expect(snippet.code, snippet.err).toBe(0);
    const f = h.app.automations.forms.getForm("hip-pain")!;
    expect(snippet.out).toBe(formSnippet(f, { publicUrl: BASE, secret: SECRET, defaultZone: "Europe/London", topics: h.app.topics.topics() }));
    // The form's topic is its own unticked box, offered for when the course ends.
    expect(snippet.out).toContain(
      '<input id="drip-hip-pain-topic-weekly" name="topic_weekly" type="checkbox" value="yes"> <label for="drip-hip-pain-topic-weekly">When the course ends, send me “The weekly blog”. Each new article',
    );
    expect(snippet.out).toContain(`action="${BASE}/f/hip-pain"`);
    expect(snippet.out).toContain(`name="form_token" value="${formToken(SECRET, "hip-pain")}"`);
    expect(snippet.out).toContain('<option value="Europe/London" selected>');
    expect(snippet.out).not.toContain("<script");
    const unknown = await cli(["form", "snippet", "nope"]);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('no form "nope": known forms are hip-pain');
  });
});
