import { Readable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import pg from 'pg';
import { type CompleteRetry, PostgresUserImportStore } from '../src/adapters/postgres-user-import-store.ts';
import { IMPORT_MERGE_LOCK } from '../src/adapters/staged-user-rules.ts';
import { mapHeader } from '../src/domain/map-header.ts';
import { DatabaseConflictError, ImportFailedError } from '../src/errors.ts';
import { importUsers } from '../src/import/import-users.ts';
import {
  databaseBackends,
  jobRow,
  rejectionOf,
  runningJob,
  usersCsv,
  type WorkerDatabase,
} from './import-fixture.ts';

// Two transactions can only deadlock or fail to serialize against each other on a server that runs
// them at the same time. PGlite serves one connection at a time (a second client waits for the first
// one's transaction to end), so these suites run on PostgreSQL only, with TEST_DATABASE_URL.
const postgres = databaseBackends().find((backend) => backend.name === 'postgres');
if (!postgres) throw new Error('import-fixture lists no postgres backend');

postgres.describe(
  'completing transaction under conflicts [postgres; PGlite runs one connection at a time, so it cannot deadlock]',
  () => {
    let database: WorkerDatabase;
    const clients: pg.Client[] = [];

    beforeAll(async () => {
      database = await postgres.start();
    }, 60_000);
    afterAll(async () => {
      await Promise.all(clients.map((client) => client.end().catch(() => {})));
      await database?.close();
    });

    /** Another writer of the database, on a connection of its own. */
    const otherWriter = async (url = database.url): Promise<{ client: pg.Client; pid: number }> => {
      const client = new pg.Client({ connectionString: url });
      clients.push(client);
      await client.connect();
      const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      return { client, pid: rows[0]?.pid as number };
    };

    /**
     * Waits until this test's import waits for a lock `pid` holds; returns its backend's pid. Its
     * import is the backend that also holds a lock on this schema's `jobs` (the completion locks the
     * job's row first): the suites share one database, another suite's migration building an index
     * CONCURRENTLY waits for every older transaction (the other writer's included), and every
     * suite's imports take the same merge lock. Taken for the import, such a wait let the other
     * writer go on before the import held anything (the deadlock test then saw no deadlock).
     */
    const blockedBy = async (pid: number): Promise<number> => {
      for (let tries = 0; tries < 600; tries++) {
        const { rows } = await database.db.query<{ pid: number }>(
          `SELECT DISTINCT pid FROM pg_locks
            WHERE relation = 'jobs'::regclass AND $1 = ANY(pg_blocking_pids(pid))`,
          [pid],
        );
        if (rows[0]) return rows[0].pid;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`no backend waited for a lock of ${pid} within 30 s`);
    };

    /** Users `<prefix>1..count` as an earlier import left them (other e-mails, so the file changes them). */
    const existingUsers = async (prefix: string, count: number) => {
      for (let n = 1; n <= count; n++) {
        await database.db.query('INSERT INTO users (external_id, email) VALUES ($1, $2)', [
          `${prefix}${n}`,
          `old-${n}@example.com`,
        ]);
      }
    };

    const importWith = (store: PostgresUserImportStore, jobId: string, csv: string) =>
      importUsers({
        jobId,
        store,
        maxRejectedRows: 0,
        segmentBytes: 200,
        // As S3 answers: the object's size tells a rerun that the staging reached the file's end.
        openSource: async () => ({
          body: Readable.from([Buffer.from(csv)]),
          offset: 0,
          contentLength: Buffer.byteLength(csv),
        }),
      });

    const expectImported = async (jobId: string, prefix: string, count: number) => {
      expect(await jobRow(database.db, jobId)).toMatchObject({
        state: 'succeeded',
        rows_imported: String(count),
        worker_error: null,
      });
      const { rows } = await database.db.query<{ n: string }>(
        `SELECT count(*) AS n FROM users WHERE external_id LIKE $1 AND email = external_id || '@example.com'`,
        [`${prefix}%`],
      );
      expect(rows[0]?.n).toBe(String(count));
    };

    const nameOf = async (externalId: string) => {
      const { rows } = await database.db.query<{ name: string }>(
        'SELECT name FROM users WHERE external_id = $1',
        [externalId],
      );
      return rows[0]?.name;
    };

    /**
     * Imports `usersCsv(5, prefix)` while another writer's open transaction holds what `hold` took:
     * waits until the import blocks on it, runs `whileBlocked`, then commits the other writer and
     * returns the import's summary.
     */
    const importWhileHeld = async (
      store: PostgresUserImportStore,
      jobId: string,
      prefix: string,
      hold: (client: pg.Client) => Promise<unknown>,
      whileBlocked?: () => Promise<void>,
    ) => {
      const { client, pid } = await otherWriter();
      await client.query('BEGIN');
      await hold(client);
      const imported = importWith(store, jobId, usersCsv(5, prefix));
      await blockedBy(pid);
      await whileBlocked?.();
      await client.query('COMMIT');
      return imported;
    };

    /**
     * Forces a deadlock on the completing transaction: the other writer locks a user of the file, the
     * completion (which locked the job first) waits for it in the merge, then the other writer asks
     * for the job's row. The completion's backend finds the cycle at its `deadlock_timeout` (3 s:
     * {@link deadlockDetectingUrl}) and is aborted with 40P01; the other writer's timeout is set far above
     * it, so it is always the completion that PostgreSQL picks.
     */
    /**
     * The store's database URL for {@link deadlockOnce}: its backends look for a deadlock 3 s into a
     * wait, not at the server's 1 s. PostgreSQL checks once, when that time passes: on a busy machine
     * the other writer could ask for the job's row only after a check at 1 s had found no cycle yet,
     * and then no deadlock was ever reported to the completion.
     */
    const deadlockDetectingUrl = () => `${database.url}${encodeURIComponent(' -c deadlock_timeout=3s')}`;

    const deadlockOnce = async (jobId: string, prefix: string) => {
      const { client, pid } = await otherWriter();
      await client.query('BEGIN');
      await client.query(`SET LOCAL deadlock_timeout = '60s'`);
      await client.query('SELECT 1 FROM users WHERE external_id = $1 FOR UPDATE', [`${prefix}3`]);
      return {
        async collide() {
          await blockedBy(pid);
          // Waits for the job's row until PostgreSQL aborts the completion that holds it.
          await client.query('SELECT 1 FROM jobs WHERE id = $1 FOR UPDATE', [jobId]);
          await client.query('COMMIT');
        },
      };
    };

    it('retries the completing transaction after PostgreSQL aborts it for a deadlock (40P01) and imports', async () => {
      const prefix = 'deadlock-';
      await existingUsers(prefix, 5);
      const jobId = await runningJob(database.db);
      const retries: CompleteRetry[] = [];
      const store = await PostgresUserImportStore.connect({
        url: deadlockDetectingUrl(),
        retryDelayMs: 10,
        onCompleteRetry: (retry) => retries.push(retry),
      });
      try {
        const other = await deadlockOnce(jobId, prefix);
        const imported = importWith(store, jobId, usersCsv(5, prefix));
        await other.collide();
        expect(await imported).toMatchObject({ rowsTotal: 5, rowsImported: 5, usersWritten: 5 });
      } finally {
        await store.close();
      }
      // At least the one deadlock this test makes; on a busy machine the retry can meet the other
      // writer again before it commits (a second 40P01, seen in CI), which is retried the same way.
      expect(retries.length).toBeGreaterThanOrEqual(1);
      expect(retries).toEqual(
        retries.map((_, index) => ({ sqlstate: '40P01', attempt: index + 1, delayMs: expect.any(Number) })),
      );
      await expectImported(jobId, prefix, 5);
    }, 60_000);

    it('retries the completing transaction after a serialization failure (40001) and imports', async () => {
      // A database whose transactions are SERIALIZABLE by default (REPEATABLE READ fails the same
      // way): the completion's merge meets a user row another transaction changed after the
      // completion's snapshot was taken, which PostgreSQL refuses with 40001.
      const serializable = `${database.url}${encodeURIComponent(' -c default_transaction_isolation=serializable')}`;
      expect(database.url).toMatch(/options=[^&]*$/);
      const prefix = 'serialize-';
      await existingUsers(prefix, 5);
      const jobId = await runningJob(database.db);
      const retries: CompleteRetry[] = [];
      const store = await PostgresUserImportStore.connect({
        url: serializable,
        retryDelayMs: 10,
        onCompleteRetry: (retry) => retries.push(retry),
      });
      try {
        const imported = await importWhileHeld(store, jobId, prefix, (client) =>
          client.query(`UPDATE users SET name = 'changed elsewhere' WHERE external_id = $1`, [`${prefix}3`]),
        );
        expect(imported).toMatchObject({ rowsTotal: 5, rowsImported: 5, usersWritten: 5 });
      } finally {
        await store.close();
      }
      expect(retries).toEqual([{ sqlstate: '40001', attempt: 1, delayMs: expect.any(Number) }]);
      await expectImported(jobId, prefix, 5);
      // The retry ran after the other writer's commit: the file's row is what stays.
      expect(await nameOf(`${prefix}3`)).toBe('User 3');
    }, 60_000);

    it('stages segments while the validator validates the earlier ones, in a SERIALIZABLE database', async () => {
      // The segment's number comes from the catalog, not from the segments the validator is writing:
      // reading those made the staging and the validation conflict (40001) under SERIALIZABLE.
      const serializable = `${database.url}${encodeURIComponent(' -c default_transaction_isolation=serializable')}`;
      const prefix = 'serial-segments-';
      const lines = usersCsv(60, prefix).trimEnd().split('\n');
      lines[10] = `${prefix}10,not-an-address,User 10,pro`;
      const jobId = await runningJob(database.db);
      const store = await PostgresUserImportStore.connect({ url: serializable });
      try {
        const summary = await importUsers({
          jobId,
          store,
          maxRejectedRows: 5,
          segmentBytes: 200,
          // Line by line: a segment is committed every few lines while the validator works.
          openSource: async () => Readable.from(lines.map((line) => Buffer.from(`${line}\n`))),
        });
        expect(summary).toMatchObject({ rowsTotal: 60, rowsImported: 59, rowsRejected: 1 });
      } finally {
        await store.close();
      }
      // Completed once, by this import.
      const { rows } = await database.db.query<{ finishes: string }>(
        `SELECT count(*) AS finishes FROM job_transitions WHERE job_id = $1 AND event = 'finish'`,
        [jobId],
      );
      expect(rows[0]?.finishes).toBe('1');
    });

    it('merges again as an upsert when another writer inserts a user of the file meanwhile (where MERGE fails with 23505)', async () => {
      const prefix = 'inserted-';
      const jobId = await runningJob(database.db);
      let fallbacks = 0;
      const store = await PostgresUserImportStore.connect({
        url: database.url,
        onMergeFallback: () => fallbacks++,
      });
      try {
        // The MERGE finds no user 3 in its snapshot and waits on the other writer's uncommitted one.
        const imported = await importWhileHeld(store, jobId, prefix, (client) =>
          client.query('INSERT INTO users (external_id, email, name) VALUES ($1, $2, $3)', [
            `${prefix}3`,
            'elsewhere@example.com',
            'Inserted elsewhere',
          ]),
        );
        expect(imported).toMatchObject({ rowsTotal: 5, rowsImported: 5, usersWritten: 5 });
      } finally {
        await store.close();
      }
      expect(fallbacks).toBe(1);
      // The file's row won over the one inserted meanwhile.
      await expectImported(jobId, prefix, 5);
      expect(await nameOf(`${prefix}3`)).toBe('User 3');
    }, 60_000);

    it('merges one import at a time: a completion waits for the merge lock another holds', async () => {
      const prefix = 'merge-lock-';
      const jobId = await runningJob(database.db);
      const store = await PostgresUserImportStore.connect({ url: database.url });
      try {
        const imported = await importWhileHeld(
          store,
          jobId,
          prefix,
          (client) => client.query('SELECT pg_advisory_xact_lock($1)', [IMPORT_MERGE_LOCK]),
          async () => {
            const { rows: before } = await database.db.query<{ n: string }>(
              'SELECT count(*) AS n FROM users WHERE external_id LIKE $1',
              [`${prefix}%`],
            );
            expect(before[0]?.n).toBe('0');
          },
        );
        expect(imported).toMatchObject({ rowsImported: 5, usersWritten: 5 });
      } finally {
        await store.close();
      }
      await expectImported(jobId, prefix, 5);
    }, 60_000);

    it('gives up with DatabaseConflictError when every attempt is aborted, keeping the staging a rerun completes without reading the file again', async () => {
      const prefix = 'exhausted-';
      await existingUsers(prefix, 5);
      const jobId = await runningJob(database.db);
      const csv = usersCsv(5, prefix);
      const retries: CompleteRetry[] = [];
      const store = await PostgresUserImportStore.connect({
        url: deadlockDetectingUrl(),
        maxCompleteAttempts: 1,
        onCompleteRetry: (retry) => retries.push(retry),
      });
      let failure: ImportFailedError;
      try {
        const other = await deadlockOnce(jobId, prefix);
        const imported = importWith(store, jobId, csv);
        await other.collide();
        failure = await rejectionOf(imported, ImportFailedError);
      } finally {
        await store.close();
      }
      expect(retries).toEqual([]);
      expect(failure.cause).toBeInstanceOf(DatabaseConflictError);
      expect(failure.cause).toMatchObject({ sqlstate: '40P01', attempts: 1, permanent: false });
      // Nothing imported, the reason on the job, the staging kept at the file's end.
      const job = await jobRow(database.db, jobId);
      expect(job.state).toBe('running');
      expect(job.worker_error).toMatch(
        /^PostgreSQL aborted the completing transaction on 1 attempt in a row \(40P01: deadlock detected/,
      );
      const { rows: stagings } = await database.db.query<{ byte_offset: string; records: string }>(
        'SELECT byte_offset, records FROM import_stagings WHERE job_id = $1',
        [jobId],
      );
      expect(stagings).toEqual([{ byte_offset: String(Buffer.byteLength(csv)), records: '5' }]);
      const { rows: untouched } = await database.db.query<{ n: string }>(
        `SELECT count(*) AS n FROM users WHERE external_id LIKE $1 AND email LIKE 'old-%'`,
        [`${prefix}%`],
      );
      expect(untouched[0]?.n).toBe('5');

      // The rerun (the workflow runs the task again) completes the staging; the file is not opened.
      const rerunStore = await PostgresUserImportStore.connect({ url: database.url });
      try {
        const summary = await importUsers({
          jobId,
          store: rerunStore,
          maxRejectedRows: 0,
          openSource: async () => {
            throw new Error('the rerun must complete the staging, not read the file again');
          },
        });
        expect(summary).toMatchObject({ rowsImported: 5, bytesRead: 0, resumedAt: Buffer.byteLength(csv) });
      } finally {
        await rerunStore.close();
      }
      await expectImported(jobId, prefix, 5);
    }, 60_000);

    // The job's failure (the workflow's MarkFailed, the sweeper, `sidestep job fail`) drops its
    // staging while its task may still be committing a segment (Step Functions stops the task at the
    // same moment). The segment's commit must not outlive the drop: a segment row left behind would
    // break the job's next run under the same id (`sidestep job retry`) with 23505 or 42P01.
    it('drops a segment committed while drop_import_staging waits for its task: the job runs again under the same id', async () => {
      const jobId = await runningJob(database.db);
      const prefix = `dropped-${Date.now()}-`;
      const store = await PostgresUserImportStore.connect({ url: database.url });
      try {
        const header = mapHeader(['external_id', 'email']);
        const staging = await store.createStaging(
          jobId,
          ['external_id', 'email'],
          header,
          { offset: 18, lines: 1 },
          { etag: 'e', versionId: undefined, bytes: 1000 },
        );
        if (!staging) throw new Error('no staging was created');
        const first = await store.stage(staging, { offset: 18, lines: 1 });
        await first?.write(Buffer.from(`2,,${prefix}a,a@example.com\n`), 2);
        await first?.commit({ offset: 37, lines: 2 }, 1);
        // The task streams its next segment, holding the staging's row, when the drop comes.
        const second = await store.stage(staging, { offset: 37, lines: 2 });
        await second?.write(Buffer.from(`3,,${prefix}b,b@example.com\n`), 3);
        const dropper = await otherWriter();
        const dropping = dropper.client.query('SELECT drop_import_staging($1)', [jobId]);
        for (let tries = 0; ; tries++) {
          const { rows } = await database.db.query<{ waits: boolean }>(
            'SELECT cardinality(pg_blocking_pids($1)) > 0 AS waits',
            [dropper.pid],
          );
          if (rows[0]?.waits) break;
          if (tries > 600) throw new Error('the drop never waited for the task');
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        await second?.commit({ offset: 56, lines: 3 }, 1);
        await dropping;
      } finally {
        await store.close();
      }
      const left = await database.db.query(
        `SELECT 'segment' AS kind FROM import_staging_segments WHERE job_id = $1
         UNION ALL SELECT 'staging' FROM import_stagings WHERE job_id = $1`,
        [jobId],
      );
      expect(left.rows).toEqual([]);

      const rerun = await PostgresUserImportStore.connect({ url: database.url });
      try {
        await importWith(rerun, jobId, usersCsv(20, prefix));
      } finally {
        await rerun.close();
      }
      await expectImported(jobId, prefix, 20);
    }, 60_000);
  },
);
