import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';

describe("confluentProducerDriver against @confluentinc/kafka-javascript's own type declarations", function () {
  this.timeout(120_000);

  it('the documented usage compiles under the strict settings of this package (test/typecheck/confluent)', async () => {
    const require = createRequire(import.meta.url);
    const tsc = require.resolve('typescript/bin/tsc');
    const project = new URL('../../typecheck/confluent/tsconfig.json', import.meta.url).pathname;
    const result = await promisify(execFile)(process.execPath, [tsc, '-p', project]).then(
      () => ({ ok: true, output: '' }),
      (error: unknown) => {
        const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
        return { ok: false, output: `${stdout}${stderr}` };
      },
    );
    assert.ok(result.ok, result.output);
  });
});
