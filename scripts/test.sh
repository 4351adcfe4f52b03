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

npx mocha --require ./test/support/global-setup.ts --reporter ./test/support/summary-reporter.cjs "${specs[@]}"
