// Loads every entry of the exports map through both module systems, as a user's project would.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const require = createRequire(import.meta.url);
let failures = 0;
for (const entry of Object.keys(pkg.exports)) {
  if (entry.endsWith('package.json')) continue;
  const specifier = entry === '.' ? pkg.name : `${pkg.name}/${entry.slice(2)}`;
  try {
    const esm = await import(specifier);
    const cjs = require(specifier);
    const missing = Object.keys(esm).filter((name) => !(name in cjs));
    if (missing.length > 0) throw new Error(`CommonJS build lacks ${missing.join(', ')}`);
    console.log(`ok ${specifier}: ${String(Object.keys(esm).length)} exports in ESM and CommonJS`);
  } catch (error) {
    failures += 1;
    console.error(`FAIL ${specifier}: ${error instanceof Error ? error.message : String(error)}`);
  }
}
process.exit(failures === 0 ? 0 : 1);
