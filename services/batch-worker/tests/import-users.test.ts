import { type AddressInfo, createConnection, createServer, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { stagingTableName } from '@sidestep/db/postgres';
import pg from 'pg';
import {
  PostgresUserImportStore,
  VALIDATOR_APPLICATION_NAME,
} from '../src/adapters/postgres-user-import-store.ts';
import { openSourceObject } from '../src/adapters/s3-source.ts';
import { CsvRecordScanner } from '../src/domain/csv-record-scanner.ts';
import { mapHeader } from '../src/domain/map-header.ts';
import {
  ImportFailedError,
  ImportInterruptedError,
  InvalidHeaderError,
  JobFailedPermanentlyError,
  JobNotRunnableError,
  MalformedCsvError,
  RowTooBigError,
  SourceChangedError,
  SourceUnavailableError,
  TooManyRejectedRowsError,
} from '../src/errors.ts';
import {
  DEFAULT_SEGMENT_BYTES,
  defaultSegmentBytes,
  type ImportSummary,
  type ImportUsersOptions,
  importUsers,
  MAX_DEFAULT_SEGMENTS,
  type SourceRange,
} from '../src/import/import-users.ts';
import {
  databaseBackends,
  jobRow,
  rejectionOf,
  runningJob,
  startS3,
  type TestS3,
  usersCsv,
  type WorkerDatabase,
} from './import-fixture.ts';

interface UserRecord {
  external_id: string;
  email: string;
  name: string | null;
  attributes: Record<string, string>;
}

let s3: TestS3;
beforeAll(async () => {
  s3 = await startS3();
});
afterAll(() => s3.stop());

/** A source that yields `bytes` up to `at`, then breaks off for good (a connection reset). */
function breaksOffAfter(bytes: Buffer, at: number): Readable {
  return Readable.from(
    (async function* () {
      yield bytes.subarray(0, at);
      throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    })(),
  );
}

/**
 * A source that yields the file's first `lines` lines, then holds the rest back until `release()`
 * (a slow S3 read): the import's committed segments sit there meanwhile.
 */
function pausedAfter(csvLines: readonly string[], lines: number) {
  let release: () => void = () => {};
  const paused = new Promise<void>((resolve) => {
    release = resolve;
  });
  const openSource = async () =>
    Readable.from(
      (async function* () {
        yield Buffer.from(`${csvLines.slice(0, lines).join('\n')}\n`);
        await paused;
        yield Buffer.from(csvLines.slice(lines).join('\n'));
      })(),
    );
  return { openSource, release: () => release() };
}

/**
 * A TCP proxy to the database at `url` that passes its first connection at once and holds each later
 * one, its bytes unread, until `release()`: a store connected through it opens its validator's
 * connection (its second) only then, so its first validation starts late.
 */
async function holdingLaterConnections(url: string) {
  const target = new URL(url);
  const sockets = new Set<Socket>();
  let held: (() => void)[] | undefined = [];
  const server = createServer((client) => {
    sockets.add(client);
    const pass = () => {
      const upstream = createConnection({ host: target.hostname, port: Number(target.port || 5432) });
      sockets.add(upstream);
      for (const socket of [client, upstream]) {
        socket.on('error', () => {});
        socket.on('close', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    };
    if (sockets.size === 1 || held === undefined) pass();
    else held.push(pass);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxied = new URL(url);
  proxied.hostname = '127.0.0.1';
  proxied.port = String((server.address() as AddressInfo).port);
  return {
    url: proxied.toString(),
    release: () => {
      const waiting = held ?? [];
      held = undefined;
      for (const pass of waiting) pass();
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

it('stages in 8 MiB segments, larger ones for objects over 2 GiB: at most 256 segment tables', () => {
  expect(defaultSegmentBytes(undefined)).toBe(8 * 1024 * 1024);
  expect(defaultSegmentBytes(553 * 1024 * 1024)).toBe(DEFAULT_SEGMENT_BYTES); // 10M rows: 70 segments
  expect(defaultSegmentBytes(2 * 1024 ** 3)).toBe(DEFAULT_SEGMENT_BYTES);
  for (const bytes of [2 * 1024 ** 3 + 1, 5.5 * 1024 ** 3, 100 * 1024 ** 3]) {
    expect(defaultSegmentBytes(bytes)).toBeGreaterThan(DEFAULT_SEGMENT_BYTES);
    expect(Math.ceil(bytes / defaultSegmentBytes(bytes))).toBe(MAX_DEFAULT_SEGMENTS);
  }
});

/**
 * A file of 900 columns (`external_id`, `email`, 898 attributes): its header, and its row `n` with
 * every attribute `value`. 898 values of 8 characters make a row too big for PostgreSQL to stage.
 */
function wideCsv(prefix: string) {
  const header = ['external_id', 'email', ...Array.from({ length: 898 }, (_, i) => `a${i}`)].join(',');
  const row = (n: number, value: string) =>
    [`${prefix}${n}`, `u${n}@example.com`, ...Array.from({ length: 898 }, () => value)].join(',');
  return { header, row };
}

for (const backend of databaseBackends()) {
  backend.describe(`importUsers [${backend.name}]`, () => {
    let database: WorkerDatabase;
    let store: PostgresUserImportStore;

    beforeAll(async () => {
      database = await backend.start();
      store = await PostgresUserImportStore.connect({ url: database.url });
    }, 60_000);
    afterAll(async () => {
      await store?.close();
      await database?.close();
    });

    const run = (jobId: string, csv: string | Buffer, options: Partial<ImportUsersOptions> = {}) =>
      importUsers({
        jobId,
        store,
        maxRejectedRows: 1000,
        // Tiny segments: every multi-row test commits several and resumes across them.
        segmentBytes: 200,
        openSource: async () => Readable.from([Buffer.from(csv)]),
        ...options,
      });

    const users = async (prefix: string): Promise<UserRecord[]> =>
      (
        await database.db.query<UserRecord>(
          `SELECT external_id, email, name, attributes FROM users WHERE external_id LIKE $1 ORDER BY external_id`,
          [`${prefix}%`],
        )
      ).rows;

    /** The import's failure, asserting it is one. */
    const failure = (promise: Promise<unknown>) => rejectionOf(promise, ImportFailedError);

    /** What is left of a job's staging: its tables (staging, segments, rejects) and registry rows. */
    const stagingLeft = async (jobId: string) => {
      const { rows: tables } = await database.db.query<{ tablename: string }>(
        `SELECT tablename FROM pg_tables WHERE tablename LIKE $1 ORDER BY tablename`,
        [`${stagingTableName(jobId)}%`],
      );
      const { rows: registered } = await database.db.query(
        `SELECT 1 FROM import_stagings WHERE job_id = $1 UNION ALL SELECT 1 FROM import_staging_segments WHERE job_id = $1`,
        [jobId],
      );
      return { tables: tables.map((row) => row.tablename), registered: registered.length };
    };

    /** The job's committed segments: records, and rejected (null until validated). */
    const segments = async (jobId: string) =>
      (
        await database.db.query<{ segment: number; records: string; rejected: string | null }>(
          'SELECT segment, records, rejected FROM import_staging_segments WHERE job_id = $1 ORDER BY segment',
          [jobId],
        )
      ).rows;

    /** Waits (polling, at most 15 s) until the job has committed segments and `validated` says so of each. */
    const segmentsCommitted = async (
      jobId: string,
      validated: (rejected: string | null) => boolean = () => true,
    ) => {
      for (let waited = 0; ; waited += 20) {
        const staged = await segments(jobId);
        if (staged.length > 0 && staged.every((segment) => validated(segment.rejected))) return staged;
        if (waited > 15_000)
          throw new Error(`segments not committed or validated in 15 s: ${JSON.stringify(staged)}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    /** Waits (polling, at most 15 s) until the job has committed segments and all are validated. */
    const segmentsValidated = (jobId: string) => segmentsCommitted(jobId, (rejected) => rejected !== null);

    it('imports every row, merges into users and completes the job with its counts in the same transaction', async () => {
      const jobId = await runningJob(database.db);
      const summary = await run(jobId, usersCsv(25, 'happy-'));
      expect(summary).toMatchObject({ rowsTotal: 25, rowsImported: 25, rowsRejected: 0, usersWritten: 25 });
      const stored = await users('happy-');
      expect(stored).toHaveLength(25);
      expect(stored.find((u) => u.external_id === 'happy-7')).toEqual({
        external_id: 'happy-7',
        email: 'happy-7@example.com',
        name: 'User 7',
        attributes: { plan: 'pro' },
      });
      expect(await jobRow(database.db, jobId)).toEqual({
        state: 'succeeded',
        rows_total: '25',
        rows_imported: '25',
        rows_rejected: '0',
        users_written: '25',
        row_errors: [],
        worker_error: null,
      });
      // Through the ledger's state machine: the same audit row the status-updater's finish leaves.
      const { rows: transitions } = await database.db.query<{
        from_state: string;
        to_state: string;
        by: string;
      }>(
        `SELECT from_state, to_state, data->>'by' AS by FROM job_transitions WHERE job_id = $1 AND event = 'finish'`,
        [jobId],
      );
      expect(transitions).toEqual([{ from_state: 'running', to_state: 'succeeded', by: 'batch-worker' }]);
      // Nothing of the staging outlives the job: its registry rows, its table, its segments' tables
      // (25 rows in segments of 200 bytes) and its rejects table.
      expect(await stagingLeft(jobId)).toEqual({ tables: [], registered: 0 });
    });

    it('tolerates a UTF-8 BOM and CRLF line ends', async () => {
      const csv = Buffer.concat([
        Buffer.from([0xef, 0xbb, 0xbf]),
        Buffer.from('external_id,email,name\r\nbom-1,bom-1@example.com,Zoë 日本\r\n'),
      ]);
      const jobId = await runningJob(database.db);
      await run(jobId, csv);
      expect(await users('bom-')).toEqual([
        { external_id: 'bom-1', email: 'bom-1@example.com', name: 'Zoë 日本', attributes: {} },
      ]);
    });

    it('reads RFC 4180 quoting: commas, doubled quotes, line breaks, tabs and backslashes in fields', async () => {
      const csv = [
        'external_id,email,name,note',
        '"q-1","q-1@example.com","Doe, Jane","said ""hi"""',
        'q-2,q-2@example.com,"Line one',
        'line two","tab\there \\N back\\slash"',
        'q-3,q-3@example.com,,""',
        '',
      ].join('\r\n');
      const jobId = await runningJob(database.db);
      const summary = await run(jobId, csv);
      expect(summary.rowsImported).toBe(3);
      expect(await users('q-')).toEqual([
        {
          external_id: 'q-1',
          email: 'q-1@example.com',
          name: 'Doe, Jane',
          attributes: { note: 'said "hi"' },
        },
        {
          external_id: 'q-2',
          email: 'q-2@example.com',
          name: 'Line one\r\nline two',
          attributes: { note: 'tab\there \\N back\\slash' },
        },
        { external_id: 'q-3', email: 'q-3@example.com', name: null, attributes: { note: '' } },
      ]);
    });

    it('trims ids, emails and names as JavaScript does, quoted or not, and keeps attributes and inner spaces as written', async () => {
      const csv = [
        'name,external_id,email,note',
        ' Jane Doe ,\u00a0trim-1\t,trim-1@example.com\u3000, kept ',
        '"\u2003Joe\n",trim-2,"  trim-2@example.com",',
        'Zoë,trim-3,trim-3@example.com\ufeff,x',
        // The last row of trim-4 wins once trimmed: its id is the same as the first's.
        'First,trim-4,trim-4@example.com,',
        '\u3000,"trim-4 ",trim-4b@example.com,',
        '',
      ].join('\r\n');
      const jobId = await runningJob(database.db);
      const summary = await run(jobId, csv);
      expect(summary).toMatchObject({ rowsImported: 5, rowsRejected: 0 });
      expect(await users('trim-')).toEqual([
        {
          external_id: 'trim-1',
          email: 'trim-1@example.com',
          name: 'Jane Doe',
          attributes: { note: ' kept ' },
        },
        { external_id: 'trim-2', email: 'trim-2@example.com', name: 'Joe', attributes: { note: '' } },
        { external_id: 'trim-3', email: 'trim-3@example.com', name: 'Zoë', attributes: { note: 'x' } },
        { external_id: 'trim-4', email: 'trim-4b@example.com', name: null, attributes: { note: '' } },
      ]);
    });

    it('puts every column other than external_id, email and name into attributes, header names as written', async () => {
      const csv = 'Plan,EMAIL,External_ID,__proto__,Country\nfree,attr-1@example.com,attr-1,x,JP\n';
      const jobId = await runningJob(database.db);
      await run(jobId, csv);
      const [user] = await users('attr-');
      // JSON.parse makes `__proto__` an own key, as in the stored attributes (a literal would set the prototype).
      expect(user?.attributes).toEqual(JSON.parse('{"Plan":"free","__proto__":"x","Country":"JP"}'));
      expect(user?.name).toBeNull();
    });

    it('fails on a bad header with the reason on the job, and imports nothing', async () => {
      const jobId = await runningJob(database.db);
      const error = await failure(run(jobId, 'external_id,mail\nhdr-1,hdr-1@example.com\n'));
      expect(error.cause).toBeInstanceOf(InvalidHeaderError);
      expect(error.reason).toBe('header: missing required column "email" (found: "external_id", "mail")');
      expect(await users('hdr-')).toEqual([]);
      expect(await jobRow(database.db, jobId)).toMatchObject({
        worker_error: error.reason,
        rows_total: null,
        rows_imported: null,
      });
    });

    it('fails a UTF-16 file (PowerShell 5.1 Out-File, Excel "Unicode Text") with a header error recorded on the job', async () => {
      const jobId = await runningJob(database.db);
      const csv = Buffer.concat([
        Buffer.from([0xff, 0xfe]),
        Buffer.from('external_id,email\r\nu16-1,u16-1@example.com\r\n', 'utf16le'),
      ]);
      const error = await failure(run(jobId, csv));
      expect(error.cause).toBeInstanceOf(InvalidHeaderError);
      expect(error.recordError).toBeUndefined();
      expect(await jobRow(database.db, jobId)).toMatchObject({
        worker_error: 'header: the file is UTF-16 text: save it as CSV UTF-8',
      });
    });

    it('fails a header name with a NUL character with a header error recorded on the job, the NUL escaped', async () => {
      const jobId = await runningJob(database.db);
      const error = await failure(run(jobId, 'external_id,email,pl\u0000an\nnul-1,nul-1@example.com,pro\n'));
      expect(error.cause).toBeInstanceOf(InvalidHeaderError);
      expect(await jobRow(database.db, jobId)).toMatchObject({
        worker_error: 'header: the name of column 3 ("pl\\u0000an") contains a NUL character',
      });
    });

    it('records a reason with a NUL character (PostgreSQL text cannot hold one), the NUL escaped', async () => {
      const jobId = await runningJob(database.db);
      const error = await failure(
        run(jobId, usersCsv(1, 'nul-reason-'), {
          openSource: async () => {
            throw new Error('the source said \u0000');
          },
        }),
      );
      expect(error.recordError).toBeUndefined();
      expect(error.reason).toBe('Error: the source said \\u0000');
      expect((await jobRow(database.db, jobId)).worker_error).toBe(error.reason);
    });

    it("clears an earlier task's failure from the job as a rerun starts, so a rerun that dies unrecorded is not failed with it", async () => {
      const jobId = await runningJob(database.db);
      // What a task interrupted by SIGTERM records before it exits 143 and the workflow reruns it.
      await database.db.query(
        `UPDATE jobs SET worker_error = 'interrupted by SIGTERM; nothing was imported; the staged records are kept for the retry',
           rows_rejected = 2, row_errors = '[{"line": 3, "field": "email", "message": "not a valid email address"}]'
         WHERE id = $1`,
        [jobId],
      );
      // The rerun, seen as it reads the file: were it killed now (memory, timeout), the job's failure
      // step would find no reason of the worker's and take the one it caught.
      let whileRunning: unknown;
      const csv = usersCsv(3, 'rerun-');
      await run(jobId, csv, {
        openSource: async () => {
          whileRunning = await jobRow(database.db, jobId);
          return Readable.from([Buffer.from(csv)]);
        },
      });
      expect(whileRunning).toMatchObject({
        state: 'running',
        worker_error: null,
        rows_rejected: null,
        row_errors: null,
      });
    });

    it("keeps the reason of a job no longer running: a late task's refusal does not replace it", async () => {
      const jobId = await runningJob(database.db);
      await database.db.query(
        `UPDATE jobs SET state = 'failed', worker_error = 'header: missing required column "email"' WHERE id = $1`,
        [jobId],
      );
      const error = await failure(run(jobId, usersCsv(1, 'late-')));
      expect(error.cause).toBeInstanceOf(JobNotRunnableError);
      expect((await jobRow(database.db, jobId)).worker_error).toBe('header: missing required column "email"');
    });

    /** Runs `play` with a second task's store of the database (a duplicate RunTask's), then closes it. */
    const withOtherTask = async (play: (other: PostgresUserImportStore) => Promise<void>) => {
      const other = await PostgresUserImportStore.connect({ url: database.url });
      try {
        await play(other);
      } finally {
        await other.close();
      }
    };

    /** A file one row over MAX_REJECTED_ROWS (1): a permanent failure of the data. */
    const overThreshold = 'external_id,email\nperm-1,perm-1@example.com\nperm-2,x\nperm-3,y\n';

    it('honours a permanent failure another task of the job recorded: a duplicate task refuses, reads nothing and keeps its reason and rows', async () => {
      const jobId = await runningJob(database.db);
      await withOtherTask(async (other) => {
        const first = await failure(run(jobId, overThreshold, { store: other, maxRejectedRows: 1 }));
        expect(first.permanent).toBe(true);
      });
      const recorded = await jobRow(database.db, jobId);
      expect(recorded).toMatchObject({ state: 'running', rows_rejected: '2' });

      // The duplicate, its read of the object cut off (transient): were it to start, its own reason
      // would replace the failure's and the workflow would run the task again.
      let opened = false;
      const duplicate = await failure(
        run(jobId, '', {
          maxRejectedRows: 1,
          openSource: async () => {
            opened = true;
            return breaksOffAfter(Buffer.from(overThreshold), 20);
          },
        }),
      );
      expect(opened).toBe(false);
      expect(duplicate.permanent).toBe(true);
      expect(duplicate.cause).toBeInstanceOf(JobFailedPermanentlyError);
      expect(duplicate.cause).toMatchObject({ jobId, reason: recorded.worker_error });
      expect(await jobRow(database.db, jobId)).toEqual(recorded);
    });

    it('does not complete a job whose permanent failure another task recorded while this one staged the file', async () => {
      const jobId = await runningJob(database.db);
      const csv = usersCsv(3, 'perm-late-');
      // This task has checked the job and reads the file when the other task fails the data.
      const error = await failure(
        run(jobId, '', {
          maxRejectedRows: 1,
          openSource: async () => {
            await withOtherTask(async (other) => {
              await failure(run(jobId, overThreshold, { store: other, maxRejectedRows: 1 }));
            });
            return Readable.from([Buffer.from(csv)]);
          },
        }),
      );
      expect(error.cause).toBeInstanceOf(JobFailedPermanentlyError);
      expect(await jobRow(database.db, jobId)).toMatchObject({
        state: 'running',
        rows_imported: null,
        rows_rejected: '2',
        worker_error: expect.stringContaining('more than MAX_REJECTED_ROWS (1)'),
      });
      expect(await users('perm-late-')).toEqual([]);
      expect(await stagingLeft(jobId)).toEqual({ tables: [], registered: 0 });
    });

    it('rejects a row whose bytes are not UTF-8 (a name saved as Windows-1252), naming its line and field, and imports the rest', async () => {
      const jobId = await runningJob(database.db);
      const csv = Buffer.concat([
        Buffer.from('external_id,email,name\nenc-1,enc-1@example.com,Zoë\nenc-2,enc-2@example.com,Caf'),
        Buffer.from([0xe9]), // "é" in Windows-1252
        Buffer.from('\nenc-3,enc-3@example.com,日本\n'),
      ]);
      const summary = await run(jobId, csv);
      expect(summary).toMatchObject({ rowsTotal: 3, rowsImported: 2, rowsRejected: 1 });
      expect((await users('enc-')).map((user) => user.name)).toEqual(['Zoë', '日本']);
      expect((await jobRow(database.db, jobId)).row_errors).toEqual([
        { line: 3, field: 'name', message: 'is not UTF-8 text: save the file as CSV UTF-8' },
      ]);
    });

    it('fails a header name whose bytes are not UTF-8 (saved as Windows-1252) with a header error, instead of an attribute key with U+FFFD', async () => {
      const jobId = await runningJob(database.db);
      // Latin-1 writes "é" as 0xE9, as Windows-1252 does.
      const csv = Buffer.from(
        'external_id,email,Région\nenc-h-1,enc-h-1@example.com,Paris\nenc-h-2,enc-h-2@example.com,Lyon\n',
        'latin1',
      );
      const error = await failure(run(jobId, csv));
      expect(error.cause).toBeInstanceOf(InvalidHeaderError);
      expect(await users('enc-h-')).toEqual([]);
      expect((await jobRow(database.db, jobId)).worker_error).toBe(
        'header: the name of column 3 is not UTF-8 text: save the file as CSV UTF-8',
      );
    });

    it('imports a file of 1598 columns, and fails one of 1599 with a header error naming the limit', async () => {
      // One-character values: a staged row of 1598 longer ones can outgrow a page (see the README).
      const wide = (columns: number, prefix: string) => {
        const attributes = Array.from({ length: columns - 2 }, (_, index) => `a${index}`);
        return `external_id,email,${attributes.join(',')}\n${prefix}1,${prefix}1@example.com${',v'.repeat(columns - 2)}\n`;
      };
      const widest = await run(await runningJob(database.db), wide(1598, 'wide-'), { segmentBytes: 1 << 20 });
      expect(widest).toMatchObject({ rowsImported: 1, rowsRejected: 0 });
      expect(Object.keys((await users('wide-'))[0]?.attributes ?? {})).toHaveLength(1596);
      const jobId = await runningJob(database.db);
      const error = await failure(run(jobId, wide(1599, 'wider-')));
      expect(error.cause).toBeInstanceOf(InvalidHeaderError);
      expect((await jobRow(database.db, jobId)).worker_error).toBe(
        'header: the file has 1599 columns; an import takes at most 1598',
      );
    });

    it('imports nothing, successfully, from a file with only a header', async () => {
      const jobId = await runningJob(database.db);
      const summary = await run(jobId, 'external_id,email\r\n');
      expect(summary).toMatchObject({ rowsTotal: 0, rowsImported: 0, rowsRejected: 0, usersWritten: 0 });
      expect(await jobRow(database.db, jobId)).toMatchObject({ rows_total: '0', worker_error: null });
    });

    it('fails on an empty file', async () => {
      const jobId = await runningJob(database.db);
      const error = await failure(run(jobId, ''));
      expect(error.cause).toBeInstanceOf(InvalidHeaderError);
      expect((await jobRow(database.db, jobId)).worker_error).toBe(
        'header: the file is empty: no header row',
      );
    });

    it('rejects invalid rows with their line numbers and imports the rest', async () => {
      const csv = [
        'external_id,email,name',
        'rej-1,rej-1@example.com,One',
        ',rej-2@example.com,No id',
        'rej-3,not-an-address,Bad mail',
        'rej-4,rej-4@example.com',
        '"rej-5","rej-5@example.com","multi',
        'line"',
        'rej-6,rej-6@example.com,Nul\u0000Name',
        'rej-7,rej-7@example.com,Seven',
        '',
      ].join('\n');
      const jobId = await runningJob(database.db);
      const summary = await run(jobId, csv);
      expect(summary).toMatchObject({ rowsTotal: 7, rowsImported: 3, rowsRejected: 4 });
      const expectedErrors = [
        { line: 3, field: 'external_id', message: 'is empty' },
        { line: 4, field: 'email', message: 'is not a valid email address' },
        { line: 5, field: 'row', message: 'has 2 fields, the header has 3' },
        { line: 8, field: 'name', message: 'contains a NUL character' },
      ];
      expect(summary.rowErrors).toEqual(expectedErrors);
      expect((await users('rej-')).map((u) => u.external_id)).toEqual(['rej-1', 'rej-5', 'rej-7']);
      expect(await jobRow(database.db, jobId)).toMatchObject({
        rows_total: '7',
        rows_imported: '3',
        rows_rejected: '4',
        row_errors: expectedErrors,
        worker_error: null,
      });
    });

    it('keeps the first row errors on the job and every rejected row in import_rejected_rows, once', async () => {
      let csv = 'external_id,email\n';
      for (let n = 1; n <= 30; n++)
        csv += n % 3 === 0 ? `keep-${n},keep-${n}@example.com\n` : `keep-${n},broken\n`;
      csv += ',no-id@example.com\n';
      const jobId = await runningJob(database.db);
      const summary = await run(jobId, csv, { maxRowErrors: 5 });
      expect(summary.rowsRejected).toBe(21);
      expect(summary.rowErrors.map((e) => e.line)).toEqual([2, 3, 5, 6, 8]);
      expect((await jobRow(database.db, jobId)).row_errors).toHaveLength(5);
      const everyRejected = async () =>
        (
          await database.db.query<{ line: string; field: string; message: string }>(
            'SELECT line, field, message FROM import_rejected_rows WHERE job_id = $1 ORDER BY line',
            [jobId],
          )
        ).rows;
      const expected = [
        ...Array.from({ length: 30 }, (_, i) => i + 1)
          .filter((n) => n % 3 !== 0)
          .map((n) => ({ line: String(n + 1), field: 'email', message: 'is not a valid email address' })),
        { line: '32', field: 'external_id', message: 'is empty' },
      ];
      expect(await everyRejected()).toEqual(expected);
      // Delivered twice: the second task finds the job completed and writes nothing again.
      expect(await run(jobId, csv, { maxRowErrors: 5 })).toMatchObject({ rowsRejected: 21, usersWritten: 0 });
      expect(await everyRejected()).toEqual(expected);
    });

    it('records no rejected rows for an import that failed over MAX_REJECTED_ROWS (it imported nothing)', async () => {
      const jobId = await runningJob(database.db);
      await failure(run(jobId, 'external_id,email\nnone-1,x\nnone-2,y\n', { maxRejectedRows: 1 }));
      const { rows } = await database.db.query('SELECT line FROM import_rejected_rows WHERE job_id = $1', [
        jobId,
      ]);
      expect(rows).toEqual([]);
      expect((await jobRow(database.db, jobId)).row_errors?.map((e) => e.line)).toEqual([2, 3]);
    });

    it('fails over MAX_REJECTED_ROWS, rolls back the valid rows and records the errors', async () => {
      const csv =
        'external_id,email\nthr-1,thr-1@example.com\nthr-2,x\nthr-3,y\nthr-4,z\nthr-5,thr-5@example.com\n';
      const jobId = await runningJob(database.db);
      const error = await failure(run(jobId, csv, { maxRejectedRows: 2 }));
      expect(error.cause).toBeInstanceOf(TooManyRejectedRowsError);
      expect(error.reason).toBe(
        '3 rows rejected by line 5, more than MAX_REJECTED_ROWS (2); nothing was imported (3 rejected in all; first: ' +
          'line 3: email is not a valid email address; line 4: email is not a valid email address; ' +
          'line 5: email is not a valid email address; see row_errors)',
      );
      expect(await users('thr-')).toEqual([]);
      const job = await jobRow(database.db, jobId);
      expect(job).toMatchObject({ worker_error: error.reason, rows_rejected: '3', rows_imported: null });
      expect(job.row_errors?.map((e) => e.line)).toEqual([3, 4, 5]);
      // A permanent failure drops the staging with its segments and rejects.
      expect(await stagingLeft(jobId)).toEqual({ tables: [], registered: 0 });
    });

    it('stops reading a file that is over MAX_REJECTED_ROWS already, without staging the rest', async () => {
      const prefix = `early-${backend.name}-`;
      const jobId = await runningJob(database.db);
      let pulled = 0;
      async function* chunks() {
        let csv = 'external_id,email\n';
        for (let n = 1; n <= 10; n++) csv += `${prefix}${n},broken\n`; // lines 2-11: rejected
        pulled++;
        yield Buffer.from(csv);
        // The first segment's rows are validated while the file streams on.
        await segmentsValidated(jobId);
        for (let chunk = 0; chunk < 50; chunk++) {
          pulled++;
          let rows = '';
          for (let n = 1; n <= 10; n++) rows += `${prefix}${chunk}-${n},${prefix}${chunk}-${n}@example.com\n`;
          yield Buffer.from(rows);
        }
      }
      const error = await failure(
        run(jobId, '', { maxRejectedRows: 3, openSource: async () => Readable.from(chunks()) }),
      );
      expect(error.cause).toBeInstanceOf(TooManyRejectedRowsError);
      const cause = error.cause as TooManyRejectedRowsError;
      expect(cause.stoppedAfterLine).toBeLessThan(100);
      expect(error.reason).toBe(
        `4 rows rejected by line 5, more than MAX_REJECTED_ROWS (3); nothing was imported (the rest of the file was not read: 10 rejected by line ${cause.stoppedAfterLine}; first: ` +
          `${[2, 3, 4, 5, 6].map((line) => `line ${line}: email is not a valid email address`).join('; ')}; see row_errors)`,
      );
      expect(pulled).toBeLessThan(10);
      expect(await users(prefix)).toEqual([]);
      expect(await jobRow(database.db, jobId)).toMatchObject({
        rows_rejected: '10',
        worker_error: error.reason,
      });
      expect(await stagingLeft(jobId)).toEqual({ tables: [], registered: 0 });
    });

    // README, Contract: "a completed import keeps each one in `import_rejected_rows`"; one rejected
    // row is left out of users and kept as surely as many.
    it('accepts exactly MAX_REJECTED_ROWS rejected rows: one rejected row is left out of users and kept in import_rejected_rows', async () => {
      const jobId = await runningJob(database.db);
      const summary = await run(jobId, 'external_id,email\nedge-1,x\nedge-2,edge-2@example.com\n', {
        maxRejectedRows: 1,
      });
      expect(summary).toMatchObject({ rowsImported: 1, rowsRejected: 1 });
      expect((await users('edge-')).map((user) => user.external_id)).toEqual(['edge-2']);
      const { rows } = await database.db.query(
        'SELECT line, field, message FROM import_rejected_rows WHERE job_id = $1',
        [jobId],
      );
      expect(rows).toEqual([{ line: '2', field: 'email', message: 'is not a valid email address' }]);
    });

    it('fails on malformed CSV (an unclosed quote) naming the line', async () => {
      const jobId = await runningJob(database.db);
      const error = await failure(run(jobId, 'external_id,email\nmal-1,mal-1@example.com\n"mal-2,x\n'));
      expect(error.cause).toBeInstanceOf(MalformedCsvError);
      expect(error.reason).toMatch(/^malformed CSV at line \d+: /);
      expect(await users('mal-')).toEqual([]);
    });

    it('names the line where an unclosed quote opened, not the end of the file', async () => {
      const jobId = await runningJob(database.db);
      const csv = `external_id,email\nq-1,q-1@example.com\n"q-2,q-2@example.com\n${usersCsv(20, 'q-more-').split('\n').slice(1).join('\n')}`;
      const error = await failure(run(jobId, csv));
      expect(error.cause).toBeInstanceOf(MalformedCsvError);
      expect((error.cause as MalformedCsvError).line).toBe(3);
      expect(error.reason).toMatch(/^malformed CSV at line 3: .*quote/);
    });

    it('lets exactly one of two tasks that start a job at the same moment create its staging', async () => {
      // Both insert the job's registry row at once; its table name is unique too (derived from the
      // job id), which an ON CONFLICT on the job id alone did not cover: the loser failed with 23505.
      const other = await PostgresUserImportStore.connect({ url: database.url });
      try {
        const header = ['external_id', 'email'];
        for (let round = 0; round < 20; round++) {
          const jobId = await runningJob(database.db);
          const create = (on: PostgresUserImportStore) =>
            on.createStaging(
              jobId,
              header,
              mapHeader(header),
              { offset: 18, lines: 1 },
              {
                etag: undefined,
                versionId: undefined,
                bytes: undefined,
              },
            );
          const created = await Promise.all([create(store), create(other)]);
          expect(created.filter((staging) => staging !== undefined)).toHaveLength(1);
        }
      } finally {
        await other.close();
      }
    });

    it('returns the result another task of the job recorded when that task completed the job before this one created its staging', async () => {
      const prefix = `raced-${backend.name}-`;
      const csv = usersCsv(5, prefix);
      const jobId = await runningJob(database.db);
      // This task found the job running and nothing staged; the other task of the job imports the
      // whole file, completing the job and dropping its staging, before this one creates its own.
      let other: ImportSummary | undefined;
      const racing = new Proxy(store, {
        get(target, key) {
          if (key === 'createStaging') {
            return async (...args: Parameters<PostgresUserImportStore['createStaging']>) => {
              other ??= await run(jobId, csv);
              return target.createStaging(...args);
            };
          }
          const value = Reflect.get(target, key, target);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      const summary = await run(jobId, csv, { store: racing });
      expect(other).toMatchObject({ rowsImported: 5, usersWritten: 5 });
      expect(summary).toMatchObject({ rowsTotal: 5, rowsImported: 5, usersWritten: 0 });
      expect(await users(prefix)).toHaveLength(5);
      expect(await stagingLeft(jobId)).toEqual({ tables: [], registered: 0 });
    });

    it('runs the same import twice at once (a duplicated task) without duplicates or a deadlock', async () => {
      // Two tasks for one job (ECS or an operator started it twice): each its own connection.
      const other = await PostgresUserImportStore.connect({ url: database.url });
      try {
        const jobId = await runningJob(database.db);
        const csv = usersCsv(60, 'twice-');
        const results = await Promise.all([
          run(jobId, csv),
          importUsers({
            jobId,
            store: other,
            maxRejectedRows: 0,
            segmentBytes: 300,
            openSource: async () => Readable.from([Buffer.from(csv)]),
          }),
        ]);
        expect(results.map((r) => r.rowsImported)).toEqual([60, 60]);
        // Whichever committed second found every user already written by the first.
        expect(results.map((r) => r.usersWritten).sort((a, b) => a - b)).toEqual([0, 60]);
        expect(await users('twice-')).toHaveLength(60);
        expect(await jobRow(database.db, jobId)).toMatchObject({ rows_total: '60', rows_imported: '60' });
      } finally {
        await other.close();
      }
    });

    it('runs 4 imports with overlapping ids at once: all succeed, and users equal the imports applied one after another in commit order', async () => {
      const sizes = [300, 1200, 600, 2000];
      const stores = await Promise.all(
        sizes.map(() => PostgresUserImportStore.connect({ url: database.url })),
      );
      try {
        const prefix = 'conc-';
        // Import i holds ids i*150 .. i*150+size-1 (each overlaps the others), in a shuffled order,
        // with its own email and attributes: imp<i> marks it, `last` is overwritten by each.
        const files = sizes.map((size, i) => {
          const ids = Array.from({ length: size }, (_, n) => i * 150 + n);
          for (let n = ids.length - 1, seed = i + 1; n > 0; n--) {
            seed = (seed * 16_807) % 2_147_483_647;
            const k = seed % (n + 1);
            [ids[n], ids[k]] = [ids[k] as number, ids[n] as number];
          }
          let csv = `external_id,email,imp${i},last\n`;
          for (const id of ids) csv += `${prefix}${id},${prefix}${id}-${i}@example.com,x,${i}\n`;
          return { ids, csv };
        });
        const jobIds = await Promise.all(sizes.map(() => runningJob(database.db)));
        const results = await Promise.all(
          files.map(({ csv }, i) =>
            importUsers({
              jobId: jobIds[i] as string,
              store: stores[i] as PostgresUserImportStore,
              maxRejectedRows: 0,
              segmentBytes: 4096,
              openSource: async () => Readable.from([Buffer.from(csv)]),
            }),
          ),
        );
        expect(results.map((result) => result.rowsImported)).toEqual(sizes);
        // The commit order, from the completions' audit rows (each written inside its import's transaction).
        const { rows: order } = await database.db.query<{ job_id: string }>(
          `SELECT job_id FROM job_transitions WHERE event = 'finish' AND job_id = ANY($1) ORDER BY id`,
          [jobIds],
        );
        const expected = new Map<string, { email: string; attributes: Record<string, string> }>();
        for (const { job_id } of order) {
          const i = jobIds.indexOf(job_id);
          for (const id of files[i]?.ids ?? []) {
            const key = `${prefix}${id}`;
            const before = expected.get(key)?.attributes ?? {};
            expected.set(key, {
              email: `${key}-${i}@example.com`,
              attributes: { ...before, [`imp${i}`]: 'x', last: String(i) },
            });
          }
        }
        const stored = await users(prefix);
        expect(stored).toHaveLength(expected.size);
        expect(
          Object.fromEntries(
            stored.map((u) => [u.external_id, { email: u.email, attributes: u.attributes }]),
          ),
        ).toEqual(Object.fromEntries(expected));
      } finally {
        await Promise.all(stores.map((store) => store.close()));
      }
    }, 60_000);

    it('fails on a record over 1 MiB instead of buffering it (an unclosed quote would swallow the file)', async () => {
      const jobId = await runningJob(database.db);
      const csv = `external_id,email,note\nbig-1,big-1@example.com,"${'x'.repeat(1024 * 1024 + 10)}"\n`;
      const error = await failure(run(jobId, csv));
      expect(error.cause).toBeInstanceOf(MalformedCsvError);
      expect((error.cause as MalformedCsvError).code).toBe('CSV_MAX_RECORD_SIZE');
      expect(await users('big-')).toEqual([]);
    });

    it('is safe to re-run: same counts, no duplicates, unchanged users not rewritten', async () => {
      const jobId = await runningJob(database.db);
      const first = await run(jobId, usersCsv(10, 'again-'));
      const before = await database.db.query<{ updated_at: Date }>(
        `SELECT max(updated_at) AS updated_at FROM users WHERE external_id LIKE 'again-%'`,
      );
      // The same file imported again by another job: merged, but nothing changed.
      const secondJobId = await runningJob(database.db);
      const second = await run(secondJobId, usersCsv(10, 'again-'));
      expect(second).toMatchObject({ rowsTotal: 10, rowsImported: 10, rowsRejected: 0, usersWritten: 0 });
      expect(first.usersWritten).toBe(10);
      // The ledger keeps each job's own count, which its import.completed mail tells.
      expect(await jobRow(database.db, jobId)).toMatchObject({ rows_imported: '10', users_written: '10' });
      expect(await jobRow(database.db, secondJobId)).toMatchObject({
        rows_imported: '10',
        users_written: '0',
      });
      expect(await users('again-')).toHaveLength(10);
      const after = await database.db.query<{ updated_at: Date }>(
        `SELECT max(updated_at) AS updated_at FROM users WHERE external_id LIKE 'again-%'`,
      );
      expect(after.rows[0]?.updated_at).toEqual(before.rows[0]?.updated_at);
      expect(await jobRow(database.db, jobId)).toMatchObject({ rows_total: '10', rows_imported: '10' });
      // The same job run again (its task retried after the COMMIT): the recorded result, no work.
      const replay = await run(jobId, '', {
        openSource: () => Promise.reject(new Error('a completed job reads nothing')),
      });
      expect(replay).toMatchObject({ rowsTotal: 10, rowsImported: 10, usersWritten: 0, bytesRead: 0 });
    });

    it('updates existing users: the last row of a repeated id wins, attributes merge, names kept without a name column', async () => {
      await run(
        await runningJob(database.db),
        'external_id,email,name,plan,team\nupd-1,old@example.com,Old,free,a\n',
      );
      const csv = 'external_id,email,plan\nupd-1,first@example.com,pro\nupd-1,last@example.com,team\n';
      const summary = await run(await runningJob(database.db), csv);
      expect(summary).toMatchObject({ rowsImported: 2, usersWritten: 1 });
      expect(await users('upd-')).toEqual([
        {
          external_id: 'upd-1',
          email: 'last@example.com',
          name: 'Old',
          attributes: { plan: 'team', team: 'a' },
        },
      ]);
    });

    it("lets the file's last row of an id win also when it is rejected: the id is left as it was, not written from an earlier row", async () => {
      await run(await runningJob(database.db), 'external_id,email\nlastbad-1,current@example.com\n');
      const jobId = await runningJob(database.db);
      // Line 3 corrects line 2 with a typo: the mail names line 3 as rejected, so its uploader
      // expects lastbad-1 untouched, not overwritten with the stale line 2.
      const csv =
        'external_id,email\nlastbad-1,stale@example.com\nlastbad-1,new@example\nlastbad-2,two@example.com\n';
      const summary = await run(jobId, csv);
      expect(summary).toMatchObject({
        rowsRejected: 1,
        rowErrors: [{ line: 3, field: 'email' }],
        usersWritten: 1,
      });
      expect((await users('lastbad-')).map((user) => [user.external_id, user.email])).toEqual([
        ['lastbad-1', 'current@example.com'],
        ['lastbad-2', 'two@example.com'],
      ]);
    });

    it('lets the last row win for an id repeated across segments', async () => {
      let csv = 'external_id,email\nacross-0,first@example.com\n';
      for (let n = 1; n <= 20; n++) csv += `across-${n},across-${n}@example.com\n`;
      csv += 'across-0,last@example.com\n';
      const summary = await run(await runningJob(database.db), csv);
      // One merge: the repeated id is written once, with its last row.
      expect(summary).toMatchObject({ rowsImported: 22, usersWritten: 21 });
      const [first] = await users('across-0');
      expect(first?.email).toBe('last@example.com');
      expect(await users('across-')).toHaveLength(21);
    });

    it('rolls back earlier chunks when a later chunk fails in the database, and records the error', async () => {
      await database.db.query(
        `ALTER TABLE users ADD CONSTRAINT test_no_boom CHECK (email <> 'boom@example.com')`,
      );
      try {
        let csv = 'external_id,email\n';
        for (let n = 1; n <= 20; n++) csv += `dberr-${n},dberr-${n}@example.com\n`;
        csv += 'dberr-boom,boom@example.com\n';
        const jobId = await runningJob(database.db);
        const error = await failure(run(jobId, csv));
        // PostgreSQL's SQLSTATE and constraint, then its message; not its DETAIL, which quotes the row.
        expect(error.reason).toBe(
          'PostgreSQL 23514 (test_no_boom): new row for relation "users" violates check constraint "test_no_boom"',
        );
        expect(error.permanent).toBe(false);
        expect(await users('dberr-')).toEqual([]);
        expect((await jobRow(database.db, jobId)).worker_error).toBe(error.reason);
      } finally {
        await database.db.query('ALTER TABLE users DROP CONSTRAINT test_no_boom');
      }
    });

    it("fails a merge that violates a unique index other than external_id's with its SQLSTATE and constraint, without the upsert fallback", async () => {
      // A unique index the product added on users' email (partial: only this test's users).
      await database.db.query(
        `CREATE UNIQUE INDEX test_users_email_key ON users (email) WHERE external_id LIKE 'dupmail-%'`,
      );
      let fallbacks = 0;
      const fallbackStore = await PostgresUserImportStore.connect({
        url: database.url,
        onMergeFallback: () => fallbacks++,
      });
      try {
        await database.db.query(
          `INSERT INTO users (external_id, email, name) VALUES ('dupmail-other', 'jane.doe@example.com', 'Jane Doe')`,
        );
        const jobId = await runningJob(database.db);
        const error = await failure(
          run(jobId, 'external_id,email,name\ndupmail-1,jane.doe@example.com,Janet Doe\n', {
            store: fallbackStore,
          }),
        );
        expect(error.reason).toBe(
          'PostgreSQL 23505 (test_users_email_key): duplicate key value violates unique constraint "test_users_email_key"',
        );
        expect((await jobRow(database.db, jobId)).worker_error).toBe(error.reason);
        // The upsert on external_id could not resolve it either: the merge is not tried again, and
        // nothing says another writer inserted the user meanwhile.
        expect(fallbacks).toBe(0);
        expect(await users('dupmail-1')).toEqual([]);
      } finally {
        await fallbackStore.close();
        await database.db.query('DROP INDEX test_users_email_key');
      }
    });

    it('clears an earlier worker_error when a retry succeeds', async () => {
      const jobId = await runningJob(database.db);
      // A transient failure (the read cut off): a permanent one is honoured instead (see above).
      const csv = usersCsv(1, 'retry-');
      await failure(run(jobId, '', { openSource: async () => breaksOffAfter(Buffer.from(csv), 5) }));
      expect((await jobRow(database.db, jobId)).worker_error).not.toBeNull();
      await run(jobId, csv);
      expect((await jobRow(database.db, jobId)).worker_error).toBeNull();
    });

    it('refuses a job that is not running, or does not exist', async () => {
      const jobId = await runningJob(database.db);
      // Succeeded through the status-updater alone (no batch-worker completed it): refused.
      await database.db.query(`UPDATE jobs SET state = 'succeeded' WHERE id = $1`, [jobId]);
      const error = await failure(run(jobId, usersCsv(1, 'done-')));
      expect(error.cause).toBeInstanceOf(JobNotRunnableError);
      expect(error.reason).toBe(`job ${jobId}: is succeeded, an import runs only on a running job`);
      expect(await users('done-')).toEqual([]);
      const missing = await failure(run('imp_missing', usersCsv(1, 'done-')));
      expect(missing.reason).toBe('job imp_missing: no such job');
    });

    it('imports nothing when aborted mid-stream, keeps what it staged, and the connection stays usable', async () => {
      const jobId = await runningJob(database.db);
      const controller = new AbortController();
      // A source that aborts the import once some rows have been read, then would go on forever.
      async function* rows() {
        yield 'external_id,email\n';
        for (let n = 1; ; n++) {
          if (n === 50) controller.abort(new ImportInterruptedError('SIGTERM'));
          yield `abort-${n},abort-${n}@example.com\n`;
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
      const error = await failure(
        run(jobId, '', { openSource: async () => Readable.from(rows()), signal: controller.signal }),
      );
      expect(error.cause).toBeInstanceOf(ImportInterruptedError);
      expect(error.reason).toBe(
        'interrupted by SIGTERM; nothing was imported; the staged records are kept for the retry',
      );
      expect(await users('abort-')).toEqual([]);
      expect((await jobRow(database.db, jobId)).worker_error).toBe(error.reason);
      const { rows: kept } = await database.db.query<{ records: string }>(
        'SELECT records FROM import_stagings WHERE job_id = $1',
        [jobId],
      );
      expect(Number(kept[0]?.records)).toBeGreaterThan(0);
      // The store's connection is back in a clean state: the next import works.
      const next = await run(await runningJob(database.db), usersCsv(3, 'after-abort-'));
      expect(next.rowsImported).toBe(3);
    });

    // A duplicated task that completes the job drops its staging while the other task checks that
    // staging is intact: the check must read "gone", not fail the import. Forced here with a lock the
    // drop holds while the check waits (PostgreSQL: the embedded server serves one session at a time).
    if (backend.name === 'postgres')
      it('finds no staging, without failing, when another task of the job drops it mid-check', async () => {
        const prefix = `dropped-${backend.name}-`;
        const csv = Buffer.from(usersCsv(40, prefix));
        const jobId = await runningJob(database.db);
        await failure(run(jobId, '', { openSource: async () => breaksOffAfter(csv, 900) }));
        const staged = await store.findStaging(jobId);
        expect(staged?.records).toBeGreaterThan(0);
        const other = await PostgresUserImportStore.connect({ url: database.url });
        const dropper = new pg.Client({ connectionString: database.url });
        await dropper.connect();
        try {
          await dropper.query('BEGIN');
          await dropper.query(`LOCK TABLE ${staged?.table} IN ACCESS EXCLUSIVE MODE`);
          const checking = other.findStaging(jobId);
          // The check's probe of the table now waits for the lock.
          await new Promise((resolve) => setTimeout(resolve, 300));
          await dropper.query(`SELECT drop_import_staging($1)`, [jobId]);
          await dropper.query('COMMIT');
          await expect(checking).resolves.toBeUndefined();
        } finally {
          await dropper.end();
          await other.close();
        }
      });

    it('resumes the staging an interrupted task left, reading only the rest of the object', async () => {
      const prefix = `resume-${backend.name}-`;
      const csv = Buffer.from(usersCsv(40, prefix));
      const jobId = await runningJob(database.db);
      // The first task's source breaks off for good after 900 bytes (its segments of 200 are kept).
      const broken = await failure(run(jobId, '', { openSource: async () => breaksOffAfter(csv, 900) }));
      expect(broken.permanent).toBe(false);
      expect(await users(prefix)).toEqual([]);
      const { rows } = await database.db.query<{ byte_offset: string }>(
        'SELECT byte_offset FROM import_stagings WHERE job_id = $1',
        [jobId],
      );
      const offset = Number(rows[0]?.byte_offset);
      expect(offset).toBeGreaterThan(200);
      expect(offset).toBeLessThanOrEqual(900);
      // The retry asks for the rest only (a ranged GET) and imports exactly the file's rows.
      const ranges: SourceRange[] = [];
      const summary = await run(jobId, '', {
        openSource: async (range) => {
          ranges.push(range);
          return { body: Readable.from([csv.subarray(range.offset)]), offset: range.offset };
        },
      });
      expect(ranges.map((range) => range.offset)).toEqual([offset]);
      expect(summary).toMatchObject({
        rowsTotal: 40,
        rowsImported: 40,
        resumedAt: offset,
        bytesRead: csv.length - offset,
      });
      expect(await users(prefix)).toHaveLength(40);
      expect(await jobRow(database.db, jobId)).toMatchObject({ state: 'succeeded', rows_total: '40' });
    });

    it("reports a conflict and merges nothing when a task completes at an end the staging is not at (another task's, or a stale one)", async () => {
      const prefix = `stale-${backend.name}-`;
      const csv = Buffer.from(usersCsv(40, prefix));
      const jobId = await runningJob(database.db);
      await failure(run(jobId, '', { openSource: async () => breaksOffAfter(csv, 900) }));
      const staging = await store.findStaging(jobId);
      if (!staging) throw new Error('the broken-off import kept no staging');
      // A task that took itself to have staged the whole file: the staging ends where the other stopped.
      const end = { offset: csv.length, lines: 41 };
      expect(staging.position.offset).toBeLessThan(end.offset);
      expect(await store.complete(staging, end, { maxRejectedRows: 1000, maxRowErrors: 100 })).toBe(
        'conflict',
      );
      expect(await users(prefix)).toEqual([]);
      expect((await jobRow(database.db, jobId)).state).toBe('running');
      expect((await store.findStaging(jobId))?.position).toEqual(staging.position);
    });

    it('validates each committed segment while the next one streams in, before the completion', async () => {
      const prefix = `overlap-${backend.name}-`;
      const rows = usersCsv(30, prefix).split('\n');
      rows[3] = `${prefix}3,not-an-address,Three,pro`; // line 4, in the first segment
      rows[25] = `,${prefix}25@example.com,No id,pro`; // line 26, after the pause
      const source = pausedAfter(rows, 20);
      const jobId = await runningJob(database.db);
      const importing = run(jobId, '', { openSource: source.openSource });
      // The source holds back the rest of the file: the committed segments are validated meanwhile.
      const validated = await segmentsValidated(jobId);
      expect(validated.reduce((sum, segment) => sum + Number(segment.rejected), 0)).toBe(1);
      const { rows: rejects } = await database.db.query(
        `SELECT line, field, message FROM ${stagingTableName(jobId)}_rejects`,
      );
      expect(rejects).toEqual([{ line: '4', field: 'email', message: 'is not a valid email address' }]);
      source.release();
      const summary = await importing;
      expect(summary).toMatchObject({ rowsTotal: 30, rowsImported: 28, rowsRejected: 2 });
      expect(summary.rowErrors).toEqual([
        { line: 4, field: 'email', message: 'is not a valid email address' },
        { line: 26, field: 'external_id', message: 'is empty' },
      ]);
      expect(await users(prefix)).toHaveLength(28);
    });

    it('counts each rejected row once when a resumed task completes segments an earlier task validated', async () => {
      const prefix = `revalidate-${backend.name}-`;
      const lines = usersCsv(40, prefix).split('\n');
      const bad = [3, 12, 30, 38]; // records, so lines 4, 13, 31, 39: before and after the break
      for (const record of bad) lines[record] = `${prefix}${record},broken`;
      const csv = Buffer.from(lines.join('\n'));
      const jobId = await runningJob(database.db);
      await failure(run(jobId, '', { openSource: async () => breaksOffAfter(csv, 900) }));
      // The first task's validator finishes what was committed; the retry validates the rest.
      await segmentsValidated(jobId);
      const summary = await run(jobId, '', {
        openSource: async (range) => ({
          body: Readable.from([csv.subarray(range.offset)]),
          offset: range.offset,
        }),
      });
      expect(summary).toMatchObject({ rowsTotal: 40, rowsImported: 36, rowsRejected: 4 });
      expect(summary.rowErrors.map((error) => error.line)).toEqual(bad.map((record) => record + 1));
      expect(await jobRow(database.db, jobId)).toMatchObject({ rows_rejected: '4', rows_imported: '36' });
    });

    it("validates a segment once when another task of the job validated it before this task's validator got to it", async () => {
      const prefix = `once-${backend.name}-`;
      const rows = usersCsv(30, prefix).split('\n');
      rows[3] = `${prefix}3,not-an-address,Three,pro`; // line 4, in the first segment
      rows[25] = `${prefix}25,not-an-address,Twenty-five,pro`; // line 26, after the pause
      const source = pausedAfter(rows, 20);
      const proxy = await holdingLaterConnections(database.url);
      const slow = await PostgresUserImportStore.connect({ url: proxy.url });
      try {
        const jobId = await runningJob(database.db);
        const importing = run(jobId, '', { store: slow, openSource: source.openSource });
        // Its first segment is committed, and queued on a validator still waiting for its connection.
        await segmentsCommitted(jobId);
        const staging = await store.findStaging(jobId);
        if (!staging) throw new Error('no staging');
        // Another task of the job validates it meanwhile (its completion, or its check of the rejected rows).
        const limits = { maxRejectedRows: 1000, maxRowErrors: 100 };
        expect((await store.rejections(staging, limits)).rowsRejected).toBe(1);
        proxy.release();
        source.release();
        const summary = await importing;
        expect(summary).toMatchObject({ rowsTotal: 30, rowsImported: 28, rowsRejected: 2 });
        expect(summary.rowErrors.map((error) => error.line)).toEqual([4, 26]);
      } finally {
        await slow.close();
        await proxy.close();
      }
    });

    it('gives each piece of COPY input back to the scanner once the connection is done with it, so the next is written over it', async () => {
      const prefix = `reuse-${backend.name}-`;
      const lines = usersCsv(40, prefix).split('\n');
      const release = jest.spyOn(CsvRecordScanner.prototype, 'release');
      try {
        const jobId = await runningJob(database.db);
        const summary = await run(jobId, '', {
          openSource: async () => Readable.from(lines.map((line) => Buffer.from(`${line}\n`))),
        });
        expect(summary).toMatchObject({ rowsTotal: 40, rowsImported: 40 });
        // A line at a time, the header's piece staging nothing: one release per record's piece.
        expect(release).toHaveBeenCalledTimes(40);
        expect(await users(prefix)).toHaveLength(40);
      } finally {
        release.mockRestore();
      }
    });

    it("validates the segments its validator has not reached on the import's own connection, each once, before it merges", async () => {
      const prefix = `behind-${backend.name}-`;
      const rows = usersCsv(30, prefix).split('\n');
      rows[4] = `${prefix}4,not-an-address,Four,pro`; // line 5
      rows[27] = `${prefix}27,not-an-address,Twenty-seven,pro`; // line 28
      // The validator's connection is held: every segment is queued on it when the last one commits.
      const proxy = await holdingLaterConnections(database.url);
      const slow = await PostgresUserImportStore.connect({ url: proxy.url });
      try {
        const jobId = await runningJob(database.db);
        const importing = run(jobId, '', {
          store: slow,
          // A line at a time: a segment commits every few lines.
          openSource: async () => Readable.from(rows.map((line) => Buffer.from(`${line}\n`))),
        });
        // The completion validates them itself, newest first, while the validator is behind.
        const validated = await segmentsValidated(jobId);
        expect(validated.length).toBeGreaterThan(3);
        expect(validated.reduce((sum, segment) => sum + Number(segment.rejected), 0)).toBe(2);
        // Its merge still waits for the validator's transactions, which find every segment validated.
        proxy.release();
        const summary = await importing;
        expect(summary).toMatchObject({ rowsTotal: 30, rowsImported: 28, rowsRejected: 2 });
        expect(summary.rowErrors.map((error) => error.line)).toEqual([5, 28]);
        expect(await users(prefix)).toHaveLength(28);
      } finally {
        await slow.close();
        await proxy.close();
      }
    });

    it('starts over from byte 0 on a staging without a rejects table (staged whole by an earlier worker)', async () => {
      const prefix = `legacy-${backend.name}-`;
      const csv = Buffer.from(usersCsv(40, prefix));
      const jobId = await runningJob(database.db);
      await failure(run(jobId, '', { openSource: async () => breaksOffAfter(csv, 900) }));
      await database.db.query(`DROP TABLE ${stagingTableName(jobId)}_rejects`);
      const ranges: number[] = [];
      const summary = await run(jobId, '', {
        openSource: async (range) => {
          ranges.push(range.offset);
          return { body: Readable.from([csv.subarray(range.offset)]), offset: range.offset };
        },
      });
      expect(ranges).toEqual([0]);
      expect(summary).toMatchObject({ rowsTotal: 40, rowsImported: 40, resumedAt: 0 });
      expect(await users(prefix)).toHaveLength(40);
    });

    it('trims every row of a staging an earlier worker made without trim marks, when a task of this one resumes it', async () => {
      const prefix = `unmarked-${backend.name}-`;
      const lines = usersCsv(40, prefix).split('\n');
      lines[2] = ` ${prefix}2,${prefix}2@example.com\t,\u00a0User 2 ,pro`; // before the break
      lines[35] = `${prefix}35 ,\u3000${prefix}35@example.com,User 35\t,pro`; // after it
      const csv = Buffer.from(lines.join('\n'));
      const jobId = await runningJob(database.db);
      await failure(run(jobId, '', { openSource: async () => breaksOffAfter(csv, 900) }));
      // What an earlier version staged: no marks, and the staging says so.
      const marked = await database.db.query(
        `UPDATE ${stagingTableName(jobId)} SET reject = NULL WHERE reject = 't'`,
      );
      expect(marked.rowCount).toBe(1);
      await database.db.query('UPDATE import_stagings SET trim_marked = false WHERE job_id = $1', [jobId]);
      const summary = await run(jobId, '', {
        openSource: async (range) => ({
          body: Readable.from([csv.subarray(range.offset)]),
          offset: range.offset,
        }),
      });
      expect(summary).toMatchObject({ rowsImported: 40, resumedAt: expect.any(Number) });
      expect(summary.resumedAt).toBeGreaterThan(0);
      const trimmed = (await users(prefix)).filter((user) =>
        ['2', '35'].includes(user.external_id.slice(prefix.length)),
      );
      expect(trimmed.map(({ external_id, email, name }) => ({ external_id, email, name }))).toEqual([
        { external_id: `${prefix}2`, email: `${prefix}2@example.com`, name: 'User 2' },
        { external_id: `${prefix}35`, email: `${prefix}35@example.com`, name: 'User 35' },
      ]);
    });

    // The validator's session ends under it (a failover, an administrator): the import still
    // completes, the completion validating the segments the validator did not. PostgreSQL only: the
    // embedded database has one session for every connection.
    if (backend.name === 'postgres')
      it("completes with every rejected row counted when the validator's connection is lost mid-import", async () => {
        const prefix = 'lost-validator-';
        const rows = usersCsv(30, prefix).split('\n');
        rows[2] = `${prefix}2,broken`;
        rows[28] = `${prefix}28,broken`;
        const source = pausedAfter(rows, 15);
        const failures: unknown[] = [];
        const own = await PostgresUserImportStore.connect({
          url: database.url,
          onValidatorFailure: (error) => failures.push(error),
        });
        try {
          const jobId = await runningJob(database.db);
          const importing = run(jobId, '', {
            store: own,
            openSource: source.openSource,
          });
          await segmentsValidated(jobId);
          const { rows: ended } = await database.db.query<{ ended: boolean }>(
            `SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity
             WHERE application_name = $1 AND pid <> pg_backend_pid()`,
            [VALIDATOR_APPLICATION_NAME],
          );
          expect(ended.length).toBeGreaterThan(0);
          source.release();
          const summary = await importing;
          expect(summary).toMatchObject({ rowsTotal: 30, rowsImported: 28, rowsRejected: 2 });
          expect(summary.rowErrors.map((error) => error.line)).toEqual([3, 29]);
          expect(failures).toHaveLength(1);
        } finally {
          await own.close();
        }
      });

    // https://www.postgresql.org/docs/15/storage-toast.html: a row must fit in one page; a value of
    // 8 characters is too short to be moved out, so 900 of them (8,248 bytes) are too many.
    it('fails, permanently and naming the lines of its segment, when a row is too big for PostgreSQL to stage', async () => {
      const prefix = `wide-${backend.name}-`;
      const { header, row } = wideCsv(prefix);
      // Read a line at a time into segments of 7,000 bytes of input (the header ~4.4 KiB, a row of
      // `x` ~1.8 KiB, of 8 characters ~8 KiB): lines 2-3, then 4-6, whose last row is too big.
      const lines = [header, ...[1, 2, 3, 4].map((n) => row(n, 'x')), row(5, 'abcdefgh'), row(6, 'x')];
      const jobId = await runningJob(database.db);
      const error = await failure(
        run(jobId, '', {
          segmentBytes: 7000,
          openSource: async () => Readable.from(lines.map((line) => Buffer.from(`${line}\n`))),
        }),
      );
      expect(error.permanent).toBe(true);
      expect(error.cause).toBeInstanceOf(RowTooBigError);
      expect((error.cause as RowTooBigError).lines).toEqual({ from: 4, to: 6 });
      expect(error.reason).toMatch(
        /^a row in lines 4 to 6 is too big for the import \(PostgreSQL 54000: row is too big: size \d+, maximum size 8160\): a row of the file's 900 columns must fit in 8,160 bytes/,
      );
      expect(await users(prefix)).toEqual([]);
    });

    it('names the lines of a too big row that PostgreSQL refuses before the segment ends, while the worker waits for the rest of the object', async () => {
      const prefix = `wide-early-${backend.name}-`;
      const { header, row } = wideCsv(prefix);
      // One segment: the too big row on line 3, then ~110 KB more. PostgreSQL writes what its COPY
      // buffered every 64 KB, so it refuses the segment while the object's end is still on its way.
      const rows = [
        row(1, 'x'),
        row(2, 'abcdefgh'),
        ...Array.from({ length: 60 }, (_, i) => row(i + 3, 'x')),
      ];
      const bytes = Buffer.from(`${[header, ...rows].join('\n')}\n`);
      async function* slowEnd(): AsyncGenerator<Buffer> {
        yield bytes;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      const jobId = await runningJob(database.db);
      const error = await failure(
        run(jobId, '', { segmentBytes: 64 << 20, openSource: async () => Readable.from(slowEnd()) }),
      );
      expect(error.cause).toBeInstanceOf(RowTooBigError);
      expect((error.cause as RowTooBigError).lines).toEqual({ from: 2, to: rows.length + 1 });
      expect(error.reason).toMatch(
        /^a row in lines 2 to 63 is too big for the import \(PostgreSQL 54000: row is too big: size \d+, maximum size 8160\)/,
      );
      expect(await users(prefix)).toEqual([]);
    });

    it('fails, permanently and naming the change, when the object is no longer the one registered', async () => {
      const prefix = `changed-${backend.name}-`;
      const key = await s3.put(`imports/${backend.name}-changed.csv`, usersCsv(3, prefix));
      const jobId = await runningJob(database.db, key);
      const error = await failure(
        run(jobId, '', {
          openSource: (range) =>
            openSourceObject(s3.client, { bucket: s3.bucket, key, etag: '"0123"' }, { offset: range.offset }),
        }),
      );
      expect(error.cause).toBeInstanceOf(SourceChangedError);
      expect(error.permanent).toBe(true);
      expect(error.reason).toBe(
        `the object at s3://${s3.bucket}/${key} changed after it was registered (ETag "0123" expected)`,
      );
      expect(await users(prefix)).toEqual([]);
    });

    it('streams the object from S3, and fails clearly on a missing key', async () => {
      const key = await s3.put(`imports/${backend.name}.csv`, usersCsv(12, `s3-${backend.name}-`));
      const jobId = await runningJob(database.db, key);
      const summary = await run(jobId, '', {
        openSource: async () => (await openSourceObject(s3.client, { bucket: s3.bucket, key })).body,
      });
      expect(summary.rowsImported).toBe(12);
      const missing = await failure(
        run(await runningJob(database.db), '', {
          openSource: async () =>
            (await openSourceObject(s3.client, { bucket: s3.bucket, key: 'imports/missing.csv' })).body,
        }),
      );
      expect(missing.cause).toBeInstanceOf(SourceUnavailableError);
      expect(missing.permanent).toBe(true);
      expect(missing.reason).toMatch(
        /^cannot read s3:\/\/sidestep-test-imports\/imports\/missing.csv: NoSuchKey/,
      );
    });
  });
}
