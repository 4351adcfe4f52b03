import { RabbitMqTransport, type RabbitMqConfig } from '../../../src/adapters/rabbitmq/index.js';
import { deleteEntities } from '../../support/rabbitmq-admin.js';
import { rabbitUrl } from '../../support/rabbitmq.js';

/** Transports opened in a test, closed and their queues and exchanges deleted after it. */
export class TransportFixture {
  private readonly steps: Array<() => Promise<void>> = [];

  async connect(config: RabbitMqConfig = {}): Promise<RabbitMqTransport> {
    const transport = await RabbitMqTransport.connect({ url: rabbitUrl(), ...config });
    this.steps.push(async () => {
      const declared = transport.declared();
      await transport.close();
      await deleteEntities(declared);
    });
    return transport;
  }

  defer(step: () => Promise<void>): void {
    this.steps.push(step);
  }

  async cleanUp(): Promise<void> {
    for (const step of this.steps.splice(0).reverse()) await step().catch(() => undefined);
  }
}
