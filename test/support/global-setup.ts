/**
 * Mocha global fixtures: make sure a RabbitMQ broker answers before any test runs, and export its URL as RMQ_URL.
 * Load with `mocha --require ./test/support/global-setup.ts` (scripts/test.sh does; ESM is fine: mocha imports it through
 * the tsx loader from .mocharc.json). Order:
 *   1. RMQ_URL (or the default amqp://guest:guest@127.0.0.1:5672) answers AMQP: use it.
 *   2. RMQ_URL was not set and a Docker engine is configured (DOCKER_HOST or /var/run/docker.sock): start rabbitmq:3.13
 *      with testcontainers, export its URL, stop it in the teardown.
 *   3. Otherwise `scripts/brokers/rabbitmq.sh ensure`: installs rabbitmq-server if needed and starts the machine's node.
 */
import { existsSync } from 'node:fs';
import type * as Testcontainers from 'testcontainers'; // types only: the package is imported on demand
import { reachable, rabbitUrl } from './rabbitmq.js';
import { rabbitScript } from './rabbitmq-node.js';

const RABBIT_IMAGE = 'rabbitmq:3.13';
const ENSURE_TIMEOUT_MS = 300_000; // includes an apt-get install on a fresh machine

let stopContainer: (() => Promise<void>) | undefined;

function log(message: string): void {
  process.stdout.write(`[global-setup] ${message}\n`);
}

function dockerConfigured(): boolean {
  const host = process.env['DOCKER_HOST'];
  return (host !== undefined && host !== '') || existsSync('/var/run/docker.sock');
}

async function startContainer(): Promise<string> {
  let testcontainers: typeof Testcontainers;
  try {
    testcontainers = await import('testcontainers');
  } catch (error) {
    throw new Error(`A Docker engine is configured but the testcontainers package cannot be loaded: ${String(error)}`, { cause: error });
  }
  const { GenericContainer, Wait } = testcontainers;
  const started = Date.now();
  const container = await new GenericContainer(RABBIT_IMAGE)
    .withExposedPorts(5672)
    .withWaitStrategy(Wait.forLogMessage(/Server startup complete/))
    .withStartupTimeout(120_000)
    .start();
  stopContainer = async () => {
    await container.stop();
  };
  const url = `amqp://guest:guest@${container.getHost()}:${container.getMappedPort(5672)}`;
  log(`started ${RABBIT_IMAGE} with testcontainers at ${url} in ${Date.now() - started} ms`);
  return url;
}

export async function mochaGlobalSetup(): Promise<void> {
  const url = rabbitUrl();
  if (await reachable(url, 3000)) {
    process.env['RMQ_URL'] = url;
    return;
  }
  const explicit = process.env['RMQ_URL'] !== undefined && process.env['RMQ_URL'] !== '';
  if (!explicit && dockerConfigured()) {
    log(`no broker answers at ${url}; a Docker engine is configured: starting ${RABBIT_IMAGE}`);
    process.env['RMQ_URL'] = await startContainer();
    return;
  }
  log(`no broker answers at ${url}${explicit ? ' (RMQ_URL)' : ' and no Docker engine is configured'}: scripts/brokers/rabbitmq.sh ensure`);
  const started = Date.now();
  process.env['RMQ_URL'] = await rabbitScript(['ensure'], ENSURE_TIMEOUT_MS);
  log(`RabbitMQ answers at ${process.env['RMQ_URL']} after ${Date.now() - started} ms`);
}

export async function mochaGlobalTeardown(): Promise<void> {
  if (stopContainer === undefined) return;
  const stop = stopContainer;
  stopContainer = undefined;
  await stop();
}
