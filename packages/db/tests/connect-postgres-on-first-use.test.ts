import { describe, expect, it } from '@jest/globals';
import { connectPostgresOnFirstUse, DatabaseOptionsError } from '../src/postgres.ts';

describe('connectPostgresOnFirstUse', () => {
  it('asks for the URL on first use only and keeps the pool for later calls', async () => {
    let asked = 0;
    const database = connectPostgresOnFirstUse({
      url: async () => {
        asked += 1;
        // pg opens no connection until a query: nothing listens here, and nothing needs to.
        return 'postgres://user:secret@127.0.0.1:1/sidestep';
      },
      max: 1,
    });
    expect(asked).toBe(0);
    const first = await database();
    expect(await database()).toBe(first);
    expect(asked).toBe(1);
    await first.close();
  });

  it('does not cache a failed connect: the next call asks again', async () => {
    const urls = ['mysql://nope', 'postgres://user:secret@127.0.0.1:1/sidestep'];
    let asked = 0;
    const database = connectPostgresOnFirstUse({ url: async () => urls[asked++] ?? '' });
    await expect(database()).rejects.toThrow(DatabaseOptionsError);
    const second = await database();
    expect(asked).toBe(2);
    await second.close();
  });
});
