// The clinic's blog feed (DRIP_FEED_URL): each new post becomes a newsletter issue.
// mode "draft": staff approve it with `drip newsletter send|schedule`; mode "send": it goes out
// at 09:00 in each reader's own zone. A feed id is permanent: the GUID ledger is keyed on it.
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
