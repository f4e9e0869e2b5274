/**
 * The signup forms. `default` is the form at `/`; every form is also served at `/f/<id>`, and
 * `drip form snippet <id>` prints it as plain HTML for the clinic's blog. A form's id is
 * permanent (the snippet's address and token are made from it).
 */
import { defineForms } from "../src/forms/define.ts";

export default defineForms({
  default: "hip-pain",
  forms: [
    {
      id: "hip-pain",
      title: "Outer hip and leg pain that isn't your IT band",
      intro: "A free email course in six short emails, sent in your own time zone. You can pause or leave with one click.",
      sequence: "hip-pain-course",
      // Its own unticked box: consent now, the newsletter once the course ends (sequences/automations.ts).
      topics: [{ id: "weekly", when: "after-course" }],
      fields: ["name", "timezone"],
      button: "Send me the course",
      thankYou: { text: "A confirmation link is on its way: open it and press the button to start the course." },
    },
  ],
});
