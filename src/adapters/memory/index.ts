export { MemoryTransport } from './memory-transport.js';
export { MemoryPublisher } from './memory-publisher.js';
export { MemorySubscriber } from './memory-subscriber.js';
export { MemorySubscription } from './memory-subscription.js';
export { MemoryBroker, type GroupStats } from './memory-broker.js';
export { defaultDeadLetterTopic, type MemoryTransportConfig } from './config.js';
