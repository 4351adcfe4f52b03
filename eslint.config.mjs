// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const brokerAndDatabaseClients = ['amqplib', 'kafkajs', 'typeorm', 'pg', 'mysql2', 'mysql', 'sql.js', 'better-sqlite3', 'ioredis', 'redis', 'inversify', 'testcontainers'];
const pathsInto = (folders) => folders.flatMap((f) => [`**/${f}/**`, `**/${f}`]);

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.cache/**', '.tmp/**', 'coverage/**', 'test/typecheck/**'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { project: ['./tsconfig.test.json'], tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // The core is the architecture's centre: no broker or database client, no adapter, no store.
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: brokerAndDatabaseClients,
          patterns: [{ group: pathsInto(['adapters', 'outbox', 'inbox', 'retry', 'di', 'cli', 'testing']), message: 'src/core imports nothing outside src/core.' }],
        },
      ],
    },
  },
  ...['memory', 'rabbitmq', 'kafka'].map((adapter) => ({
    // Adapters import the core, never each other.
    files: [`src/adapters/${adapter}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['memory', 'rabbitmq', 'kafka'].filter((a) => a !== adapter).flatMap((a) => [`../${a}/**`, `../${a}`, `**/adapters/${a}/**`]), message: 'Adapters never import each other.' }] },
      ],
    },
  })),
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'examples/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      // assert.* narrows types, so an optional chain after an assertion reads as 'unnecessary'; in tests it is harmless.
      '@typescript-eslint/no-unnecessary-condition': 'off',
      '@typescript-eslint/no-floating-promises': 'error',
    },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['**/*.mjs', '**/*.cjs', '**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly' },
    },
  },
);
