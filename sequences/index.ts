/**
 * The default sequence: the one the public signup page offers and commands use without
 * --sequence. Named here, so adding a sequence file never changes it (DRIP_DEFAULT_SEQUENCE
 * overrides it). The clinic's name and zone keep the signup page branded even if the
 * default sequence fails to load.
 */
import type { SequencesIndex } from "../src/sequences/site.ts";

export default {
  defaultSequence: "hip-pain-course",
  organization: "Body Heal Therapy",
  defaultTimezone: "Europe/London",
} satisfies SequencesIndex;
