/**
 * The free email course "Outer hip and leg pain that isn't your IT band".
 * Staff change the course here: order, days, times, subjects, conditions.
 * Step ids are permanent (subscribers' progress is keyed on them): rename a subject freely,
 * never an id. Day N counts calendar days in the subscriber's own zone; day 0 is the day
 * they confirm.
 */
import Article from "../emails/article.tsx";
import Book from "../emails/book.tsx";
import DynamicRelease from "../emails/dynamic-release.tsx";
import LastCall from "../emails/last-call.tsx";
import SelfRelease from "../emails/self-release.tsx";
import { day, defineSequence, immediately, mjml } from "../src/sequences/define.ts";

const firstName = (name: string) => name.trim().split(/\s+/)[0] ?? "";
const hi = (name: string, rest: string) => (firstName(name) ? `${firstName(name)}, ${rest}` : rest.charAt(0).toUpperCase() + rest.slice(1));

export default defineSequence({
  id: "hip-pain-course",
  name: "Outer hip and leg pain that isn't your IT band",
  sender: { name: "David at Body Heal Therapy", organization: "Body Heal Therapy" },
  reason: "You're getting this because you signed up for our free outer hip pain course on the Body Heal Therapy blog.",
  defaultTimezone: "Europe/London",
  sendWindow: { start: "08:00", end: "20:00", weekdays: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] },
  exitIf: [],
  steps: [
    {
      id: "article",
      schedule: immediately(),
      template: Article,
      subject: "Outer leg pain? It may start in your hip",
      preview: (s) => hi(s.name, "here is the muscle most people miss: the gluteus minimus."),
    },
    {
      id: "self-release",
      schedule: day(2, "09:00"),
      template: SelfRelease,
      subject: "Swap the foam roller for a lacrosse ball",
      preview: "A gentle self-release for the gluteus minimus, step by step.",
    },
    {
      id: "dynamic-release",
      schedule: day(4, "09:00"),
      template: DynamicRelease,
      subject: "When holding still isn't enough: the knee-to-chest variation",
      preview: "Add movement to the ball release, with a little less pressure.",
    },
    {
      id: "book",
      schedule: day(6, "09:00"),
      template: Book,
      subject: "Want us to find those trigger points for you?",
      preview: "Hands-on release of the gluteus minimus at Body Heal Therapy.",
      skipIf: { tags: ["booked"] },
    },
    {
      id: "keep-it-away",
      schedule: day(9, "09:00"),
      template: mjml("keep-it-away.mjml"),
      subject: "Keeping outer hip pain away: a short recap",
      preview: "The two techniques in one page, and when to get help.",
    },
    {
      id: "last-call",
      schedule: day(14, "09:00"),
      template: LastCall,
      subject: "One last note from Body Heal Therapy",
      preview: "An open invitation to come and see us.",
      skipIf: { tags: ["booked"] },
    },
  ],
});
