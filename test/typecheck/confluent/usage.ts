// Compiled by test/integration/kafka/confluent-types.test.ts once the package is installed (npm test provisions it);
// kept out of the lint's typecheck, which runs before that. The usage documented in docs/kafka.md, against the
// package's own type declarations.
import Confluent from '@confluentinc/kafka-javascript';
import { KafkaTransport, confluentProducerDriver } from '../../../src/adapters/kafka/index.js';

export const connect = (): Promise<KafkaTransport> => KafkaTransport.connect({ brokers: ['127.0.0.1:9092'] }, confluentProducerDriver(Confluent, { producerConfig: { 'linger.ms': 5 } }));
