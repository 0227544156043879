import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
// The console (its server, pages and assets) loads only for `sidestep console`: every other command
// starts ~0.1 s sooner without it (a type import loads nothing).
import type { RunningConsole } from '@sidestep/console';
import { DEFAULT_CONSOLE_PORT } from '@sidestep/console/default-port';
import {
  allRejectedRows,
  createOpsContext,
  DEFAULT_JOB_LOG_LINES,
  describeExecution,
  describeJob,
  failJob,
  findMail,
  fireSchedule,
  InvalidOptionError,
  jobLogs,
  LOCAL_CLOUD,
  listAsyncFailures,
  listAudit,
  listDeadLetters,
  listExecutions,
  listJobs,
  listRejectedRows,
  listSchedules,
  MAX_JOB_LOG_LINES,
  MAX_REJECTED_ROWS_PAGE,
  type OpsContext,
  pauseSchedule,
  redriveDeadLetters,
  redriveExecution,
  reinvokeAsyncFailures,
  releaseMail,
  resumeSchedule,
  retryJob,
  startExecution,
  status,
  stopExecution,
} from '@sidestep/ops';
import { Command, InvalidArgumentError, Option } from 'commander';
import { render, visible } from './render.ts';

/**
 * The repository this CLI runs from: `npm start` keeps the local cloud's state in its `.sidestep`.
 * Three levels up from src/ and from the bundle's dist/ alike (the bin runs either).
 */
const REPOSITORY = join(import.meta.dirname, '..', '..', '..');

/** `--state-dir`, as the commands that read the local cloud's state take it. */
const STATE_DIR_HELP = "the local cloud's state dir, as given to npm start (default: <repo>/.sidestep)";

/**
 * The SMTP sink's outbox, where npm start's local cloud keeps it in its state dir (LOCAL_STATE.outbox
 * of @sidestep/local-cloud, which the CLI does not load): the console's Mail page and `mail find` read it.
 */
function outboxDir(stateDir: string | undefined): string {
  return join(resolve(stateDir ?? join(REPOSITORY, '.sidestep')), 'outbox');
}

/** The options every command takes. */
interface CommonOptions {
  readonly env: string;
  readonly json?: boolean;
  readonly databaseUrl?: string;
  readonly endpoint?: string;
}

function common(command: Command): Command {
  return command
    .addOption(
      new Option('--env <environment>', 'the environment to operate')
        .choices(['local', 'staging', 'production'])
        .default('local'),
    )
    .option('--json', 'print JSON for scripts instead of tables')
    .option(
      '--database-url <url>',
      "read the jobs ledger from this database, its URL without the password, which PGPASSWORD or ~/.pgpass holds (default: DATABASE_URL, else the local cloud's embedded database; staging/production: the environment's ops-ledger function)",
    )
    .option(
      '--endpoint <url>',
      `the AWS endpoint (default: $AWS_ENDPOINT_URL_<SERVICE> or $AWS_ENDPOINT_URL when set, else ${LOCAL_CLOUD.endpoint} for local and AWS for the others)`,
      url,
    );
}

/**
 * Refuses a `--database-url` holding a password (`user:password@`, or the `password` parameter
 * node-postgres reads from the query too: pg-connection-string's parse): a command line is every
 * local user's to read (`ps`, /proc/<pid>/cmdline) and shell history keeps it. node-postgres takes
 * the password of a URL without one from `PGPASSWORD`, else from `~/.pgpass` (pg's
 * connection-parameters.js and client.js; https://www.postgresql.org/docs/current/libpq-pgpass.html).
 * The error never repeats the URL.
 */
function refusePasswordInDatabaseUrl(value: string): void {
  let parsed: URL | undefined;
  // As pg-connection-string: a URL with no host (`user:password@/db?host=/socket`) is read with one.
  for (const candidate of [value, value.replace('@/', '@host/')]) {
    try {
      parsed = new URL(candidate);
      break;
    } catch {}
  }
  if (parsed && (parsed.password !== '' || parsed.searchParams.has('password'))) {
    throw new InvalidOptionError(
      '--database-url: the URL holds a password, which any user of this machine reads in the command line (ps) and your shell history keeps: give the URL without it, and the password in PGPASSWORD or ~/.pgpass',
      { field: 'databaseUrl' },
    );
  }
}

function url(value: string): string {
  try {
    return new URL(value).toString().replace(/\/$/, '');
  } catch {
    throw new InvalidArgumentError(`must be a URL, e.g. ${LOCAL_CLOUD.endpoint}`);
  }
}

