/** How topics and groups map onto Kafka. */
export const KafkaNaming = {
  /** A group on a topic is the consumer group `<topic>.<group>` (override with `groupId`). */
  groupId: (topic: string, group: string): string => `${topic}.${group}`,
  /** A group's dead letters go to the topic `<topic>.<group>.dlq`. */
  deadLetterTopic: (topic: string, group: string): string => `${topic}.${group}.dlq`,
  /** The id of a record that carries no `rmq-id` header: its position, stable across redeliveries. */
  positionId: (topic: string, partition: number, offset: string): string => `kafka:${topic}:${String(partition)}:${offset}`,
};
