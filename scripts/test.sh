#!/usr/bin/env bash
# `npm test`: every test. Starts the brokers and databases the tests need (see scripts/brokers/), then runs mocha once
# over unit, conformance, integration and fault tests so the run ends with one summary line.
set -euo pipefail
cd "$(dirname "$0")/.."

specs=('test/unit/**/*.test.ts' 'test/conformance/**/*.test.ts')
for dir in test/integration test/faults; do
  if compgen -G "$dir/**/*.test.ts" > /dev/null || compgen -G "$dir/*.test.ts" > /dev/null; then specs+=("$dir/**/*.test.ts"); fi
done

# RabbitMQ: RMQ_URL (default: the machine's node on 5672), installed and started here if needed. With a Docker engine and
# no RMQ_URL, the global setup starts a container with testcontainers instead (test/support/global-setup.ts).
if [[ -n "${RMQ_URL:-}" || ( -z "${DOCKER_HOST:-}" && ! -S /var/run/docker.sock ) ]]; then
  bash scripts/brokers/rabbitmq.sh ensure
fi

# Kafka: KAFKA_BROKERS (default: the standard test node on 127.0.0.1:9092), downloaded and started here if needed; it keeps
# running for the next run (`bash scripts/brokers/kafka.sh stop 0` stops it). With a Docker engine and no KAFKA_BROKERS,
# the global setup starts a container instead.
# A node this run had to start is stopped when the run ends (KEEP_BROKERS=1 keeps it for the next run).
kafka_started=0
if [[ -n "${KAFKA_BROKERS:-}" || ( -z "${DOCKER_HOST:-}" && ! -S /var/run/docker.sock ) ]]; then
  if ! (exec 3<>/dev/tcp/127.0.0.1/9092) 2>/dev/null; then kafka_started=1; fi
  bash scripts/brokers/kafka.sh ensure
fi
# Confluent's Kafka client for the tests of the Kafka adapter's Confluent producer driver: an optional peer, built from
# source once per machine and Node ABI (about 2 minutes; cached outside the checkout), restored in a second afterwards.
bash scripts/clients/confluent-kafka.sh ensure

stop_started_brokers() {
  if [[ $kafka_started == 1 && -z "${KEEP_BROKERS:-}" ]]; then bash scripts/brokers/kafka.sh stop 0 > /dev/null 2>&1 || true; fi
}
trap stop_started_brokers EXIT

# --exit: a client library's stray timer or socket must not keep a finished run alive (CI would hang until its limit).
npx mocha --exit --require ./test/support/global-setup.ts --reporter ./test/support/summary-reporter.cjs "${specs[@]}"
