/**
 * Mocha global fixtures: make sure a RabbitMQ broker and a Kafka broker answer before any test runs, and export their
 * addresses as RMQ_URL and KAFKA_BROKERS. Load with `mocha --require ./test/support/global-setup.ts` (scripts/test.sh
 * does; ESM is fine: mocha imports it through the tsx loader from .mocharc.json). Both brokers are ensured at once. Order:
 *   RabbitMQ
 *   1. RMQ_URL (or the default amqp://guest:guest@127.0.0.1:5672) answers AMQP: use it.
 *   2. RMQ_URL was not set and a Docker engine is configured (DOCKER_HOST or /var/run/docker.sock): start rabbitmq:3.13
 *      with testcontainers, export its URL, stop it in the teardown.
 *   3. Otherwise `scripts/brokers/rabbitmq.sh ensure`: installs rabbitmq-server if needed and starts the machine's node.
 *   Kafka
 *   1. KAFKA_BROKERS (or the default 127.0.0.1:9092) answers Kafka's ApiVersions request: use it.
 *   2. KAFKA_BROKERS was not set and a Docker engine is configured: start apache/kafka (single KRaft node) with
 *      testcontainers, export its address, stop it in the teardown.
 *   3. Otherwise `scripts/brokers/kafka.sh ensure`: downloads the jars with Maven if needed and starts the standard test
 *      node (127.0.0.1:9092), which keeps running after the tests for the next run.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type * as Testcontainers from 'testcontainers'; // types only: the package is imported on demand
import { kafkaBrokers, kafkaReachable } from './kafka.js';
import { kafkaScript } from './kafka-node.js';
import { reachable, rabbitUrl } from './rabbitmq.js';
import { rabbitScript } from './rabbitmq-node.js';

const RABBIT_IMAGE = 'rabbitmq:3.13';
const KAFKA_IMAGE = 'apache/kafka:4.1.0';
const ENSURE_TIMEOUT_MS = 300_000; // includes an apt-get install on a fresh machine

const stopContainers: (() => Promise<void>)[] = [];

function log(message: string): void {
  process.stdout.write(`[global-setup] ${message}\n`);
}

function dockerConfigured(): boolean {
  const host = process.env['DOCKER_HOST'];
  return (host !== undefined && host !== '') || existsSync('/var/run/docker.sock');
}

async function loadTestcontainers(): Promise<typeof Testcontainers> {
  try {
    return await import('testcontainers');
  } catch (error) {
    throw new Error(`A Docker engine is configured but the testcontainers package cannot be loaded: ${String(error)}`, { cause: error });
  }
}

async function startRabbitContainer(): Promise<string> {
  const { GenericContainer, Wait } = await loadTestcontainers();
  const started = Date.now();
  const container = await new GenericContainer(RABBIT_IMAGE)
    .withExposedPorts(5672)
    .withWaitStrategy(Wait.forLogMessage(/Server startup complete/))
    .withStartupTimeout(120_000)
    .start();
  stopContainers.push(async () => {
    await container.stop();
  });
  const url = `amqp://guest:guest@${container.getHost()}:${container.getMappedPort(5672)}`;
  log(`started ${RABBIT_IMAGE} with testcontainers at ${url} in ${Date.now() - started} ms`);
  return url;
}

/**
 * A single KRaft node (broker + controller). Kafka must advertise the host's mapped port, known only once the container
 * runs: the container waits for /tmp/start.sh, which is copied in after the start and sets KAFKA_ADVERTISED_LISTENERS
 * before it runs the image's own start script (the way testcontainers' Kafka modules do it). BROKER is the inter-broker
 * listener inside the container.
 */