function port(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0 || number > 65_535)
    throw new InvalidArgumentError('must be a port number (0-65535, 0 picks a free one)');
  return number;
}

function wholeNumber(value: string): number {
  const number = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(number))
    throw new InvalidArgumentError('must be a whole number');
  return number;
}

function positiveInteger(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1)
    throw new InvalidArgumentError('must be a whole number from 1');
  return number;
}

/**
 * The JSON in `file`, given as option `field`; a file that cannot be read, or is not JSON, is an
 * {@link InvalidOptionError} naming the option and the file.
 */
async function jsonFile(field: string, file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    // Node's message repeats the path (`ENOENT: no such file or directory, open '<file>'`).
    const reason = message.replace(/, \w+ '.*'$/s, '');
    throw new InvalidOptionError(`${field}: cannot read ${file}: ${reason || code}`, { field });
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new InvalidOptionError(`${field}: ${file} is not JSON: ${(error as Error).message}`, { field });
  }
}

/** What a command prints: its result, rendered as a table (or JSON with --json). */
type Action<A extends unknown[]> = (context: OpsContext, ...args: A) => Promise<unknown>;

/**
 * The `sidestep` program. `io` receives what is printed (tests pass their own); returns the exit code.
 */
export function createProgram(io: { out: (text: string) => void; err: (text: string) => void }): {
  program: Command;
  exitCode: () => number;
} {
  let code = 0;
  const program = new Command('sidestep')
    .description(
      'Operate sidestep: queues, dead letters, failed asynchronous invocations, workflow executions, jobs, mails, schedules, audit.',
    )
    .showHelpAfterError()
    .configureOutput({ writeOut: io.out, writeErr: io.err });

  /**
   * The first `limit` of `items` (read with one more than the limit), saying on stderr when more were
   * left: a listing that stops at its limit without a word reads as the whole list. The output keeps
   * its shape (a JSON array with --json).
   */
  function firstOf<T>(
    items: readonly T[],
    limit: number,
    what: string,
    more: string | ((shown: readonly T[]) => string),
  ): readonly T[] {
    if (items.length <= limit) return items;
    const shown = items.slice(0, limit);
    io.err(`showing the ${what}; there are more: ${typeof more === 'string' ? more : more(shown)}\n`);
    return shown;
  }

  /** Says `error` (as JSON with --json, else on stderr, its control characters escaped); exit code 1. */
  function fail(error: unknown, options: { readonly json?: boolean }, hint = ''): void {
    code = 1;
    const { name, message, field } = error as Error & { field?: string };
    if (options.json) io.out(`${JSON.stringify({ error: { name, message, field } }, null, 2)}\n`);
    else
      io.err(
        `error: ${visible(`${name && name !== 'Error' ? `${name}: ` : ''}${message ?? String(error)}`)}${hint}\n`,
      );
  }

  // Before any command runs: a password given in argv is refused, said as the command's errors are.
  program.hook('preAction', (_program, command) => {
    const options = command.opts<CommonOptions>();
    if (options.databaseUrl === undefined) return;
    try {
      refusePasswordInDatabaseUrl(options.databaseUrl);
    } catch (error) {
      fail(error, options);
      throw error;
    }
  });

  /**
   * The context the command's options choose. Its warnings go to stderr with their control
   * characters escaped, as errors are: one may quote what a queue's message held (reinvoke's, the
   * record's request id) or a service's answer.
   */
  function contextOf(options: CommonOptions): OpsContext {
    return createOpsContext({
      environment: options.env,
      ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}),
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      warn: (message) => io.err(`warning: ${visible(message)}\n`),
    });
  }

  /** False, said, for `--state-dir` with another environment than the local cloud: only it keeps one. */
  function localOnly(options: CommonOptions & { stateDir?: string }): boolean {
    if (options.stateDir === undefined || options.env === 'local') return true;
    io.err(`error: --state-dir: only the local cloud keeps a state dir (not --env ${options.env})\n`);
    code = 1;
    return false;
  }

  /** Runs `action` in a context built from the command's options, prints its result, records failures. */
  function run<A extends unknown[]>(kind: string, action: Action<A>) {
    return async (...args: unknown[]) => {
      const command = args.at(-1) as Command;
      const options = command.opts<CommonOptions>();
      const context = contextOf(options);
      try {
        // On AWS, a missing region is said once, naming the field, before any call fails on it.
        if (context.environment !== 'local') await context.region();
        const result = await action(context, ...(args.slice(0, -1) as A));
        io.out(`${options.json ? JSON.stringify(result, null, 2) : render(kind, result, command.opts())}\n`);
      } catch (error) {
        const { code: errno } = error as NodeJS.ErrnoException;
        const hint =
          errno === 'ECONNREFUSED' && context.environment === 'local' ? ' (is `npm start` running?)' : '';
        fail(error, options, hint);
      } finally {
        await context.close();
      }
    };
  }

  /**
   * A listing read off a queue (`<name>` the command's argument): `--limit` messages at most, read
   * with one more so a cut listing says so ({@link firstOf}).
   */
  function queueListing(
    command: Command,
    kind: string,
    list: (context: OpsContext, name: string, limit: number) => Promise<readonly unknown[]>,
    words: { readonly what: string; readonly elsewhere: string },
  ): void {
    command
      .option('--limit <n>', `most ${words.what} to read`, positiveInteger, 100)
      .action(
        run(kind, async (context, name: string, options: { limit: number }) =>
          firstOf(
            await list(context, name, options.limit + 1),
            options.limit,
            `first ${options.limit} ${words.what}`,
            `--limit ${options.limit * 2}, or ${words.elsewhere}`,
          ),
        ),
      );
  }

  common(program.command('status').description('queues, workflows, schedules and jobs on one screen')).action(
    run('status', (context) => status(context)),
  );

  const dlq = program.command('dlq').description('dead-letter queues');
  queueListing(
    common(dlq.command('show <queue>').description('the dead letters of <queue> with why each failed')),
    'dlq-show',
    (context, queue, limit) => listDeadLetters(context, queue, { limit }),
    { what: 'dead letters', elsewhere: "status for the queue's depth" },
  );
  common(dlq.command('redrive <queue>').description('move the dead letters of <queue> back to it'))
    .option('--dry-run', "check every message against today's contracts; move nothing")
    .option('--rate <n>', 'messages per second (1-500)', positiveInteger)
    .action((queue: string, options: { dryRun?: boolean; rate?: number; json?: boolean }, command: Command) =>
      run('dlq-redrive', (context) =>
        redriveDeadLetters(context, queue, {
          ...(options.dryRun ? { dryRun: true } : {}),
          ...(options.rate ? { rate: options.rate } : {}),
          onProgress: (progress) => {
            if (!options.json) {
              io.err(
                `${progress.status} moved ${progress.moved}${progress.toMove === null ? '' : ` of ${progress.toMove}`}\n`,
              );
            }
          },
        }),
      )(command),
    );

  const asyncFailures = program
    .command('async-failures')
    .description(
      "failed asynchronous invocations (a schedule's or a rule's) kept in a service's on-failure queue",
    );
  queueListing(
    common(
      asyncFailures
        .command('show <service>')
        .description(
          'the failed asynchronous invocations of <service>: when, why, attempts, what invoked it',
        ),
    ),
    'async-failures-show',
    (context, service, limit) => listAsyncFailures(context, service, { limit }),
    { what: 'failed invocations', elsewhere: 'status for the count' },
  );
  common(
    asyncFailures
      .command('reinvoke <service> [requestIds...]')
      .description(
        'invoke <service> again, asynchronously, with the events of the given records (or --all), and delete each record once re-invoked',
      ),
  )
    .option('--all', 'every record in the queue')
    .action(
      run(
        'async-failures-reinvoke',
        (context, service: string, requestIds: string[], options: { all?: boolean }) =>
          reinvokeAsyncFailures(context, service, {
            requestIds,
            ...(options.all ? { all: true } : {}),
          }),
      ),
    );

  common(
    program
      .command('executions <workflow>')
      .description('executions of <workflow> (import, export), newest first'),
  )
    .option('--status <status>', 'RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED')
    .option('--since <duration>', 'started within, like 24h, 30m, 7d')
    .option('--limit <n>', 'most executions', positiveInteger, 100)
    .action(
      run(
        'executions',
        async (context, workflow: string, options: { status?: string; since?: string; limit: number }) =>
          firstOf(
            await listExecutions(context, workflow, {
              ...(options.status ? { status: options.status } : {}),
              ...(options.since ? { since: options.since } : {}),
              limit: options.limit + 1,
            }),
            options.limit,
            `first ${options.limit} executions (newest first)`,
            `--limit ${options.limit * 2}, --status or --since`,
          ),
      ),
    );
  common(program.command('execution <nameOrArn>').description('one execution, step by step'))
    .option('--data', 'also print input and output')
    .action(run('execution', (context, nameOrArn: string) => describeExecution(context, nameOrArn)));
  common(program.command('redrive <execution>').description('RedriveExecution of a failed execution')).action(
    run('redrive', (context, execution: string) => redriveExecution(context, execution)),
  );
  common(
    program
      .command('stop <execution>')
      .description(
        'StopExecution of a running execution: its task is stopped and its job fails, mailed (a job that had already succeeded keeps its result, and its success mail is sent); says which',
      ),
  )
    .requiredOption('--cause <text>', "why, recorded with the stop and in the job's failure reason")
    .action(
      run('stop', (context, execution: string, options: { cause: string }) =>
        stopExecution(context, execution, options.cause),
      ),
    );
  common(program.command('start <workflow>').description('start <workflow> by hand'))
    .requiredOption('--input <file>', 'the execution input, a JSON file')
    .option('--name <name>', 'the execution name')
    .action(
      run('start', async (context, workflow: string, options: { input: string; name?: string }) =>
        startExecution(context, workflow, await jsonFile('input', options.input), {
          ...(options.name ? { name: options.name } : {}),
        }),
      ),
    );

  common(program.command('jobs').description('the jobs ledger, newest first'))
    .option('--status <state>', 'registered, running, succeeded or failed')
    .option('--kind <kind>', 'import or export')
    .option('--limit <n>', 'most jobs per page', positiveInteger, 100)
    .option('--after <cursor>', "the next page: the previous page's cursor")
    .action(
      run('jobs', (context, options: { status?: string; kind?: string; limit: number; after?: string }) =>
        listJobs(context, {
          ...(options.status ? { status: options.status } : {}),
          ...(options.kind ? { kind: options.kind } : {}),
          ...(options.after ? { after: options.after } : {}),
          limit: options.limit,
        }),
      ),
    );
  const job = program.command('job').description('one job: show (default), retry, fail, logs, rejected');
  common(
    job
      .command('show <jobId>', { isDefault: true })
      .description('a job with transitions, executions and mails'),
  ).action(run('job', (context, jobId: string) => describeJob(context, jobId)));
  common(
    job.command('retry <jobId>').description('run a failed job again (a new execution, attempt n+1)'),
  ).action(run('job-retry', (context, jobId: string) => retryJob(context, jobId)));
  common(
    job
      .command('fail <jobId>')
      .description('end a job stuck registered or running whose task is gone, and mail its failure'),
  )
    .requiredOption('--reason <text>', 'why, recorded on the job')
    .action(
      run('job-fail', (context, jobId: string, options: { reason: string }) =>
        failJob(context, jobId, options.reason),
      ),
    );

  common(
    job
      .command('logs <jobId>')
      .description(
        "every line the functions and the batch task logged about a job (its id, or an execution's ARN), oldest first",
      ),
  )
    .option('--limit <n>', `most lines (up to ${MAX_JOB_LOG_LINES})`, positiveInteger, DEFAULT_JOB_LOG_LINES)
    .action(
      run('job-logs', (context, jobId: string, options: { limit: number }) =>
        jobLogs(context, jobId, { limit: options.limit }),
      ),
    );

  common(
    job
      .command('rejected <jobId>')
      .description('every row a completed import left out: line, field and reason, in line order'),
  )
    .option('--limit <n>', `most rows per page (up to ${MAX_REJECTED_ROWS_PAGE})`, positiveInteger, 100)
    .option('--after <line>', "the next page: the previous page's last line", wholeNumber)
    .option('--csv', 'every row as CSV (line,field,message), all pages, for a spreadsheet or a script')
    .action(
      run(
        'job-rejected',
        (context, jobId: string, options: { limit: number; after?: number; csv?: boolean }) => {
          const after = options.after === undefined ? {} : { after: options.after };
          return options.csv
            ? allRejectedRows(context, jobId, after)
            : listRejectedRows(context, jobId, { limit: options.limit, ...after });
        },
      ),
    );

  const mail = program.command('mail').description("mails' send-once records");
  common(
    mail
      .command('find <idempotencyKey>')
      .description(
        "whether a mail with that key went out (SES's records of it on AWS, the outbox locally), and whether to release it",
      ),
  )
    .option('--state-dir <dir>', STATE_DIR_HELP)
    .action((key: string, options: CommonOptions & { stateDir?: string }, command: Command) => {
      if (!localOnly(options)) return;
      return run('mail-find', (context) =>
        findMail(
          context,
          key,
          context.environment === 'local' ? { outboxDir: outboxDir(options.stateDir) } : {},
        ),
      )(key, command);
    });
  common(
    mail
      .command('release <idempotencyKey>')
      .description(
        'release the INPROGRESS record of a mail NOT delivered, so a redrive sends it: refused when mail find says it was sent, or cannot tell',
      ),
  )
    .option('--force', 'release without the search first (checked by hand: a mail sent would be sent again)')
    .option('--state-dir <dir>', STATE_DIR_HELP)
    .action(
      (key: string, options: CommonOptions & { force?: boolean; stateDir?: string }, command: Command) => {
        if (!localOnly(options)) return;
        return run('mail-release', (context) =>
          releaseMail(context, key, {
            ...(options.force ? { force: true } : {}),
            ...(context.environment === 'local' ? { outboxDir: outboxDir(options.stateDir) } : {}),
          }),
        )(key, command);
      },
    );

  common(program.command('schedules').description('schedules with their next fire time')).action(
    run('schedules', (context) => listSchedules(context)),
  );
  common(
    program.command('fire <schedule>').description('fire <schedule> now (the operator event path)'),
  ).action(run('fire', (context, schedule: string) => fireSchedule(context, schedule)));
  common(
    program.command('pause <schedule>').description('pause <schedule> (Scheduler state DISABLED)'),
  ).action(run('pause', (context, schedule: string) => pauseSchedule(context, schedule)));
  common(
    program.command('resume <schedule>').description('resume <schedule> (Scheduler state ENABLED)'),
  ).action(run('resume', (context, schedule: string) => resumeSchedule(context, schedule)));
  common(program.command('audit').description('what operators did, newest first'))
    .option('--limit <n>', 'most entries', positiveInteger, 100)
    .option('--before <id>', 'entries older than this id (the next page)', positiveInteger)
    .action(
      run('audit', async (context, options: { limit: number; before?: number }) => {
        const before = options.before ? { before: options.before } : {};
        const entries = await listAudit(context, { limit: options.limit, ...before });
        // A full page asks for the entry after it on its own, rather than for one more than --limit:
        // the ops-ledger contract serves at most 500 a read, which a page of 500 would pass.
        const last = entries.at(-1);
        if (entries.length === options.limit && last) {
          entries.push(...(await listAudit(context, { limit: 1, before: last.id })));
        }
        return firstOf(
          entries,
          options.limit,
          `newest ${options.limit} audit entries`,
          (shown) => `--before ${shown.at(-1)?.id}`,
        );
      }),
    );

  common(
    program
      .command('console')
      .description(
        'serve the operator web console for the environment, with your own credentials (nothing is deployed for it)',
      ),
  )
    .option('--port <port>', 'port on 127.0.0.1 (0 picks a free one)', port, DEFAULT_CONSOLE_PORT)
    .option('--state-dir <dir>', `${STATE_DIR_HELP}: the Mail page shows its outbox/`)
    .action(async (options: CommonOptions & { port: number; stateDir?: string }) => {
      if (!localOnly(options)) return;
      const context = contextOf(options);
      // Live pages re-read the environment while open: every 3 s locally, every 10 s from AWS's APIs.
      const { startConsole } = await import('@sidestep/console');
      let running: RunningConsole;
      try {
        running = await startConsole({
          context,
          port: options.port,
          refreshMs: context.environment === 'local' ? 3000 : 10_000,
          // On AWS mail goes out through SES: no outbox.
          ...(context.environment === 'local' ? { outboxDir: outboxDir(options.stateDir) } : {}),
        });
      } catch (error) {
        // Said here: an action's error that reaches main() ends the process with 1 and no word.
        await context.close();
        code = 1;
        const { name, message, code: errno } = error as NodeJS.ErrnoException;
        io.err(
          errno === 'EADDRINUSE'
            ? `error: port ${options.port} (console) is already in use: stop what listens there, or pick another with --port (0 picks a free one)\n`
            : `error: ${visible(`${name && name !== 'Error' ? `${name}: ` : ''}${message ?? String(error)}`)}\n`,
        );
        return;
      }
      // The URL carries this run's secret: whoever opens it is signed in as the operator.
      io.out(
        `sidestep console for ${context.environment} at ${running.url}\nOpening it signs a browser in; keep it to yourself. Ctrl-C stops it.\n`,
      );
      // Serves until interrupted; the process then ends with the console and its clients closed.
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await running.close();
      await context.close();
    });

  return { program, exitCode: () => code };
}

/** Runs the CLI on `argv` (as `process.argv`); returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const { program, exitCode } = createProgram({
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
  });
  program.exitOverride();
  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    const { exitCode: commanderCode } = error as { exitCode?: number };
    return commanderCode ?? 1;
  }
  return exitCode();
}
