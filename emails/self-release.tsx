/** Step "self-release", day 2: the lacrosse-ball technique. */
import type { EmailProps } from "../src/sequences/types.ts";
import { Greeting, Paragraph, SafetyNote, Signature, Steps, Subheading, Title } from "./components/content.tsx";
import { Layout } from "./components/layout.tsx";
import { sampleFor } from "./components/sample-props.ts";

export default function SelfRelease(props: EmailProps) {
  const { subscriber, sender } = props;
  return (
    <Layout {...props}>
      <Title>Release it yourself with a lacrosse ball</Title>
      <Greeting name={subscriber.name} />
      <Paragraph>
        Last time we met the gluteus minimus, the deep hip muscle behind a lot of pain down the outside of the leg. Today we'll show you how to work on it at
        home.
      </Paragraph>
      <Subheading>Swap the roller for a ball</Subheading>
      <Paragraph>Put the foam roller to one side. For this one you'll want a lacrosse ball.</Paragraph>
      <Subheading>How to do it</Subheading>
      <Steps
        items={[
          "Lie on your side with the ball under your outer hip, just above the head of the femur (your thigh bone).",
          "Expect the tissue around the trigger points to feel quite tender.",
          "Don't press hard. Use medium pressure, and let time, not force, release the trigger point.",
          "Don't stay on one spot for too long, or your hip can be very sore the next day.",
        ]}
      />
      <SafetyNote />
      <Paragraph>In two days we'll share a variation for when holding still on the ball isn't releasing things well.</Paragraph>
      <Signature organization={sender.organization} />
    </Layout>
  );
}

SelfRelease.PreviewProps = sampleFor("self-release");
