#!/usr/bin/env bash
# `npm test`: every test. Starts the brokers and databases the tests need (see scripts/brokers/), then runs mocha once
# over unit, conformance, integration and fault tests so the run ends with one summary line.
set -euo pipefail
cd "$(dirname "$0")/.."

specs=('test/unit/**/*.test.ts' 'test/conformance/**/*.test.ts')
for dir in test/integration test/faults; do
  if compgen -G "$dir/**/*.test.ts" > /dev/null || compgen -G "$dir/*.test.ts" > /dev/null; then specs+=("$dir/**/*.test.ts"); fi
done

npx mocha --reporter ./test/support/summary-reporter.cjs "${specs[@]}"
