export { KafkaTransport, type KafkaEvents } from './kafka-transport.js';
export { KafkaPublisher } from './kafka-publisher.js';
export { KafkaSubscriber } from './kafka-subscriber.js';
export { KafkaSubscription } from './kafka-subscription.js';
export { KafkaNaming } from './naming.js';
export { kafkajsDriver } from './kafkajs-driver.js';
export type { KafkaDriver, ProducerDriver, ConsumerDriver, AdminDriver, BatchPayload } from './driver.js';
export type { KafkaConfig, KafkaConsumerConfig, KafkaPublishConfig, KafkaRetryConfig, KafkaTopicsConfig, TopicSpec } from './config.js';
export type { KafkaSubscribeOptions } from './subscribe-options.js';
