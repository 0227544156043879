import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, afterEach, beforeAll, expect, it, jest } from '@jest/globals';
import { MigrationFailedError } from '@sidestep/db';
import { captureOutput } from '@sidestep/runtime/output-capture';
import pg from 'pg';
import { PostgresUserExportStore } from '../src/adapters/postgres-user-export-store.ts';
import { PostgresUserImportStore } from '../src/adapters/postgres-user-import-store.ts';
import { loadConfig, loadExportConfig } from '../src/config.ts';
import { ImportFailedError, ImportInterruptedError } from '../src/errors.ts';
import { exportMode } from '../src/export/export-mode.ts';
import { importMode } from '../src/import/import-mode.ts';
import { migrateModeWith } from '../src/migrate-mode.ts';
import { runTask } from '../src/run-task.ts';
import {
  type DatabaseBackend,
  databaseBackends,
  jobRow,
  runningJob,
  startS3,
  type TestS3,
  type WorkerDatabase,
} from './import-fixture.ts';
import { stubImportMode } from './task-modes.ts';

// PostgreSQL quotes the failing row in an error's DETAIL ('Failing row contains (...)', 'Key
// (email)=(...) already exists.') and, when log_parameter_max_length_on_error is set (a user-settable
// setting: a parameter group or ALTER ROLE turns it on for every session), the bind parameters'
// values in its CONTEXT (`where`). Powertools' Logger writes every enumerable property of a logged
// error and of its cause, so the worker's log lines go through loggableError of @sidestep/runtime.
// https://www.postgresql.org/docs/current/runtime-config-logging.html#GUC-LOG-PARAMETER-MAX-LENGTH-ON-ERROR

/** Someone's record, as a failing row quotes it. */
const EMAIL = 'Jane.Doe@Example.com';
/** Anything of that record: the address in any case, the name. */
const PERSONAL = /jane/i;

const MAIN = join(import.meta.dirname, '..', 'src', 'main.ts');

let s3: TestS3;
beforeAll(async () => {
  s3 = await startS3();
});
afterAll(() => s3.stop());
afterEach(() => {
  jest.restoreAllMocks();
});

/**
 * The database's URL with log_parameter_max_length_on_error on for every session the worker opens
 * (a startup option on PostgreSQL; PGlite runs one session for all its connections, so SET), checked.
 */
async function urlQuotingParameters(backend: DatabaseBackend, database: WorkerDatabase): Promise<string> {
  const url = new URL(database.url);
  if (backend.name === 'postgres') {
    const options = url.searchParams.get('options') ?? '';
    url.searchParams.set('options', `${options} -c log_parameter_max_length_on_error=-1`.trim());
  } else {
    await database.db.query('SET log_parameter_max_length_on_error = -1');
  }
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const { rows } = await client.query<{ value: string }>('SELECT current_setting($1) AS value', [
      'log_parameter_max_length_on_error',
    ]);
    expect(rows[0]?.value).toBe('-1');
  } finally {
    await client.end();
  }
  return url.toString();
}

