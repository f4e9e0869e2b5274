/**
 * Sample props for React Email's preview server and the template tests. Every URL is a
 * placeholder on a reserved .example domain; real values come from configuration.
 */
import type { EmailProps } from "../../src/sequences/types.ts";

export const SAMPLE_SEQUENCE_ID = "hip-pain-course";

/** Preview texts as in sequences/hip-pain-course.ts (copied: importing it here would be circular). */
const SAMPLE_PREVIEWS: Record<string, string> = {
  article: "Sam, here is the muscle most people miss: the gluteus minimus.",
  "self-release": "A gentle self-release for the gluteus minimus, step by step.",
  "dynamic-release": "Add movement to the ball release, with a little less pressure.",
  book: "Hands-on release of the gluteus minimus at Body Heal Therapy.",
  "keep-it-away": "The two techniques in one page, and when to get help.",
  "last-call": "An open invitation to come and see us.",
  // sequences/post-booking.ts
  thanks: "Your session is booked: a short note until we see you.",
  "follow-up": "A week on: would a follow-up session help?",
};

/** The props one step's email would receive, with the booking link tagged for that step. */
export function sampleFor(stepId: string, sequenceId: string = SAMPLE_SEQUENCE_ID): EmailProps {
  const booking = new URL("https://bodyhealtherapy.example/book");
  booking.searchParams.set("utm_source", "drip");
  booking.searchParams.set("utm_medium", "email");
  booking.searchParams.set("utm_campaign", sequenceId);
  booking.searchParams.set("utm_content", stepId);
  return {
    subscriber: { email: "sam.taylor@example.com", name: "Sam", timezone: "Europe/London", tags: [] },
    links: {
      unsubscribe: "https://mail.bodyhealtherapy.example/unsubscribe/sample-token",
      preferences: "https://mail.bodyhealtherapy.example/preferences/sample-token",
      booking: booking.toString(),
      site: "https://bodyhealtherapy.example",
    },
    sender: {
      organization: "Body Heal Therapy",
      name: "David at Body Heal Therapy",
      postalAddress: "1 Example Street, Sampletown, AB1 2CD, United Kingdom",
    },
    reason: "You're getting this because you signed up for our free outer hip pain course on the Body Heal Therapy blog.",
    preview: SAMPLE_PREVIEWS[stepId] ?? "A short email from our free course on outer hip and leg pain.",
  };
}

export const sampleProps: EmailProps = sampleFor("article");
