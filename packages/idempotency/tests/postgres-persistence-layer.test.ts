import { randomUUID } from 'node:crypto';
import {
  IdempotencyAlreadyInProgressError,
  IdempotencyConfig,
  IdempotencyPersistenceLayerError,
  IdempotencyValidationError,
  makeIdempotent,
} from '@aws-lambda-powertools/idempotency';
import { describe, expect, it, jest } from '@jest/globals';
import type { Queryable, QueryResult } from '@sidestep/db';
import { describeEachDatabase, RESCANNED_SUBQUERY_PLAN, suiteDatabase } from '@sidestep/db/testing';
import type { Context } from 'aws-lambda';
import {
  findIdempotencyOutcomeUnknown,
  IdempotencyOutcomeUnknownError,
  PostgresPersistenceLayer,
  type PostgresPersistenceLayerOptions,
  PostgresPersistenceLayerOptionsError,
} from '../src/index.ts';

interface Job {
  id: string;
  body?: string;
}

/** A Lambda context: Powertools derives the in-progress window from the remaining time. */
const lambdaContext = { getRemainingTimeInMillis: () => 30_000 } as unknown as Context;

interface RecordRow {
  id: string;
  status: string;
  expiry_timestamp: string;
  in_progress_expiry_timestamp: string | null;
  data: unknown;
}

