// The clinic's topics: lists a subscriber opts into. A topic id is permanent (consent is keyed on it).
import { defineTopics } from "../src/newsletters/topics.ts";

export default defineTopics([
  {
    id: "weekly",
    name: "The weekly blog",
    description: "Each new article from the Body Heal Therapy blog, once a week, in your morning.",
    askAtSignup: true,
  },
]);
