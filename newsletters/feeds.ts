// The clinic's blog feed (DRIP_FEED_URL): each new post becomes a newsletter issue.
// mode "draft": staff approve it with `drip newsletter send|schedule`; mode "send": it goes out
// at 09:00 in each reader's own zone. A feed id is permanent: the GUID ledger is keyed on it.
// cadence { kind: "per-post" }: one issue per new post. For one issue a week listing the new
// posts instead: cadence: { digest: "weekly", weekday: "monday", at: "07:00" } (the clinic's zone).
import { defineFeeds } from "../src/newsletters/feeds.ts";

export default defineFeeds(({ feedUrl }) => [
  {
    id: "blog",
    url: feedUrl,
    topic: "weekly",
    cadence: { kind: "per-post" },
    mode: { kind: "draft" },
  },
]);