describeEachDatabase('PostgresPersistenceLayer', (open) => {
  const db = suiteDatabase(open);

  let prefixes = 0;
  /**
   * `work` made idempotent by Powertools on a fresh store. Each setup has its own key prefix so the
   * tests share one database without sharing records.
   */
  function setup<R>(
    work: (job: Job) => Promise<R>,
    options: Partial<PostgresPersistenceLayerOptions> & {
      payloadValidationJmesPath?: string;
      /** Another setup's prefix, for a store that shares its records (another sandbox). */
      keyPrefix?: string;
      /** What the invocation's `getRemainingTimeInMillis` answers. @default 30 s */
      remainingMs?: number;
    } = {},
  ) {
    const { payloadValidationJmesPath, keyPrefix: sharedPrefix, remainingMs, ...storeOptions } = options;
    const context =
      remainingMs === undefined
        ? lambdaContext
        : ({ getRemainingTimeInMillis: () => remainingMs } as unknown as Context);
    const keyPrefix = sharedPrefix ?? `test${++prefixes}`;
    const persistenceStore = new PostgresPersistenceLayer({ database: db(), ...storeOptions });
    const config = new IdempotencyConfig({
      eventKeyJmesPath: 'id',
      ...(payloadValidationJmesPath === undefined ? {} : { payloadValidationJmesPath }),
    });
    const fn = jest.fn((job: Job, _context: Context) => work(job));
    const idempotent = makeIdempotent(fn, { persistenceStore, config, keyPrefix });
    return {
      fn,
      keyPrefix,
      persistenceStore,
      run: (job: Job) => idempotent(job, context) as Promise<R>,
      rows: async () =>
        (
          await db().query<RecordRow>(
            'SELECT id, status, expiry_timestamp, in_progress_expiry_timestamp, data FROM idempotency_records WHERE id LIKE $1',
            [`${keyPrefix}#%`],
          )
        ).rows,
      /** Moves the records' clocks back, as if `seconds` had passed. */
      age: (column: 'expiry_timestamp' | 'in_progress_expiry_timestamp', by: number) =>
        db().query(`UPDATE idempotency_records SET ${column} = ${column} - $2 WHERE id LIKE $1`, [
          `${keyPrefix}#%`,
          by,
        ]),
    };
  }

  it('runs the first call and replays its stored result without running again', async () => {
    const { fn, run, rows } = setup(async (job) => ({ sent: job.id, at: 1 }));
    const job = { id: randomUUID() };
    expect(await run(job)).toEqual({ sent: job.id, at: 1 });
    expect(await run(job)).toEqual({ sent: job.id, at: 1 });
    expect(fn).toHaveBeenCalledTimes(1);
    expect(await rows()).toEqual([
      expect.objectContaining({ status: 'COMPLETED', data: { sent: job.id, at: 1 } }),
    ]);
  });

  it.each([
    ['a string', 'done'],
    ['null', null],
    ['undefined', undefined],
    ['an array', [1, 'two', { three: 3 }]],
  ])('replays %s result exactly', async (_case, result) => {
    const { fn, run } = setup(async () => result);
    const job = { id: randomUUID() };
    expect(await run(job)).toEqual(result);
    const replayed = await run(job);
    expect(replayed).toStrictEqual(result);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('rejects a replay whose validated payload differs with IdempotencyValidationError', async () => {
    const { fn, run } = setup(async (job) => job.body, { payloadValidationJmesPath: 'body' });
    const id = randomUUID();
    expect(await run({ id, body: 'hello' })).toBe('hello');
    await expect(run({ id, body: 'changed' })).rejects.toBeInstanceOf(IdempotencyValidationError);
    expect(await run({ id, body: 'hello' })).toBe('hello');
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('runs the function once when calls with the same key race; the others are told it is in progress', async () => {
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { fn, run } = setup(async () => {
      // A second concurrent execution must not wait forever for a release that never comes.
      if (fn.mock.calls.length > 1) release();
      await gate;
      return 'once';
    });
    const job = { id: randomUUID() };
    let settled = 0;
    const calls = Array.from({ length: 5 }, () =>
      run(job).finally(() => {
        if (++settled === 4) release();
      }),
    );
    const results = await Promise.allSettled(calls);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(results.filter((r) => r.status === 'fulfilled').map((r) => r.value)).toEqual(['once']);
    for (const result of results.filter((r) => r.status === 'rejected')) {
      expect(result.reason).toBeInstanceOf(IdempotencyAlreadyInProgressError);
    }
  });

  describe('a batch of calls started together', () => {
    /** The store on a database that counts the statements it is sent, by their first words. */
    function counted<R>(work: (job: Job) => Promise<R>) {
      const statements: string[] = [];
      const counting: Queryable = {
        query: (sql, params) => {
          statements.push(sql.trim().split(/\s+/).slice(0, 1).join(' '));
          return db().query(sql, params);
        },
      };
      return { ...setup(work, { database: counting }), statements };
    }

    it('claims every key in one statement and records the outcomes in one more', async () => {
      const { fn, run, rows, statements } = counted(async (job) => ({ sent: job.id }));
      const jobs = Array.from({ length: 10 }, () => ({ id: randomUUID() }));
      const results = await Promise.all(jobs.map(run));
      expect(results).toEqual(jobs.map((job) => ({ sent: job.id })));
      expect(fn).toHaveBeenCalledTimes(10);
      expect(statements).toEqual(['INSERT', 'UPDATE']);
      expect(await rows()).toHaveLength(10);
      expect((await rows()).every((row) => row.status === 'COMPLETED')).toBe(true);
    });

    it('records the outcomes in one statement when the calls finish at different moments', async () => {
      const { run, rows, statements } = counted(async (job: Job & { delayMs?: number }) => {
        await new Promise((resolve) => setTimeout(resolve, job.delayMs));
        return { sent: job.id };
      });
      const jobs = Array.from({ length: 5 }, (_, index) => ({ id: randomUUID(), delayMs: index * 30 }));
      await Promise.all(jobs.map(run));
      expect(statements).toEqual(['INSERT', 'UPDATE']);
      expect((await rows()).map((row) => row.status)).toEqual(Array(5).fill('COMPLETED'));
    });

    it("records the others' outcomes with one statement when a call of the batch fails", async () => {
      const failure = new Error('smtp down');
      const { run, rows, statements } = counted(async (job: Job) => {
        await new Promise((resolve) => setTimeout(resolve, job.body === 'fail' ? 40 : 10));
        if (job.body === 'fail') throw failure;
        return { sent: job.id };
      });
      const jobs = [{ id: randomUUID() }, { id: randomUUID(), body: 'fail' }, { id: randomUUID() }];
      const outcomes = await Promise.allSettled(jobs.map(run));
      expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect(statements).toEqual(['INSERT', 'DELETE', 'UPDATE']);
      expect((await rows()).map((row) => row.status)).toEqual(['COMPLETED', 'COMPLETED']);
    });

    it("records the finished calls' outcomes within a second while a call of the batch hangs", async () => {
      let release = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const { run, rows } = counted(async (job: Job) => {
        if (job.body === 'hang') await gate;
        return { sent: job.id };
      });
      const hung = { id: randomUUID(), body: 'hang' };
      const done = [{ id: randomUUID() }, { id: randomUUID() }];
      const hanging = run(hung);
      const started = performance.now();
      await Promise.all(done.map(run));
      expect(performance.now() - started).toBeLessThan(3_000);
      // The hung call's record is the one still in progress (the keys are stored hashed).
      expect((await rows()).map((row) => row.status).sort()).toEqual([
        'COMPLETED',
        'COMPLETED',
        'INPROGRESS',
      ]);
      release();
      await hanging;
      expect((await rows()).every((row) => row.status === 'COMPLETED')).toBe(true);
    });

    it('runs a key twice in one batch once; the duplicate is told it is in progress', async () => {
      const { fn, run } = counted(async (job) => ({ sent: job.id }));
      const twice = { id: randomUUID() };
      const others = Array.from({ length: 3 }, () => ({ id: randomUUID() }));
      const outcomes = await Promise.allSettled([twice, ...others, twice].map(run));
      expect(fn).toHaveBeenCalledTimes(4);
      const rejected = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason] : []));
      expect(rejected).toEqual([expect.any(IdempotencyAlreadyInProgressError)]);
      // Delivered again later (SQS retries it), the duplicate is replayed, not run.
      expect(await run(twice)).toEqual({ sent: twice.id });
      expect(fn).toHaveBeenCalledTimes(4);
    });

    it('replays a whole batch delivered a second time without running anything', async () => {
      const { fn, run, statements } = counted(async (job) => ({ sent: job.id }));
      const jobs = Array.from({ length: 5 }, () => ({ id: randomUUID() }));
      await Promise.all(jobs.map(run));
      statements.length = 0;
      const again = await Promise.all(jobs.map(run));
      expect(again).toEqual(jobs.map((job) => ({ sent: job.id })));
      expect(fn).toHaveBeenCalledTimes(5);
      // One claim statement finds every key taken, one read fetches their records.
      expect(statements).toEqual(['INSERT', 'SELECT']);
    });
  });

  it('deletes the record of a function that throws, so a retry runs it', async () => {
    const failure = new Error('smtp down');
    let attempts = 0;
    const { fn, run, rows } = setup(async () => {
      if (++attempts === 1) throw failure;
      return 'sent';
    });
    const job = { id: randomUUID() };
    await expect(run(job)).rejects.toBe(failure);
    expect(await rows()).toEqual([]);
    expect(await run(job)).toBe('sent');
    expect(fn).toHaveBeenCalledTimes(2);
  });

  /** What an RDS failover does to a statement in flight: the server ends the session (transient). */
  const failover = () =>
    Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });

  /** The statement that deletes a failed call's record. */
  const DELETE_RECORD = /^\s*DELETE FROM idempotency_records WHERE id = /;
  /** The statement that records done calls' outcomes (COMPLETED). */
  const UPDATE_OUTCOMES = /^\s*UPDATE idempotency_records AS record\s+SET status = /;

  interface FailingOptions {
    readonly committed?: boolean;
    readonly meanwhile?: () => Promise<void>;
  }

  /**
   * The suite's database, except that its first `failures` statements matching `statement` fail with
   * `error`; with `committed`, each such statement is carried out before it fails, and `meanwhile`
   * runs between the two, as when the connection drops after the commit and before its answer.
   * `tries` counts the matching statements sent.
   */
  function failing(
    statement: RegExp,
    failures: number,
    error: () => Error,
    options: FailingOptions = {},
  ): Queryable & { tries: number } {
    const database = {
      tries: 0,
      async query<R>(sql: string, params?: unknown[]): Promise<QueryResult<R>> {
        if (!statement.test(sql) || ++database.tries > failures) return db().query<R>(sql, params);
        if (options.committed) await db().query(sql, params);
        await options.meanwhile?.();
        throw error();
      },
    };
    return database;
  }

  describe('a failed call whose record delete meets a database error', () => {
    it("retries a transient failure, so the function's own error comes back and a retry runs it", async () => {
      const failure = new Error('smtp down');
      let attempts = 0;
      const database = failing(DELETE_RECORD, 1, failover);
      const { fn, run, rows } = setup(
        async () => {
          if (++attempts === 1) throw failure;
          return 'sent';
        },
        { database },
      );
      const job = { id: randomUUID() };
      await expect(run(job)).rejects.toBe(failure);
      expect(database.tries).toBe(2);
      expect(await rows()).toEqual([]);
      expect(await run(job)).toBe('sent');
      expect(fn).toHaveBeenCalledTimes(2);
    });

    // The first delete did its work and only its answer was lost; the key is free, and another copy
    // of the work claims it before the retry. The retry must not delete that copy's claim, which
    // would let a third copy run while the second still does.
    it("leaves alone the claim of another call made after the delete's lost answer", async () => {
      const job = { id: randomUUID() };
      const other = setup(async () => await new Promise<never>(() => {}));
      const database = failing(DELETE_RECORD, 1, () => new Error('Connection terminated unexpectedly'), {
        committed: true,
        meanwhile: async () => {
          void other.run(job);
          while ((await other.rows()).length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
        },
      });
      const failure = new Error('smtp down');
      const first = setup(
        async () => {
          throw failure;
        },
        // Another sandbox of the same function: the same records.
        { database, keyPrefix: other.keyPrefix },
      );
      await expect(first.run(job)).rejects.toBe(failure);
      expect(await other.rows()).toEqual([expect.objectContaining({ status: 'INPROGRESS' })]);
      await expect(other.run(job)).rejects.toBeInstanceOf(IdempotencyAlreadyInProgressError);
    });
  });

  // The function did its work (a mail went out); only its COMPLETED record is left to write. A
  // failover's dropped connection there must not undo the call: the work is done and cannot be
  // taken back, and a record left INPROGRESS passes, once its window is over, for a crash mid-work.
  describe('a successful call whose COMPLETED record meets a database error', () => {
    it('retries a transient failure, so the call returns its result and the record is COMPLETED', async () => {
      const database = failing(UPDATE_OUTCOMES, 1, failover);
      const { fn, run, rows } = setup(async (job) => ({ sent: job.id }), { database });
      const job = { id: randomUUID() };
      await expect(run(job)).resolves.toEqual({ sent: job.id });
      expect(database.tries).toBe(2);
      expect(await rows()).toEqual([
        expect.objectContaining({ status: 'COMPLETED', data: { sent: job.id } }),
      ]);
      await expect(run(job)).resolves.toEqual({ sent: job.id });
      expect(fn).toHaveBeenCalledTimes(1);
    });

    it("retries a batch's one UPDATE once for all its calls", async () => {
      const database = failing(UPDATE_OUTCOMES, 1, failover);
      const { run, rows } = setup(async (job) => ({ sent: job.id }), { database });
      const jobs = Array.from({ length: 10 }, () => ({ id: randomUUID() }));
      const outcomes = await Promise.allSettled(jobs.map(run));
      expect(outcomes.map((outcome) => outcome.status)).toEqual(Array(10).fill('fulfilled'));
      expect(database.tries).toBe(2);
      expect((await rows()).map((row) => row.status)).toEqual(Array(10).fill('COMPLETED'));
    });
  });

  // What a call writes after its work, when the database keeps failing it: the record stays
  // INPROGRESS and the call rejects with Powertools' persistence error, soon enough to say so.
  describe.each([
    {
      outcome: "a failed call's record delete",
      statement: DELETE_RECORD,
      work: async (): Promise<string> => {
        throw new Error('smtp down');
      },
    },
    { outcome: "a successful call's COMPLETED update", statement: UPDATE_OUTCOMES, work: async () => 'sent' },
  ])('$outcome while the database fails it', ({ statement, work }) => {
    /** One call on a database that fails every such statement with `error`: its cause and the statements tried. */
    async function neverDone(error: () => Error, remainingMs?: number) {
      const database = failing(statement, Number.POSITIVE_INFINITY, error);
      const { run, rows } = setup(work, { database, ...(remainingMs === undefined ? {} : { remainingMs }) });
      const failure = await run({ id: randomUUID() }).catch((thrown: unknown) => thrown);
      expect(failure).toBeInstanceOf(IdempotencyPersistenceLayerError);
      expect(await rows()).toEqual([expect.objectContaining({ status: 'INPROGRESS' })]);
      return { cause: (failure as Error).cause, tries: database.tries };
    }

    it('gives up at once on a failure no retry can cure', async () => {
      const { cause, tries } = await neverDone(() =>
        Object.assign(new Error('permission denied for table idempotency_records'), { code: '42501' }),
      );
      expect(cause).toMatchObject({ code: '42501' });
      expect(tries).toBe(1);
    });

    it('gives up after a bounded number of attempts while the database stays away', async () => {
      const { cause, tries } = await neverDone(failover);
      expect(cause).toMatchObject({ code: '57P01' });
      expect(tries).toBeGreaterThan(1);
      expect(tries).toBeLessThanOrEqual(5);
    });

    // A retry that could still be waiting for its answer when the invocation times out would leave the
    // caller no time to say what happened (a mail not sent, or sent): none starts that close to the deadline.
    it('tries no statement again when the invocation has too little time left for one and its report', async () => {
      const { cause, tries } = await neverDone(failover, 2_500);
      expect(cause).toMatchObject({ code: '57P01' });
      expect(tries).toBe(1);
    });
  });

  it('runs again once the record expired, replacing it', async () => {
    let runs = 0;
    const { fn, run, rows, age } = setup(async () => ++runs);
    const job = { id: randomUUID() };
    expect(await run(job)).toBe(1);
    await age('expiry_timestamp', 7200);
    expect(await run(job)).toBe(2);
    expect(await run(job)).toBe(2);
    expect(fn).toHaveBeenCalledTimes(2);
    const [row] = await rows();
    expect(Number(row?.expiry_timestamp)).toBeGreaterThan(Date.now() / 1000);
  });

  it('replays a completed record whose in-progress window passed, without running again, where crashed attempts are reclaimed', async () => {
    let runs = 0;
    const { fn, run, rows, age } = setup(async () => ++runs, { reclaimExpiredInProgress: true });
    const job = { id: randomUUID() };
    expect(await run(job)).toBe(1);
    // Completing a record leaves its in-progress expiry as the claim wrote it: only an INPROGRESS
    // record is reclaimed when that passes.
    await age('in_progress_expiry_timestamp', 60_000);
    expect(await run(job)).toBe(1);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(await rows()).toEqual([expect.objectContaining({ status: 'COMPLETED' })]);
  });

  describe('an attempt that crashed while in progress', () => {
    /**
     * Starts an invocation that never finishes, like a Lambda that died after its side effect and
     * before recording completion, and resolves once its INPROGRESS record is written.
     */
    async function crashedAttempt(options: Partial<PostgresPersistenceLayerOptions>) {
      let entered = () => {};
      const inProgress = new Promise<void>((resolve) => {
        entered = resolve;
      });
      let calls = 0;
      const context = setup(async () => {
        if (++calls === 1) {
          entered();
          await new Promise(() => {}); // never settles: nothing pending keeps the process alive
        }
        return 'second run';
      }, options);
      const job = { id: randomUUID() };
      void context.run(job);
      await inProgress;
      return { ...context, job };
    }

    it('blocks duplicates while its in-progress window lasts', async () => {
      const { run, job, rows } = await crashedAttempt({ reclaimExpiredInProgress: false });
      await expect(run(job)).rejects.toBeInstanceOf(IdempotencyAlreadyInProgressError);
      expect(await rows()).toEqual([expect.objectContaining({ status: 'INPROGRESS' })]);
    });

    it('is reclaimed and run again once its window passed, by default', async () => {
      const { fn, run, job, age } = await crashedAttempt({});
      await age('in_progress_expiry_timestamp', 60_000);
      expect(await run(job)).toBe('second run');
      expect(fn).toHaveBeenCalledTimes(2);
    });

    it('lets exactly one of several concurrent retries reclaim it', async () => {
      const { fn, run, job, age } = await crashedAttempt({});
      await age('in_progress_expiry_timestamp', 60_000);
      const results = await Promise.allSettled(Array.from({ length: 4 }, () => run(job)));
      expect(fn).toHaveBeenCalledTimes(2);
      const rejected = results.filter((r) => r.status === 'rejected');
      expect(results.filter((r) => r.status === 'fulfilled').length).toBeGreaterThanOrEqual(1);
      // A retry that comes after the winner completed replays its result; one that overlaps it is
      // told the work is in progress. None runs the function a third time.
      for (const result of rejected) expect(result.reason).toBeInstanceOf(IdempotencyAlreadyInProgressError);
    });

    it('raises IdempotencyOutcomeUnknownError instead of running again when reclaimExpiredInProgress is false', async () => {
      const { fn, run, job, age, rows } = await crashedAttempt({ reclaimExpiredInProgress: false });
      await age('in_progress_expiry_timestamp', 60_000);
      const failure = await run(job).catch((error: unknown) => error);
      // Powertools wraps whatever the store throws on put.
      expect(failure).toBeInstanceOf(IdempotencyPersistenceLayerError);
      const unknown = findIdempotencyOutcomeUnknown(failure);
      expect(unknown).toBeInstanceOf(IdempotencyOutcomeUnknownError);
      const [row] = await rows();
      expect(unknown).toMatchObject({
        name: 'IdempotencyOutcomeUnknownError',
        permanent: true,
        idempotencyKey: row?.id,
        inProgressExpiryTimestamp: Number(row?.in_progress_expiry_timestamp),
      });
      expect(fn).toHaveBeenCalledTimes(1);
      expect(row?.status).toBe('INPROGRESS');
    });

    // Each copy of the message that meets the record (a redelivery, a redrive of its dead letter)
    // starts the record's lifetime again: a record that expired while a copy still existed would let
    // that copy run the side effect a second time.
    it('starts the lifetime of a record whose outcome is unknown again when a copy of its work meets it', async () => {
      const { run, job, age, rows } = await crashedAttempt({ reclaimExpiredInProgress: false });
      await age('in_progress_expiry_timestamp', 60_000);
      const claimed = Number((await rows())[0]?.expiry_timestamp);
      await age('expiry_timestamp', 1800);
      await expect(run(job)).rejects.toBeInstanceOf(IdempotencyPersistenceLayerError);
      const [row] = await rows();
      expect(row?.status).toBe('INPROGRESS');
      expect(Number(row?.expiry_timestamp)).toBeGreaterThanOrEqual(claimed);
    });
  });

  it('purges expired records and keeps live ones', async () => {
    const { run, rows, age, persistenceStore } = setup(async (job) => job.id);
    await run({ id: randomUUID() });
    await age('expiry_timestamp', 7200);
    const live = { id: randomUUID() };
    await run(live);
    expect(await persistenceStore.purgeExpired()).toBeGreaterThanOrEqual(1);
    expect(await rows()).toEqual([expect.objectContaining({ data: live.id })]);
  });

  it('purges expired records in bounded batches, and each once when two purges run at once', async () => {
    const store = new PostgresPersistenceLayer({ database: db() });
    // Expired at 1970-01-01T00:16:40Z, before the purges' clock; other tests' records are not.
    const expired = Array.from({ length: 7 }, (_, index) => `purge-batch-${index}`);
    await db().query(
      `INSERT INTO idempotency_records (id, status, expiry_timestamp)
       SELECT id, 'COMPLETED', 1000 FROM unnest($1::text[]) AS id`,
      [expired],
    );
    await db().query(
      `INSERT INTO idempotency_records (id, status, expiry_timestamp) VALUES ('purge-batch-live', 'COMPLETED', 3000)`,
    );
    const at = new Date(2000_000);
    expect(await store.purgeExpired(at, { limit: 2, batches: 1 })).toBe(2);
    const left = async () =>
      (await db().query("SELECT id FROM idempotency_records WHERE id LIKE 'purge-batch-%' ORDER BY id")).rows;
    expect(await left()).toHaveLength(6);
    const both = await Promise.all([
      store.purgeExpired(at, { limit: 2 }),
      store.purgeExpired(at, { limit: 2 }),
    ]);
    expect(both[0] + both[1]).toBe(5);
    expect(await left()).toEqual([{ id: 'purge-batch-live' }]);
    expect(await store.purgeExpired(at)).toBe(0);
  });

  it("purges at most `limit` records a batch also when PostgreSQL reruns the batch's subquery for every row", async () => {
    const expired = Array.from({ length: 5 }, (_, index) => `purge-rescan-${index}`);
    await db().query(
      `INSERT INTO idempotency_records (id, status, expiry_timestamp)
       SELECT id, 'COMPLETED', 1000 FROM unnest($1::text[]) AS id`,
      [expired],
    );
    const purged = await db().transaction(async (tx) => {
      for (const setting of RESCANNED_SUBQUERY_PLAN) await tx.query(setting);
      return new PostgresPersistenceLayer({ database: tx }).purgeExpired(new Date(2000_000), {
        limit: 2,
        batches: 1,
      });
    });
    const left = await db().query("SELECT id FROM idempotency_records WHERE id LIKE 'purge-rescan-%'");
    await db().query("DELETE FROM idempotency_records WHERE id LIKE 'purge-rescan-%'");
    expect(purged).toBe(2);
    expect(left.rows).toHaveLength(3);
  });

  it('finds expired records through the expiry index (migration 1), not by reading the table', async () => {
    const purges: { text: string; values: unknown[] }[] = [];
    const recording: Queryable = {
      query: (text, values) => {
        if (text.includes('DELETE')) purges.push({ text, values: values ?? [] });
        return db().query(text, values);
      },
    };
    await new PostgresPersistenceLayer({ database: recording }).purgeExpired(new Date(2000_500), {
      batches: 1,
    });
    const [purge] = purges;
    if (!purge) throw new Error('purgeExpired sent no DELETE');
    const plan = await db().transaction(async (tx) => {
      // Told to avoid sequential scans, the planner still takes one when no index serves the query.
      await tx.query('SET LOCAL enable_seqscan = off');
      await tx.query(`PREPARE purge_plan AS ${purge.text}`);
      const { rows } = await tx.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN EXECUTE purge_plan(${purge.values.map((value) => `'${String(value)}'`).join(', ')})`,
      );
      await tx.query('DEALLOCATE purge_plan');
      return rows.map((row) => row['QUERY PLAN']).join('\n');
    });
    expect(plan).toMatch(/idempotency_records_expiry_timestamp_idx/);
    expect(plan).not.toMatch(/Seq Scan/);
  });

  it('purges a record that expired within the last second, and keeps one expiring at this second', async () => {
    const store = new PostgresPersistenceLayer({ database: db() });
    await db().query(
      `INSERT INTO idempotency_records (id, status, expiry_timestamp)
       VALUES ('purge-second-gone', 'COMPLETED', 1500), ('purge-second-kept', 'COMPLETED', 1501)`,
    );
    // 1,500.5 s after the epoch: 1500 is past, 1501 is not.
    await store.purgeExpired(new Date(1_500_500));
    expect(
      (await db().query("SELECT id FROM idempotency_records WHERE id LIKE 'purge-second-%' ORDER BY id"))
        .rows,
    ).toEqual([{ id: 'purge-second-kept' }]);
    await db().query("DELETE FROM idempotency_records WHERE id LIKE 'purge-second-%'");
  });

  it('opens a lazily given database once, and again after a failed open', async () => {
    const open = jest
      .fn<() => Promise<Queryable>>()
      .mockRejectedValueOnce(new Error('secret not readable'))
      .mockResolvedValue(db());
    const { fn, run } = setup(async () => 'ok', { database: open });
    await expect(run({ id: randomUUID() })).rejects.toBeInstanceOf(IdempotencyPersistenceLayerError);
    expect(await run({ id: randomUUID() })).toBe('ok');
    expect(await run({ id: randomUUID() })).toBe('ok');
    expect(open).toHaveBeenCalledTimes(2);
    expect(fn).toHaveBeenCalledTimes(2);
  });
});

describe('PostgresPersistenceLayer options', () => {
  it.each(['idempotency records', 'records; DROP TABLE x', 'Records', 'a.b.c'])(
    'rejects the table name %j naming the field',
    (tableName) => {
      const unused: Queryable = { query: () => Promise.reject(new Error('not queried')) };
      const create = () => new PostgresPersistenceLayer({ database: unused, tableName });
      expect(create).toThrow(PostgresPersistenceLayerOptionsError);
      expect(create).toThrow(/^tableName:/);
    },
  );
});
