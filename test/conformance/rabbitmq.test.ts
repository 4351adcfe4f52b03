import amqplib from 'amqplib';
import { RabbitMqTransport, RabbitSubscription } from '../../src/adapters/rabbitmq/index.js';
import { WireHeader, type Subscription, type WireRecord } from '../../src/core/index.js';
import { rabbitUrl } from '../support/rabbitmq.js';
import { runTransportConformance } from './suite.js';

runTransportConformance(
  'rabbitmq',
  { orderPerKeyWithConcurrency: false, newGroupReceivesOldMessages: false, balancesGroupMembers: true, deliveryLimit: 5, attemptSurvivesConsumerLoss: true, timeoutMs: 10_000 },
  async () => {
    const url = rabbitUrl(); // read at run time: the global setup may have started a broker
    const transport = await RabbitMqTransport.connect({ url, queues: { deliveryLimit: 5 }, reconnect: { initialMaxRetries: 2 } });
    const raw = await amqplib.connect(url);
    const channel = await raw.createConfirmChannel();
    return {
      publisher: (serializer) => transport.publisher(serializer ? { serializer } : {}),
      subscriber: (serializer) => transport.subscriber(serializer ? { serializer } : {}),
      publishRaw: async (topic: string, record: WireRecord) => {
        await channel.assertExchange(topic, 'topic', { durable: true });
        const { [WireHeader.ID]: messageId, [WireHeader.TYPE]: type, [WireHeader.CONTENT_TYPE]: contentType, ...headers } = record.headers;
        channel.publish(topic, type ?? 'foreign', Buffer.from(record.body), {
          persistent: true,
          headers,
          ...(messageId === undefined ? {} : { messageId }),
          ...(type === undefined ? {} : { type }),
          ...(contentType === undefined ? {} : { contentType }),
        });
        await channel.waitForConfirms();
      },
      deadLetterTopic: (topic, group) => transport.deadLetterTopic(topic, group),
      crash: (subscription: Subscription) => {
        if (!(subscription instanceof RabbitSubscription)) throw new Error('not a RabbitMQ subscription');
        return subscription.crash();
      },
      close: async () => {
        const { exchanges, queues } = transport.declared();
        await transport.close();
        for (const queue of queues) await channel.deleteQueue(queue);
        for (const exchange of exchanges) await channel.deleteExchange(exchange);
        await raw.close();
      },
    };
  },
);
