import assert from 'node:assert/strict';
import { sqlLiteral } from '../../../src/inbox/postgres-begin.js';

describe('sqlLiteral (the inbox marks that begin a PostgreSQL transaction)', () => {
  it('quotes a plain value', () => {
    assert.equal(sqlLiteral('0190c2f4-8d2e-7c1a-9b3e-5f2a1c0d4e6f'), "'0190c2f4-8d2e-7c1a-9b3e-5f2a1c0d4e6f'");
    assert.equal(sqlLiteral(''), "''");
  });

  it('doubles single quotes, so a value cannot end its literal', () => {
    assert.equal(sqlLiteral("o'brien"), "'o''brien'");
    assert.equal(sqlLiteral("x'); DROP TABLE t; --"), "'x''); DROP TABLE t; --'");
  });

  it('writes a value with a backslash as an E-literal with the backslashes doubled (the same under either standard_conforming_strings)', () => {
    assert.equal(sqlLiteral('a\\b'), "E'a\\\\b'");
    assert.equal(sqlLiteral("\\'"), "E'\\\\'''");
  });

  it('refuses a value with a NUL (the simple-query protocol would cut the statement there)', () => {
    assert.equal(sqlLiteral('a\0b'), undefined);
  });

  it('keeps other characters as they are (UTF-8 travels in the statement text)', () => {
    assert.equal(sqlLiteral('ключ-🔑\n\t"'), "'ключ-🔑\n\t\"'");
  });
});
