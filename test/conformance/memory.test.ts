import { MemoryTransport } from '../../src/adapters/memory/index.js';
import type { Subscription } from '../../src/core/index.js';
import { MemorySubscription } from '../../src/adapters/memory/index.js';
import { runTransportConformance } from './suite.js';

runTransportConformance(
  'memory',
  { orderPerKeyWithConcurrency: true, newGroupReceivesOldMessages: true, balancesGroupMembers: true, deliveryLimit: 5, attemptSurvivesConsumerLoss: true, timeoutMs: 5000 },
  () => {
    const transport = new MemoryTransport({ deliveryLimit: 5 });
    return Promise.resolve({
      publisher: (serializer) => transport.publisher(serializer ? { serializer } : {}),
      subscriber: (serializer) => transport.subscriber(serializer ? { serializer } : {}),
      publishRaw: (topic, record) => {
        transport.publishRaw(topic, record);
        return Promise.resolve();
      },
      deadLetterTopic: (topic, group) => transport.deadLetterTopic(topic, group),
      crash: (subscription: Subscription) => {
        if (!(subscription instanceof MemorySubscription)) throw new Error('not a memory subscription');
        subscription.crash();
        return Promise.resolve();
      },
      close: () => Promise.resolve(),
    });
  },
);