async function startKafkaContainer(): Promise<string> {
  const { GenericContainer, Wait } = await loadTestcontainers();
  const started = Date.now();
  const clusterId = randomBytes(16).toString('base64url'); // a Kafka Uuid
  const container = await new GenericContainer(KAFKA_IMAGE)
    .withExposedPorts(9092)
    .withEnvironment({
      CLUSTER_ID: clusterId.startsWith('-') ? `A${clusterId.slice(1)}` : clusterId,
      KAFKA_NODE_ID: '1',
      KAFKA_PROCESS_ROLES: 'broker,controller',
      KAFKA_LISTENERS: 'PLAINTEXT://0.0.0.0:9092,BROKER://0.0.0.0:9093,CONTROLLER://0.0.0.0:9094',
      KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'PLAINTEXT:PLAINTEXT,BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT',
      KAFKA_INTER_BROKER_LISTENER_NAME: 'BROKER',
      KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
      KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9094',
      KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
      KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
      KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false', // the SDK creates its topics explicitly
      KAFKA_NUM_PARTITIONS: '1',
      KAFKA_HEAP_OPTS: '-Xms256m -Xmx512m',
    })
    .withCommand(['sh', '-c', 'echo "waiting for /tmp/start.sh"; while [ ! -f /tmp/start.sh ]; do sleep 0.1; done; exec bash /tmp/start.sh'])
    .withWaitStrategy(Wait.forLogMessage(/waiting for \/tmp\/start\.sh/))
    .withStartupTimeout(120_000)
    .start();
  stopContainers.push(async () => {
    await container.stop();
  });
  const broker = `${container.getHost()}:${container.getMappedPort(9092)}`;
  await container.copyContentToContainer([
    {
      content: `#!/bin/bash\nexport KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://${broker},BROKER://localhost:9093\nexec /etc/kafka/docker/run\n`,
      target: '/tmp/start.sh',
      mode: 0o755,
    },
  ]);
  const deadline = Date.now() + 120_000;
  while (!(await kafkaReachable([broker], 2000))) {
    if (Date.now() > deadline) throw new Error(`${KAFKA_IMAGE} did not answer at ${broker} within 120 s`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  log(`started ${KAFKA_IMAGE} with testcontainers at ${broker} in ${Date.now() - started} ms`);
  return broker;
}

async function ensureRabbit(): Promise<void> {
  const url = rabbitUrl();
  if (await reachable(url, 3000)) {
    process.env['RMQ_URL'] = url;
    return;
  }
  const explicit = process.env['RMQ_URL'] !== undefined && process.env['RMQ_URL'] !== '';
  if (!explicit && dockerConfigured()) {
    log(`no broker answers at ${url}; a Docker engine is configured: starting ${RABBIT_IMAGE}`);
    process.env['RMQ_URL'] = await startRabbitContainer();
    return;
  }
  log(`no broker answers at ${url}${explicit ? ' (RMQ_URL)' : ' and no Docker engine is configured'}: scripts/brokers/rabbitmq.sh ensure`);
  const started = Date.now();
  process.env['RMQ_URL'] = await rabbitScript(['ensure'], ENSURE_TIMEOUT_MS);
  log(`RabbitMQ answers at ${process.env['RMQ_URL']} after ${Date.now() - started} ms`);
}

async function ensureKafka(): Promise<void> {
  const brokers = kafkaBrokers();
  if (await kafkaReachable(brokers, 3000)) {
    process.env['KAFKA_BROKERS'] = brokers.join(',');
    return;
  }
  const explicit = process.env['KAFKA_BROKERS'] !== undefined && process.env['KAFKA_BROKERS'] !== '';
  if (!explicit && dockerConfigured()) {
    log(`no Kafka broker answers at ${brokers.join(',')}; a Docker engine is configured: starting ${KAFKA_IMAGE}`);
    process.env['KAFKA_BROKERS'] = await startKafkaContainer();
    return;
  }
  log(`no Kafka broker answers at ${brokers.join(',')}${explicit ? ' (KAFKA_BROKERS)' : ' and no Docker engine is configured'}: scripts/brokers/kafka.sh ensure`);
  const started = Date.now();
  process.env['KAFKA_BROKERS'] = await kafkaScript(['ensure'], ENSURE_TIMEOUT_MS);
  log(`Kafka answers at ${process.env['KAFKA_BROKERS']} after ${Date.now() - started} ms`);
}

export async function mochaGlobalSetup(): Promise<void> {
  const results = await Promise.allSettled([ensureRabbit(), ensureKafka()]);
  const failures = results.flatMap((result) => (result.status === 'rejected' ? [result.reason as unknown] : []));
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) throw new AggregateError(failures, `no broker for the tests: ${failures.map(String).join('; ')}`);
}

export async function mochaGlobalTeardown(): Promise<void> {
  const stops = stopContainers.splice(0);
  await Promise.all(stops.map((stop) => stop()));
}
