/**
 * What moves a reader from one thing to the next, beside what each sequence's own `triggers`
 * start. An automation's id is permanent: its runs are recorded and counted under it.
 */
import { defineAutomations } from "../src/automations/define.ts";

export default defineAutomations([
  {
    // The course hands its finishers to the weekly blog, but only those who asked for it: the
    // signup form's "When the course ends, send me The weekly blog" box (consent recorded at
    // signup). Anyone else is left alone, and the run is recorded as skipped with the reason.
    id: "course-finishers-join-weekly",
    on: { on: "completed", sequence: "hip-pain-course" },
    do: [{ joinTopic: "weekly" }],
  },
]);
