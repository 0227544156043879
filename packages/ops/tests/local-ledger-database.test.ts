import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '@sidestep/db';
import { createOpsContext, type OpsContext } from '../src/index.ts';

/** Session limits whose sum, the default answer limit, is far shorter than the wait behind a transaction. */
const SMALL_TIMEOUTS = { DATABASE_STATEMENT_TIMEOUT_MS: '200', DATABASE_CONNECT_TIMEOUT_MS: '200' };
const saved = { ...process.env };

let embedded: EmbeddedPostgres;
beforeAll(async () => {
  // The ledger's pool reads its session limits from the process's environment.
  Object.assign(process.env, SMALL_TIMEOUTS);
  embedded = await startEmbeddedPostgres({ port: 0 });
}, 60_000);
afterAll(async () => {
  for (const variable of Object.keys(SMALL_TIMEOUTS)) {
    if (saved[variable] === undefined) delete process.env[variable];
    else process.env[variable] = saved[variable];
  }
  await embedded?.close();
});

// The console of npm start and `sidestep --env local` read the jobs ledger on the local cloud's
// embedded server, which serves one transaction at a time (and ignores statement_timeout): a read
// waits there for an import's merge or an export's snapshot to end, longer than the answer limit.
describe("the local context's ledger on the embedded database", () => {
  let context: OpsContext;
  afterAll(() => context?.close());

  it("answers a read that waits behind another connection's transaction past statement_timeout plus the connect timeout", async () => {
    context = createOpsContext({
      environment: 'local',
      databaseUrl: embedded.url,
      databaseKind: 'embedded',
      env: {},
    });
    const ledger = await context.ledger();
    // Connected before: opening a connection waits for the transaction too, under the connect timeout.
    await ledger.countJobs(new Date(0));
    let began = () => {};
    const inside = new Promise<void>((resolve) => {
      began = resolve;
    });
    const holding = embedded.db.transaction(async (tx) => {
      await tx.query('SELECT 1');
      began();
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    });
    await inside;
    const counted = await ledger.countJobs(new Date(0)).catch((error: unknown) => error);
    await holding;
    // Not pg's 'Query read timeout' of a live server.
    expect(counted instanceof Error ? counted.message : 'answered').toBe('answered');
  });
});
