/**
 * After a reader books a session: thanks at once, and an invitation to book a follow-up a
 * week later. Started by the booking system's `booked` event (POST /api/events, `drip event
 * <email> booked`), not by the signup form; the course's booking steps skip for booked
 * readers as before. Step ids are permanent.
 */
import BookFollowUp from "../emails/book-follow-up.tsx";
import ThanksForBooking from "../emails/thanks-for-booking.tsx";
import { day, defineSequence, immediately } from "../src/sequences/define.ts";

export default defineSequence({
  id: "post-booking",
  name: "After booking a session",
  sender: { name: "David at Body Heal Therapy", organization: "Body Heal Therapy" },
  reason: "You're getting this because you booked a session with Body Heal Therapy while on our email list.",
  defaultTimezone: "Europe/London",
  sendWindow: { start: "08:00", end: "20:00", weekdays: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] },
  // The booking system's `booked` event tags the reader `booked`; so does staff tagging by hand. Either starts this, once.
  triggers: [{ id: "booked-starts-post-booking", on: "tag-added", tag: "booked" }],
  steps: [
    {
      id: "thanks",
      schedule: immediately(),
      template: ThanksForBooking,
      subject: "Thanks for booking with Body Heal Therapy",
      preview: "Your session is booked: a short note until we see you.",
    },
    {
      id: "follow-up",
      schedule: day(7, "09:00"),
      template: BookFollowUp,
      subject: "How is your hip doing?",
      preview: "A week on: would a follow-up session help?",
    },
  ],
});
