import { describe, expect, it } from '@jest/globals';
import { describeIfAvailable, testDatabases } from '../src/testing.ts';

describe('testDatabases', () => {
  it('lists PostgreSQL as unavailable without TEST_DATABASE_URL, so its suites are declared skipped', async () => {
    const backends = testDatabases({});
    expect(backends.map(({ name, available }) => ({ name, available }))).toEqual([
      { name: 'pglite', available: true },
      { name: 'postgres', available: false },
    ]);
    await expect(backends[1]?.open()).rejects.toThrow('TEST_DATABASE_URL is unset');
  });

  it('lists PostgreSQL as available when TEST_DATABASE_URL names a server', () => {
    const backends = testDatabases({ TEST_DATABASE_URL: 'postgres://postgres@127.0.0.1:1/postgres' });
    expect(backends.map((backend) => backend.available)).toEqual([true, true]);
  });
});

describe('describeIfAvailable', () => {
  it('declares the suite of an unavailable backend skipped, which jest counts as skipped tests', () => {
    expect(describeIfAvailable(true)).toBe(describe);
    expect(describeIfAvailable(false)).toBe(describe.skip);
  });
});