/** Runs the task's entry (`MODE=import`) as its own process: its exit code and its whole output. */
async function runImport(url: string, jobId: string, key: string) {
  const child = spawn(process.execPath, [MAIN], {
    env: {
      PATH: process.env.PATH ?? '',
      MODE: 'import',
      JOB_ID: jobId,
      SOURCE_BUCKET: s3.bucket,
      SOURCE_KEY: key,
      SOURCE_VERSION_ID: '',
      SOURCE_ETAG: '',
      DATABASE_URL: url,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_ENDPOINT_URL: s3.endpoint,
      AWS_S3_FORCE_PATH_STYLE: 'true',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  for (const stream of [child.stdout, child.stderr])
    stream.setEncoding('utf8').on('data', (data) => (output += data));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  const logs = output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { code, output, logs };
}

/** A logger as the task's, and what it writes to stdout and stderr ({@link captureOutput}). */
function captureLogs() {
  const output = captureOutput();
  return {
    logger: new Logger({ serviceName: 'batch-worker' }),
    /** Stops capturing; the JSON lines written, and their text. */
    stop: () => {
      output.restore();
      const logs = output.lines();
      return { text: logs.map((log) => JSON.stringify(log)).join('\n'), logs };
    },
  };
}

for (const backend of databaseBackends()) {
  backend.describe(`database errors in the batch-worker's log lines [${backend.name}]`, () => {
    let database: WorkerDatabase;
    let url: string;
    /** A database error whose DETAIL and CONTEXT quote EMAIL, as the database raised it. */
    let quotingError: Error;

    beforeAll(async () => {
      database = await backend.start();
      url = await urlQuotingParameters(backend, database);
      quotingError = (await database.db
        .transaction(async (tx) => {
          await tx.query('SET LOCAL log_parameter_max_length_on_error = -1');
          await tx.query(
            'CREATE TEMP TABLE people (id int, email text CONSTRAINT people_email_lower CHECK (email = lower(email))) ON COMMIT DROP',
          );
          await tx.query('INSERT INTO people (id, email) VALUES ($1, $2)', [7, EMAIL]);
        })
        .catch((error: unknown) => error)) as Error;
      // The database said it: the failing row is in the error as raised.
      expect(JSON.stringify({ ...quotingError })).toContain(EMAIL);
    }, 60_000);
    afterAll(() => database?.close());

    /** The database error, as a log line (Powertools') shows it, found in `logs`. */
    const expectNamedNotQuoted = (
      captured: { text: string; logs: Record<string, unknown>[] },
      message: string,
      path: (log: Record<string, unknown>) => unknown,
    ) => {
      expect(captured.text).not.toMatch(PERSONAL);
      const line = captured.logs.find((log) => log.message === message);
      expect(line).toBeDefined();
      expect(path(line as Record<string, unknown>)).toMatchObject({
        code: '23514',
        constraint: 'people_email_lower',
        table: 'people',
      });
    };

    it.each([
      [
        'a unique index on the email',
        'piidup',
        `CREATE UNIQUE INDEX test_pii_email_key ON users (email) WHERE external_id LIKE 'piidup-%'`,
        'DROP INDEX test_pii_email_key',
        EMAIL,
        'test_pii_email_key',
        '23505',
        'duplicate key value violates unique constraint "test_pii_email_key"',
      ],
      [
        'a CHECK on the email',
        'piichk',
        `ALTER TABLE users ADD CONSTRAINT test_pii_email_lower CHECK (external_id NOT LIKE 'piichk-%' OR email = lower(email))`,
        'ALTER TABLE users DROP CONSTRAINT test_pii_email_lower',
        EMAIL.toLowerCase(),
        'test_pii_email_lower',
        '23514',
        'new row for relation "users" violates check constraint "test_pii_email_lower"',
      ],
    ])(
      'an import whose merge violates %s logs its SQLSTATE and constraint, and no address',
      async (_, prefix, add, drop, existingEmail, constraint, sqlstate, message) => {
        await database.db.query(add);
        try {
          await database.db.query(
            `INSERT INTO users (external_id, email, name) VALUES ($1, $2, 'Jane Doe')`,
            [`${prefix}-other`, existingEmail],
          );
          const key = await s3.put(
            `imports/${prefix}.csv`,
            `external_id,email,name\n${prefix}-1,${EMAIL},Janet Doe\n`,
          );
          const jobId = await runningJob(database.db, key);
          const run = await runImport(url, jobId, key);
          const reason = `PostgreSQL ${sqlstate} (${constraint}): ${message}`;
          expect(run.code).toBe(1);
          expect(run.output).not.toMatch(PERSONAL);
          expect(run.logs.at(-1)).toMatchObject({
            level: 'ERROR',
            message: 'import failed',
            reason,
            errorName: 'DatabaseError',
            error: { code: sqlstate, constraint, table: 'users', message },
          });
          expect(run.logs.map((log) => log.message)).not.toContain(
            'the merge met a user another writer inserted meanwhile; merging again as an upsert',
          );
          expect((await jobRow(database.db, jobId)).worker_error).toBe(reason);
        } finally {
          await database.db.query(drop);
        }
      },
      60_000,
    );

    const importEnv = () => ({
      MODE: 'import',
      JOB_ID: 'imp_logs',
      SOURCE_BUCKET: s3.bucket,
      SOURCE_KEY: 'imports/x.csv',
      DATABASE_URL: url,
    });

    it('logs the error that kept the failure from being recorded without the values it quotes', async () => {
      const capture = captureLogs();
      const code = await runTask(
        stubImportMode({
          run: async () => {
            const failure = new ImportFailedError('imp_logs', new ImportInterruptedError('SIGTERM'), {
              rowsRejected: 0,
              rowErrors: [],
            });
            failure.recordError = quotingError;
            throw failure;
          },
        }),
        { logger: capture.logger, env: importEnv() },
      );
      expect(code).toBe(143);
      expectNamedNotQuoted(capture.stop(), 'import failed', (log) => log.recordError);
    });

    it('logs why the task could not start without the values the error quotes', async () => {
      const capture = captureLogs();
      const code = await runTask(stubImportMode({ connect: async () => Promise.reject(quotingError) }), {
        logger: capture.logger,
        env: importEnv(),
      });
      expect(code).toBe(1);
      expectNamedNotQuoted(capture.stop(), 'import could not start', (log) => log.error);
    });

    it('logs a failed migration without the values its cause quotes', async () => {
      const capture = captureLogs();
      const code = await runTask(
        migrateModeWith(async () => Promise.reject(new MigrationFailedError(4, 'user-tags', quotingError))),
        { logger: capture.logger, env: { MODE: 'migrate', DATABASE_URL: url } },
      );
      expect(code).toBe(1);
      expectNamedNotQuoted(
        capture.stop(),
        'migrate failed',
        (log) => (log.error as Record<string, unknown>).cause,
      );
    });

    it("logs a validator's and an export progress record's failure without the values the error quotes", async () => {
      const importConnect = jest
        .spyOn(PostgresUserImportStore, 'connect')
        .mockResolvedValue({} as PostgresUserImportStore);
      const exportConnect = jest
        .spyOn(PostgresUserExportStore, 'connect')
        .mockResolvedValue({} as PostgresUserExportStore);
      const capture = captureLogs();
      await importMode.connect(url, {}, capture.logger, loadConfig(importEnv()));
      importConnect.mock.calls[0]?.[0].onValidatorFailure?.(quotingError);
      await exportMode.connect(
        url,
        {},
        capture.logger,
        loadExportConfig({
          MODE: 'export',
          JOB_ID: 'exp_logs',
          EXPORTS_BUCKET: s3.bucket,
          EXPORT_FILE_NAME: 'users',
          DATABASE_URL: url,
        }),
      );
      exportConnect.mock.calls[0]?.[0].onProgressFailure?.(quotingError);
      const captured = capture.stop();
      expectNamedNotQuoted(
        captured,
        'validating staged segments on a second connection failed; the completion validates them',
        (log) => log.error,
      );
      expectNamedNotQuoted(
        captured,
        'recording the export progress failed; the export goes on without it',
        (log) => log.error,
      );
    });
  });
}
