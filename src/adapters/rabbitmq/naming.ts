/** How topics and groups map onto RabbitMQ entities. */
export const Naming = {
  /** A topic is a durable `topic` exchange of the same name; the routing key is the message type. */
  exchange: (topic: string): string => topic,
  /** A group on a topic is a durable queue `<topic>.<group>` bound to the topic with `#`. */
  queue: (topic: string, group: string): string => `${topic}.${group}`,
  /** A group's dead letters go to the topic `<topic>.<group>.dlq`, kept in a queue of the same name. */
  deadLetterTopic: (topic: string, group: string): string => `${topic}.${group}.dlq`,
};
