/** Step "dynamic-release", day 4: the knee-to-chest variation. */
import type { EmailProps } from "../src/sequences/types.ts";
import { Greeting, Paragraph, SafetyNote, Signature, Steps, Subheading, Title } from "./components/content.tsx";
import { Layout } from "./components/layout.tsx";
import { sampleFor } from "./components/sample-props.ts";

export default function DynamicRelease(props: EmailProps) {
  const { subscriber, sender } = props;
  return (
    <Layout {...props}>
      <Title>Add movement: the knee-to-chest release</Title>
      <Greeting name={subscriber.name} />
      <Paragraph>
        Sometimes steady pressure on the lacrosse ball doesn't release the trigger point very well. When that happens, we bring in some movement.
      </Paragraph>
      <Subheading>How to do it</Subheading>
      <Steps
        items={[
          "Set up as before: on your side, with the ball just above the head of the femur.",
          "Ease off a little, so the pressure on the ball is slightly lighter than last time.",
          "Slowly bring your knee up toward your chest.",
          "Then straighten the leg back out.",
          "Repeat the bend and straighten a few times.",
        ]}
      />
      <Paragraph>The earlier advice still holds: don't stay on one spot too long, so your hip isn't sore the next day.</Paragraph>
      <SafetyNote />
      <Paragraph>Next time: what we can do for you if the pain keeps hanging around.</Paragraph>
      <Signature organization={sender.organization} />
    </Layout>
  );
}

DynamicRelease.PreviewProps = sampleFor("dynamic-release");
