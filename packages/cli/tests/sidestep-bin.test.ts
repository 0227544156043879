import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it, jest } from '@jest/globals';
import { signIn } from '@sidestep/console/testing';
import { sampleImportStaging, sampleJobDetail } from '@sidestep/ledger/testing';
import { QUEUES } from '@sidestep/ops';
import { BUNDLE_INPUTS, type BundleInputs, freshBundle } from '../src/fresh-bundle.ts';
import { render } from '../src/render.ts';
import { table, when } from '../src/table.ts';

// Most tests here run the bin, often several times: up to 25 s each on one core (the password test),
// half that on two. Room for a slower machine than these.
jest.setTimeout(60_000);

const BIN = join(import.meta.dirname, '..', 'bin', 'sidestep.ts');

/** Runs the real bin with the workspace's Node; nothing here reaches the network. */
function sidestep(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return sidestepWith({}, ...args);
}

function sidestepWith(
  env: Record<string, string>,
  ...args: string[]
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return sidestepIn({ ...process.env, NO_COLOR: '1', ...env }, ...args);
}

/** Runs the bin with exactly `env` (nothing of this process's). */
function sidestepIn(
  env: Record<string, string | undefined>,
  ...args: string[]
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

/**
 * An HTTP server on loopback (the endpoint `--endpoint` takes) answering each request, its body read
 * whole, with `answer`.
 */
async function onLoopback(
  answer: (request: IncomingMessage, body: string, response: ServerResponse) => void,
): Promise<{ readonly endpoint: string; close(): void }> {
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    request.on('end', () => answer(request, body, response));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: () => server.close(),
  };
}

/**
 * SQS on loopback (its JSON protocol) holding a message for each of `bodies`, each handed out once by
 * ReceiveMessage (at most MaxNumberOfMessages a call) of whichever queue is read; a message move task
 * that moved them all (StartMessageMoveTask, then ListMessageMoveTasks: COMPLETED); and Lambda's
 * Invoke, which accepts every event (202). `actions` are the SQS actions called, in order.
 */
function sqsHolding(
  ...bodies: string[]
): Promise<{ readonly endpoint: string; readonly actions: readonly string[]; close(): void }> {
  return sqsHoldingWith({}, ...bodies);
}

/** What {@link sqsHoldingWith} answers other than {@link sqsHolding} does. */
interface SqsStandIn {
  /** How the message move task ended, as ListMessageMoveTasks lists it. @default COMPLETED, all moved */
  readonly moveTask?: {
    readonly Status: string;
    readonly FailureReason?: string;
    readonly ApproximateNumberOfMessagesMoved: number;
  };
  /**
   * The staging environment's too, as {@link stagingOnLoopback} answers it: STS's GetCallerIdentity,
   * and the ops-ledger function, each request of which is pushed here and answered with `null`.
   */
  readonly ledger?: LedgerRequest[];
}

/** {@link sqsHolding}, its answers changed as `standIn` says. */
async function sqsHoldingWith(
  standIn: SqsStandIn,
  ...bodies: string[]
): Promise<{ readonly endpoint: string; readonly actions: readonly string[]; close(): void }> {
  const messages = bodies.map((body, index) => ({
    MessageId: `m-${index + 1}`,
    ReceiptHandle: `rh-${index + 1}`,
    Body: body,
    MD5OfBody: createHash('md5').update(body).digest('hex'),
    Attributes: { ApproximateReceiveCount: '1', SentTimestamp: String(Date.now() - 5000) },
  }));
  let received = 0;
  const actions: string[] = [];
  const server = await onLoopback((request, input, response) => {
    const { ledger } = standIn;
    if (ledger && request.url?.startsWith('/2015-03-31/functions/sidestep-staging-ops-ledger/')) {
      ledger.push(JSON.parse(input) as LedgerRequest);
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ ok: true, result: null }));
      return;
    }
    if (request.url?.startsWith('/2015-03-31/functions/')) {
      response.writeHead(202, { 'x-amzn-requestid': 'new-invocation' }).end();
      return;
    }
    if (ledger && request.headers['x-amz-target'] === undefined) {
      response.writeHead(200, { 'content-type': 'text/xml' }).end(CALLER_IDENTITY);
      return;
    }
    const target =
      String(request.headers['x-amz-target'] ?? '')
        .split('.')
        .at(-1) ?? '';
    actions.push(target);
    const {
      QueueName,
      QueueUrl,
      MaxNumberOfMessages = 1,
    } = JSON.parse(input || '{}') as {
      QueueName?: string;
      QueueUrl?: string;
      MaxNumberOfMessages?: number;
    };
    const answers: Record<string, () => unknown> = {
      GetQueueUrl: () => ({ QueueUrl: `http://${request.headers.host}/000000000000/${QueueName}` }),
      GetQueueAttributes: () => ({
        Attributes: { QueueArn: `arn:aws:sqs:us-east-1:000000000000:${QueueUrl?.split('/').at(-1)}` },
      }),
      ReceiveMessage: () => {
        const handed = messages.slice(received, received + MaxNumberOfMessages);
        received += handed.length;
        return { Messages: handed };
      },
      StartMessageMoveTask: () => ({ TaskHandle: 'task-1' }),
      ListMessageMoveTasks: () => ({
        Results: [
          {
            TaskHandle: 'task-1',
            ...(standIn.moveTask ?? { Status: 'COMPLETED', ApproximateNumberOfMessagesMoved: bodies.length }),
            ApproximateNumberOfMessagesToMove: bodies.length,
          },
        ],
      }),
    };
    const answer = answers[target]?.() ?? { Successful: [], Failed: [] };
    response.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' }).end(JSON.stringify(answer));
  });
  return { ...server, actions };
}

/**
 * The bin run against `server`'s endpoint (the local environment), with a ledger database that refuses
 * its connections: an action's audit entry is not written, and a warning says so.
 */
function sidestepOn(server: { readonly endpoint: string }, ...args: string[]) {
  return sidestep(
    ...args,
    '--endpoint',
    server.endpoint,
    '--database-url',
    'postgres://sidestep@127.0.0.1:1/sidestep',
  );
}

/** A request the `ops-ledger` function is invoked with (a query, or an action through its alias). */
type LedgerRequest = { readonly op: string } & Record<string, unknown>;

/** STS's GetCallerIdentity answer (its Query protocol, XML): the operator an action is recorded as. */
const CALLER_IDENTITY =
  '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>' +
  '<Arn>arn:aws:sts::000000000000:assumed-role/operator/tester</Arn><UserId>AROA:tester</UserId>' +
  '<Account>000000000000</Account></GetCallerIdentityResult></GetCallerIdentityResponse>';

/** The bin run against `server`'s endpoint as the staging environment, with credentials that reach nothing else. */
function sidestepOnStaging(server: { readonly endpoint: string }, ...args: string[]) {
  return sidestepWith(
    {
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_REGION: 'us-east-1',
      AWS_PROFILE: '',
    },
    ...args,
    '--env',
    'staging',
    '--endpoint',
    server.endpoint,
  );
}

/**
 * The staging environment on loopback, as `--env staging --endpoint` reaches it: the ops-ledger
 * function's Lambda Invoke, recording each request and answering `{ ok: true, result }` with
 * `answer(request)`, the JSON-protocol actions of `actions` (SQS, CloudWatch Logs: by the action its
 * `X-Amz-Target` names, answered with what it returns for the request's input), and STS's
 * GetCallerIdentity ({@link CALLER_IDENTITY}). `sidestep` runs the bin against it ({@link sidestepOnStaging}).
 */
async function stagingOnLoopback(
  answer: (request: LedgerRequest) => unknown,
  actions: Readonly<Record<string, (input: Record<string, unknown>) => unknown>> = {},
) {
  const requests: LedgerRequest[] = [];
  const server = await onLoopback((request, body, response) => {
    const action =
      actions[
        String(request.headers['x-amz-target'] ?? '')
          .split('.')
          .at(-1) ?? ''
      ];
    if (action) {
      response
        .writeHead(200, { 'content-type': String(request.headers['content-type']) })
        .end(JSON.stringify(action(JSON.parse(body || '{}') as Record<string, unknown>)));
      return;
    }
    if (!request.url?.startsWith('/2015-03-31/functions/')) {
      response.writeHead(200, { 'content-type': 'text/xml' }).end(CALLER_IDENTITY);
      return;
    }
    const query = JSON.parse(body) as LedgerRequest;
    requests.push(query);
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ ok: true, result: answer(query) ?? null }));
  });
  return {
    requests,
    sidestep: (...args: string[]) => sidestepOnStaging(server, ...args),
    close: server.close,
  };
}

describe('the sidestep bin', () => {
  /** The files under the workspace a run of the bin loads (its dependencies' too), relative to it. */
  async function filesLoaded(env: Record<string, string>, ...args: string[]): Promise<string[]> {
    const fixture = join(import.meta.dirname, 'fixtures', 'report-loaded-files.mjs');
    const { code, stderr } = await sidestepWith({ NODE_OPTIONS: `--import=${fixture}`, ...env }, ...args);
    expect(code).toBe(0);
    const workspace = `${pathToFileURL(join(import.meta.dirname, '..', '..', '..')).href}/`;
    return (JSON.parse(stderr.match(/^loaded: (.*)$/m)?.[1] ?? '[]') as string[])
      .filter((url) => url.startsWith(workspace))
      .map((url) => url.slice(workspace.length));
  }

  it('runs its bundle while the bundle is current: of its own files only the bin and the freshness check load', async () => {
    // The bundle `turbo run build` made before these tests (build.ts); each case of a stale one is
    // in fresh-bundle.test.ts.
    const packageDir = join(import.meta.dirname, '..');
    if (freshBundle(packageDir) === undefined) {
      throw new Error('no current bundle of the CLI: build it first (turbo run build, as npm test does)');
    }
    const loaded = await filesLoaded({}, '--help');
    expect(loaded).toContain('packages/cli/dist/index.mjs');
    expect(loaded.filter((path) => !path.startsWith('packages/cli/dist/'))).toEqual([
      'packages/cli/bin/sidestep.ts',
      'packages/cli/src/fresh-bundle.ts',
    ]);
  });

  it("records as the bundle's sources the workspace's files it inlines, their packages, the lockfile and what builds it, no dependency's file", () => {
    const packageDir = join(import.meta.dirname, '..');
    const record = JSON.parse(readFileSync(join(packageDir, BUNDLE_INPUTS), 'utf8')) as BundleInputs;
    const paths = record.sources.map(([path]) => path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'src/main.ts',
        '../ops/src/index.ts',
        '../ops/package.json',
        '../console/src/console-server.ts',
        '../../pnpm-lock.yaml',
        'build.ts',
        'tsconfig.json',
        '../../tsconfig.base.json',
        '../bundle/src/bundle-service.ts',
      ]),
    );
    expect(paths.filter((path) => path.includes('node_modules') || path.includes(':'))).toEqual([]);
    expect(record.outputs.map(([path]) => path)).toContain('dist/index.mjs');
    expect(record.node).toBe(process.version);
  });

  it('runs its sources, not the bundle, with SIDESTEP_CLI_FROM_SOURCE=1', async () => {
    const loaded = await filesLoaded({ SIDESTEP_CLI_FROM_SOURCE: '1' }, '--help');
    expect(loaded).toContain('packages/cli/src/main.ts');
    expect(loaded).toContain('packages/ops/src/index.ts');
    expect(loaded.filter((path) => path.startsWith('packages/cli/dist/'))).toEqual([]);
  });

  it("keeps Node's compile cache of its modules in the temporary directory, for the next run", async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'sidestep-cli-'));
    try {
      const environment = { TMPDIR: tmp, NODE_COMPILE_CACHE: '' };
      const { code } = await sidestepWith(environment, '--help');
      expect(code).toBe(0);
      // <tmpdir>/node-compile-cache/<node version, arch, V8 tag, uid>/<one file per module>
      const cache = join(tmp, 'node-compile-cache');
      const [versionDir] = readdirSync(cache);
      expect(readdirSync(join(cache, versionDir ?? '')).length).toBeGreaterThan(10);
      // Switched off as Node documents it.
      rmSync(cache, { recursive: true });
      await sidestepWith({ ...environment, NODE_DISABLE_COMPILE_CACHE: '1' }, '--help');
      expect(existsSync(cache)).toBe(false);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('lists the schedules with their next fire time in their own time zone', async () => {
    const { code, stdout } = await sidestep('schedules');
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /nightly-export\s+ENABLED\s+cron\(0 3 \* \* \? \*\)\s+\d{4}-\d\d-\d\d 03:00 Asia\/Tokyo/,
    );
    expect(stdout).not.toContain('\u001b[');
  });

  it('names the field of an undeclared queue, as JSON with --json, and exits 1', async () => {
    const { code, stdout } = await sidestep('dlq', 'show', 'mails', '--json');
    expect(code).toBe(1);
    expect(JSON.parse(stdout)).toEqual({
      error: {
        name: 'UnknownNameError',
        field: 'queue',
        message: expect.stringContaining(`declared: ${QUEUES.join(', ')}`),
      },
    });
  });

  it('shows the control characters of what it was given as escapes in its error', async () => {
    const { code, stderr } = await sidestep('dlq', 'show', 'mails\u001b[2K\rall good');
    expect(code).toBe(1);
    expect(stderr).toContain('mails\\u001b[2K\\rall good');
    expect(stderr).not.toContain('\u001b');
  });

  it('stops an execution only with a cause, naming the field, before calling anything', async () => {
    const { code, stdout } = await sidestep('stop', 'imp-1', '--cause', ' ', '--json');
    expect(code).toBe(1);
    expect(JSON.parse(stdout)).toMatchObject({ error: { name: 'InvalidOptionError', field: 'cause' } });
    const missing = await sidestep('stop', 'imp-1');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("required option '--cause <text>' not specified");
  });

  it('names --input and its file when the file cannot be read or is not JSON, before calling anything', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sidestep-input-'));
    try {
      const bad = join(dir, 'bad.json');
      writeFileSync(bad, '{a: 1}');
      const shown = await sidestep('start', 'import', '--input', bad);
      expect(shown.code).toBe(1);
      expect(shown.stderr).toContain(
        `error: InvalidOptionError: input: ${bad} is not JSON: Expected property name or '}' in JSON at position 1`,
      );
      const missing = join(dir, 'missing.json');
      const json = await sidestep('start', 'import', '--input', missing, '--json');
      expect(json.code).toBe(1);
      expect(JSON.parse(json.stdout)).toEqual({
        error: {
          name: 'InvalidOptionError',
          field: 'input',
          message: `input: cannot read ${missing}: ENOENT: no such file or directory`,
        },
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says when executions stop at --limit with more left, and not when they do not; --status filters them', async () => {
    // Step Functions' JSON API on loopback: three executions, run-2 FAILED, in pages of what maxResults
    // asks, of the status statusFilter asks
    // (https://docs.aws.amazon.com/step-functions/latest/apireference/API_ListExecutions.html).
    const executions = [3, 2, 1].map((n) => ({
      executionArn: `arn:aws:states:us-east-1:000000000000:execution:sidestep-local-import:run-${n}`,
      stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:sidestep-local-import',
      name: `run-${n}`,
      status: n === 2 ? 'FAILED' : 'SUCCEEDED',
      startDate: 1_764_900_000 + n,
    }));
    const server = await onLoopback((_request, body, response) => {
      const {
        maxResults = 100,
        nextToken,
        statusFilter,
      } = JSON.parse(body) as {
        maxResults?: number;
        nextToken?: string;
        statusFilter?: string;
      };
      const listed = executions.filter((execution) => !statusFilter || execution.status === statusFilter);
      const from = Number(nextToken ?? 0);
      const page = listed.slice(from, from + maxResults);
      const next = from + maxResults < listed.length ? { nextToken: String(from + maxResults) } : {};
      response.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
      response.end(JSON.stringify({ executions: page, ...next }));
    });
    try {
      const { endpoint } = server;
      const cut = await sidestep('executions', 'import', '--limit', '2', '--endpoint', endpoint);
      expect(cut.code).toBe(0);
      expect(cut.stdout).toContain('run-2');
      expect(cut.stdout).not.toContain('run-1');
      expect(cut.stderr).toContain(
        'showing the first 2 executions (newest first); there are more: --limit 4',
      );
      const whole = await sidestep('executions', 'import', '--limit', '3', '--endpoint', endpoint);
      expect(whole.stdout).toContain('run-1');
      expect(whole.stderr).toBe('');
      const failed = await sidestep('executions', 'import', '--status', 'FAILED', '--endpoint', endpoint);
      expect(failed.code).toBe(0);
      expect(failed.stdout).toMatch(/^run-2\s+FAILED\s/m);
      expect(failed.stdout).not.toMatch(/run-[13]/);
    } finally {
      server.close();
    }
  });

  it("shows a dead letter's control characters as escapes, never sending them to the terminal", async () => {
    // A dead letter's body is whatever a producer sent (that is often why it is dead): escape sequences
    // in its type or id would hide text (ESC[8m), rewrite the line (CR, ESC[2K) or set the clipboard
    // (OSC 52) in the operator's terminal.
    const ESC = '\u001b';
    const body = JSON.stringify({
      type: `mail.send${ESC}[8m`,
      id: `x${ESC}]52;c;Y3VybA==\u0007\rall good\u009b2K`,
      payload: {},
    });
    const server = await sqsHolding(body);
    try {
      const shown = await sidestep('dlq', 'show', 'mail', '--endpoint', server.endpoint);
      expect(shown.stderr).toBe('');
      expect(shown.code).toBe(0);
      // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what must not be printed
      expect(shown.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
      expect(shown.stdout).toContain('mail.send\\u001b[8m');
      expect(shown.stdout).toContain('x\\u001b]52;c;Y3VybA==\\u0007\\rall good\\u009b2K');
    } finally {
      server.close();
    }
  });

  it("shows the control characters of a warning as escapes too: reinvoke's names the record's request id", async () => {
    // The request id comes from the record's body (in the queue of a loopback SQS); the ledger's
    // database refuses the connection, so the audit entry is not written and the warning names it.
    const requestId = 'req-1\u001b[8m\rall good';
    const body = JSON.stringify({ requestContext: { requestId }, requestPayload: {} });
    const server = await sqsHolding(body);
    try {
      const { code, stdout, stderr } = await sidestepOn(
        server,
        'async-failures',
        'reinvoke',
        'job-sweeper',
        '--all',
      );
      expect(code).toBe(0);
      expect(stdout).toContain('1 re-invoked');
      expect(stderr).toContain('warning: not recorded in the audit trail');
      expect(stderr).toContain('job-sweeper:req-1\\u001b[8m\\rall good');
      // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what must not be printed
      expect(stderr).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    } finally {
      server.close();
    }
  });

  it('pages the audit trail by id: an id column, and the --before that shows the next page', async () => {
    // The ops-ledger function holding entries 5 (newest) to 1.
    const staging = await stagingOnLoopback((query) =>
      [5, 4, 3, 2, 1]
        .filter((id) => id < Number(query.before ?? 6))
        .slice(0, Number(query.limit))
        .map((id) => ({
          id,
          at: `2026-12-05T01:00:0${id}.000Z`,
          operator: 'local:tester',
          environment: 'staging',
          action: 'schedule-fire',
          target: `schedule-${id}`,
          details: {},
          result: 'ok',
          error: null,
        })),
    );
    const { requests } = staging;
    const audit = (...args: string[]) => staging.sidestep('audit', ...args);
    try {
      const first = await audit('--limit', '2');
      expect(first.code).toBe(0);
      const lines = first.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^id\s+at\s+operator/);
      expect(lines.slice(1).map((line) => line.split(/\s+/)[0])).toEqual(['5', '4']);
      expect(first.stderr).toBe('showing the newest 2 audit entries; there are more: --before 4\n');
      const next = await audit('--limit', '2', '--before', '4');
      expect(next.stdout).toMatch(/^3\s+2026-12-05T01:00:03Z\s+local:tester/m);
      expect(next.stderr).toContain('there are more: --before 2');
      const last = await audit('--limit', '2', '--before', '2');
      expect(last.stdout).toMatch(/^1\s/m);
      expect(last.stderr).toBe('');
      expect(requests.slice(0, 2)).toEqual([
        { op: 'audit.list', limit: 2 },
        { op: 'audit.list', limit: 1, before: 4 },
      ]);
      // The ops-ledger contract serves at most 500 a read: a page of 500 asks for no more than that.
      const most = await audit('--limit', '500');
      expect(most.code).toBe(0);
      expect(most.stderr).toBe('');
      expect(requests.at(-1)).toEqual({ op: 'audit.list', limit: 500 });
    } finally {
      staging.close();
    }
  });

  it('refuses an environment it does not know', async () => {
    const { code, stderr } = await sidestep('status', '--env', 'prod');
    expect(code).not.toBe(0);
    expect(stderr).toContain("'prod' is invalid");
  });

  // With neither AWS_REGION nor a region in the profile, every command says so once, naming the
  // field, where most failed on the SDK's bare "Region is missing" (status after a ledger warning).
  it('refuses an AWS environment without a region, naming the field, before calling anything', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sidestep-no-region-'));
    try {
      writeFileSync(join(dir, 'config'), '[default]\n');
      const env = {
        ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('AWS_'))),
        NO_COLOR: '1',
        AWS_CONFIG_FILE: join(dir, 'config'),
        AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials'),
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_ACCESS_KEY_ID: 'x',
        AWS_SECRET_ACCESS_KEY: 'y',
      };
      for (const command of [['dlq', 'show', 'mail'], ['status']]) {
        const { code, stderr } = await sidestepIn(
          env,
          ...command,
          '--env',
          'staging',
          '--endpoint',
          'http://127.0.0.1:9',
        );
        expect(code).toBe(1);
        expect(stderr).toMatch(
          /^error: InvalidOptionError: no AWS region for --env staging: set AWS_REGION, or a region in your AWS profile/m,
        );
        expect(stderr).not.toContain('warning');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // Every read of `status` goes through the AWS SDK's clients (the queues' ages too, from CloudWatch),
  // whose refused connection names the endpoint's address.
  it('says which endpoint refused the connection when the local cloud is down, and asks whether npm start runs', async () => {
    const closed = await onLoopback(() => undefined);
    closed.close();
    const endpoint = closed.endpoint;
    const down = (...args: string[]) =>
      sidestep(
        'status',
        '--endpoint',
        endpoint,
        '--database-url',
        'postgres://sidestep@127.0.0.1:1/sidestep',
        ...args,
      );
    const port = new URL(endpoint).port;
    const shown = await down();
    expect(shown.code).toBe(1);
    expect(shown.stdout).toBe('');
    expect(shown.stderr).toMatch(
      new RegExp(
        `^error: connect ECONNREFUSED 127\\.0\\.0\\.1:${port} \\(is \`npm start\` running\\?\\)$`,
        'm',
      ),
    );
    const json = await down('--json');
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual({
      error: { name: 'Error', message: `connect ECONNREFUSED 127.0.0.1:${port}` },
    });
    expect(JSON.parse(json.stdout).error.message).toContain(`ECONNREFUSED 127.0.0.1:${port}`);
  });

  it('says pause is unsupported locally', async () => {
    const { code, stderr } = await sidestep('pause', 'nightly-export');
    expect(code).toBe(1);
    expect(stderr).toContain('UnsupportedLocallyError');
  });

  it('exits 1 for a command it does not know and without a command, 0 for --help', async () => {
    const unknown = await sidestep('nope');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("error: unknown command 'nope'");
    const bare = await sidestep();
    expect(bare.code).toBe(1);
    expect(bare.stderr).toContain('Usage: sidestep [options] [command]');
    expect((await sidestep('--help')).code).toBe(0);
  });

  it('refuses a --limit of 0, naming the option', async () => {
    for (const args of [['dlq', 'show', 'mail'], ['jobs'], ['executions', 'import']]) {
      const { code, stdout, stderr } = await sidestep(...args, '--limit', '0');
      expect(code).toBe(1);
      expect(stdout).toBe('');
      expect(stderr).toContain(
        "error: option '--limit <n>' argument '0' is invalid. must be a whole number from 1",
      );
    }
  });

  // argv is every local user's to read (`ps`, /proc/<pid>/cmdline), and shell history keeps it.
  it('refuses a --database-url holding a password, naming the option and PGPASSWORD, never echoing the password', async () => {
    for (const url of [
      'postgres://ops:s3cr%40t@127.0.0.1:1/sidestep',
      'postgres://ops@127.0.0.1:1/sidestep?sslmode=require&password=s3cr%40t',
      'postgresql://ops:s3cr%40t@/sidestep?host=/var/run/postgresql',
    ]) {
      for (const args of [['jobs'], ['status', '--json'], ['console', '--port', '0']]) {
        const { code, stdout, stderr } = await sidestep(...args, '--database-url', url);
        expect(code).toBe(1);
        const said = args.includes('--json') ? JSON.parse(stdout).error : { stderr };
        expect(args.includes('--json') ? stderr : stdout).toBe('');
        expect(JSON.stringify(said)).not.toContain('s3cr');
        if (args.includes('--json')) {
          expect(said).toEqual({
            name: 'InvalidOptionError',
            field: 'databaseUrl',
            message: expect.stringMatching(/^--database-url: .*password.*PGPASSWORD.*~\/\.pgpass/),
          });
        } else {
          expect(stderr).toMatch(/^error: InvalidOptionError: --database-url: .*password.*PGPASSWORD/);
        }
      }
    }
  });

  // node-postgres takes the password of a URL without one from PGPASSWORD (or ~/.pgpass): the server
  // answering past authentication (here: a database no migration ran on) shows it was sent.
  const serverUrl = process.env.TEST_DATABASE_URL;
  (serverUrl ? it : it.skip)(
    'connects with the password in PGPASSWORD when --database-url has none (TEST_DATABASE_URL)',
    async () => {
      const server = new URL(serverUrl ?? '');
      const password = decodeURIComponent(server.password);
      server.password = '';
      const jobs = (env: Record<string, string>) =>
        sidestepWith(env, 'jobs', '--json', '--database-url', server.toString());
      const withPassword = await jobs({ PGPASSWORD: password });
      expect(withPassword.stdout).not.toContain('password authentication failed');
      expect(withPassword.stdout).not.toContain('client password must be a string');
      expect(
        withPassword.code === 0 || JSON.parse(withPassword.stdout).error.name === 'LedgerSchemaError',
      ).toBe(true);
      const wrong = await jobs({ PGPASSWORD: `not-${password}` });
      expect(JSON.parse(wrong.stdout).error.message).toContain('password authentication failed');
    },
  );

  it('says when dead letters and failed invocations stop at --limit with more left, and not when they do not', async () => {
    const record = (requestId: string) =>
      JSON.stringify({ requestContext: { requestId, condition: 'RetriesExhausted' }, requestPayload: {} });
    const listings = [
      {
        args: ['dlq', 'show', 'mail'],
        bodies: ['{"type":"mail.send","id":"dead-1"}', '{"type":"mail.send","id":"dead-2"}'],
        second: 'dead-2',
        more: "showing the first 1 dead letters; there are more: --limit 2, or status for the queue's depth\n",
      },
      {
        args: ['async-failures', 'show', 'job-sweeper'],
        bodies: [record('req-1'), record('req-2')],
        second: 'req-2',
        more: 'showing the first 1 failed invocations; there are more: --limit 2, or status for the count\n',
      },
    ];
    for (const { args, bodies, second, more } of listings) {
      for (const [limit, stderr] of [
        ['1', more],
        ['2', ''],
      ] as const) {
        const server = await sqsHolding(...bodies);
        try {
          const shown = await sidestep(...args, '--limit', limit, '--endpoint', server.endpoint);
          expect(shown.code).toBe(0);
          expect(shown.stderr).toBe(stderr);
          expect(shown.stdout.includes(second)).toBe(limit === '2');
        } finally {
          server.close();
        }
      }
    }
  });

  it('re-invokes only the records it is given by request id', async () => {
    const record = (requestId: string) =>
      JSON.stringify({ requestContext: { requestId }, requestPayload: {} });
    const server = await sqsHolding(record('req-1'), record('req-2'));
    try {
      const { code, stdout } = await sidestepOn(server, 'async-failures', 'reinvoke', 'job-sweeper', 'req-2');
      expect(code).toBe(0);
      expect(stdout).toContain('job-sweeper: 1 re-invoked, 0 re-invoked before');
      expect(stdout).toMatch(/^req-2\s+reinvoked\s+new-invocation$/m);
      expect(stdout).not.toContain('req-1');
    } finally {
      server.close();
    }
  });

  it("checks a dry-run redrive's dead letters against today's contracts, moving nothing", async () => {
    const mail = (id: string, payload: Record<string, unknown>) =>
      JSON.stringify({ type: 'mail.send', version: 1, id, payload });
    const server = await sqsHolding(
      mail('ok-1', {
        template: 'import.completed',
        to: 'ops@example.com',
        params: { jobId: 'imp_1', fileName: 'users.csv', rows: 10 },
      }),
      mail('ok-2', {
        template: 'import.completed',
        to: 'ops@example.com',
        params: { jobId: 'imp_2', fileName: 'users.csv', rows: 10 },
      }),
      mail('poison-1', { template: 'welcome', to: 'ops@example.com', params: {} }),
    );
    try {
      const { code, stdout, stderr } = await sidestep(
        'dlq',
        'redrive',
        'mail',
        '--dry-run',
        '--endpoint',
        server.endpoint,
      );
      expect(code).toBe(0);
      expect(stderr).toBe('');
      const lines = stdout.split('\n');
      expect(lines[0]).toBe('3 message(s): 2 would be accepted, 1 would fail again');
      expect(lines.slice(2).join('\n')).toMatch(/^m-3\s+poison-1\s+payload\.template\s/m);
      expect(stdout).not.toContain('ok-');
      expect(server.actions).not.toContain('StartMessageMoveTask');
    } finally {
      server.close();
    }
  });

  it("follows a redrive's move task on stderr, and prints only its outcome on stdout", async () => {
    const server = await sqsHolding('{}', '{}');
    try {
      const { code, stdout, stderr } = await sidestepOn(server, 'dlq', 'redrive', 'mail');
      expect(code).toBe(0);
      expect(stdout).toBe('redrive of mail: COMPLETED, 2 moved\n');
      expect(stderr).toContain('COMPLETED moved 2 of 2\n');
    } finally {
      server.close();
    }
  });

  // A move task that ends FAILED (SQS's FailureReason says why) or CANCELLED moved only some of the
  // dead letters, or none: the command fails, naming the queue, the status and the reason.
  it("exits 1 when a redrive's move task fails or is cancelled, saying how it ended, and audits it as an error", async () => {
    const failed = {
      Status: 'FAILED',
      FailureReason: 'AWS.SimpleQueueService.NonExistentQueue',
      ApproximateNumberOfMessagesMoved: 1,
    };
    const ledger: LedgerRequest[] = [];
    const server = await sqsHoldingWith({ moveTask: failed, ledger }, '{}', '{}');
    const cancelled = await sqsHoldingWith(
      { moveTask: { Status: 'CANCELLED', ApproximateNumberOfMessagesMoved: 0 } },
      '{}',
    );
    try {
      const shown = await sidestepOn(server, 'dlq', 'redrive', 'mail');
      expect(shown.code).toBe(1);
      expect(shown.stdout).toBe('');
      expect(shown.stderr).toContain('FAILED moved 1 of 2\n');
      expect(shown.stderr).toContain(
        'error: MessageMoveTaskError: queue: the redrive of mail ended FAILED (AWS.SimpleQueueService.NonExistentQueue) after moving 1 of 2 message(s); those not moved are still in its dead-letter queue\n',
      );
      const json = await sidestepOn(server, 'dlq', 'redrive', 'mail', '--json');
      expect(json.code).toBe(1);
      expect(JSON.parse(json.stdout)).toEqual({
        error: {
          name: 'MessageMoveTaskError',
          field: 'queue',
          message: expect.stringContaining('mail ended FAILED (AWS.SimpleQueueService.NonExistentQueue)'),
        },
      });
      const stopped = await sidestepOn(cancelled, 'dlq', 'redrive', 'mail');
      expect(stopped.code).toBe(1);
      expect(stopped.stderr).toContain('queue: the redrive of mail ended CANCELLED after moving 0 of 1');

      const audited = await sidestepOnStaging(server, 'dlq', 'redrive', 'mail');
      expect(audited.code).toBe(1);
      expect(ledger).toEqual([
        {
          op: 'audit.append',
          entry: expect.objectContaining({
            action: 'dlq-redrive',
            target: 'mail',
            environment: 'staging',
            result: 'error',
            error: expect.stringMatching(
              /^MessageMoveTaskError: queue: the redrive of mail ended FAILED \(AWS\.SimpleQueueService\.NonExistentQueue\)/,
            ),
          }),
        },
      ]);
    } finally {
      server.close();
      cancelled.close();
    }
  });

  it("pages the jobs ledger: the next page's --after printed under a page is the one that reads it", async () => {
    // The ops-ledger function holding two jobs, newest first, its cursor `<created_at>|<id>`.
    const jobs = [2, 1].map((n) => ({
      id: `imp_${n}`,
      kind: 'import',
      state: 'succeeded',
      attempt: 1,
      fileName: `users-${n}.csv`,
      rowsTotal: 10,
      rowsImported: 10,
      rowsRejected: 0,
      error: null,
      executionId: null,
      createdAt: `2026-12-05T01:00:0${n}.000Z`,
      updatedAt: `2026-12-05T01:00:0${n}.000Z`,
    }));
    const cursor = (job: (typeof jobs)[number]) =>
      `2026-12-05 01:00:0${job.id.slice(-1)}.000000+00|${job.id}`;
    const staging = await stagingOnLoopback((query) => {
      const from = query.after === undefined ? 0 : jobs.findIndex((job) => cursor(job) === query.after) + 1;
      const page = jobs.slice(from, from + Number(query.limit));
      const last = page.at(-1);
      return { jobs: page, next: from + page.length < jobs.length && last ? cursor(last) : null };
    });
    try {
      const first = await staging.sidestep('jobs', '--limit', '1');
      expect(first.code).toBe(0);
      expect(first.stdout).toMatch(/^imp_2\s+import\s+succeeded\s/m);
      expect(first.stdout).not.toContain('imp_1');
      const more = first.stdout.trimEnd().split('\n').at(-1);
      expect(more).toBe("more: --after '2026-12-05 01:00:02.000000+00|imp_2'");
      const after = /--after '([^']+)'/.exec(more ?? '')?.[1] ?? '';
      const next = await staging.sidestep('jobs', '--limit', '1', '--after', after);
      expect(next.code).toBe(0);
      expect(next.stdout).toMatch(/^imp_1\s+import\s+succeeded\s/m);
      expect(next.stdout).not.toContain('imp_2');
      expect(next.stdout).not.toContain('more:');
      expect(staging.requests).toEqual([
        { op: 'jobs.list', limit: 1 },
        { op: 'jobs.list', limit: 1, after: '2026-12-05 01:00:02.000000+00|imp_2' },
      ]);
    } finally {
      staging.close();
    }
  });

  it("writes an import's rejected rows after --after as CSV, every page", async () => {
    // The ops-ledger function holding imp_1's rejected rows at lines 2, 9 and 12.
    const rows = [2, 9, 12].map((line) => ({
      line,
      field: 'email',
      message: `line ${line} is not an email`,
    }));
    const staging = await stagingOnLoopback((query) => {
      const listed = rows.filter((row) => row.line > Number(query.after ?? 0));
      const page = listed.slice(0, Number(query.limit));
      return {
        jobId: 'imp_1',
        state: 'succeeded',
        rowsRejected: rows.length,
        rows: page,
        next: page.length < listed.length ? (page.at(-1)?.line ?? null) : null,
      };
    });
    try {
      const { code, stdout } = await staging.sidestep('job', 'rejected', 'imp_1', '--csv', '--after', '2');
      expect(code).toBe(0);
      expect(stdout).toBe(
        '\uFEFFline,field,message\n9,email,line 9 is not an email\n12,email,line 12 is not an email\n',
      );
      expect(staging.requests).toEqual([{ op: 'job.rejected-rows', jobId: 'imp_1', limit: 500, after: 2 }]);
    } finally {
      staging.close();
    }
  });

  it("says a failed job's failure mail was NOT queued, and why, when it was not", async () => {
    // The ops-ledger function fails the import, for which it knows no notify address: nothing to mail.
    // (It reads the job first: one with no execution has none running.)
    const staging = await stagingOnLoopback((request) =>
      request.op === 'job.describe'
        ? sampleJobDetail({ id: 'imp_1', executionId: null })
        : request.op === 'job.fail'
          ? {
              jobId: 'imp_1',
              kind: 'import',
              state: 'failed',
              reason: 'its task is gone',
              attempt: 1,
              fileName: 'users.csv',
              requestedBy: null,
              locale: null,
              recipient: null,
            }
          : null,
    );
    try {
      const { code, stdout, stderr } = await staging.sidestep(
        'job',
        'fail',
        'imp_1',
        '--reason',
        'its task is gone',
      );
      expect(stderr).toBe('');
      expect(code).toBe(0);
      const [heading, mail] = stdout.trimEnd().split('\n');
      expect(heading).toBe('job imp_1: failed (its task is gone)');
      expect(mail).toMatch(
        /^failure mail +NOT queued by this command: no recipient: the ledger knows no notify address for imports; owed in the ledger, the job-sweeper queues it on its next run$/,
      );
      expect(staging.requests.map((request) => request.op)).toEqual([
        'job.describe',
        'job.fail',
        'audit.append',
      ]);
    } finally {
      staging.close();
    }
  });
});

describe('sidestep console', () => {
  /** `sidestep console --port 0 ...args`, once it printed its URL; `exited` resolves with its code. */
  async function consoleBin(...args: string[]) {
    const child = spawn(process.execPath, [BIN, 'console', '--port', '0', ...args], {
      env: { ...process.env, NO_COLOR: '1' },
    });
    let stdout = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        const found = /at (http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{43})\n/.exec(stdout)?.[1];
        if (found) resolve(found);
      });
      child.once('exit', () => reject(new Error(`exited before printing its URL: ${stdout}`)));
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    return { child, url, exited };
  }

  it('serves the console to whoever opens the URL it prints, with the schedules in their time zone, until Ctrl-C', async () => {
    const { child, url, exited } = await consoleBin();
    try {
      // Without the URL's secret: nothing but how to sign in.
      expect((await fetch(new URL('/schedules', url))).status).toBe(401);
      const operator = await signIn(url);
      const page = await operator('/schedules');
      expect(page.status).toBe(200);
      expect(await page.text()).toMatch(/nightly-export[\s\S]*\d{4}-\d\d-\d\d 03:00 Asia\/Tokyo/);
      // Locally, the Mail page reads the local cloud's outbox (<repo>/.sidestep/outbox, as npm start's).
      expect(await (await operator('/mail')).text()).not.toContain('on AWS, mail goes out through SES');
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
  });

  it("shows the mails of the local cloud's outbox in the state dir it is given", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'sidestep-state-'));
    mkdirSync(join(stateDir, 'outbox'));
    writeFileSync(
      join(stateDir, 'outbox', '20261205T010000000Z-m1.eml'),
      'From: no-reply@example.com\r\nTo: ops@example.com\r\nSubject: Export ready\r\n\r\nYour export is ready.\r\n',
    );
    const { child, url, exited } = await consoleBin('--state-dir', stateDir);
    try {
      const mail = await (await (await signIn(url))('/mail')).text();
      expect(mail).toContain('<a href="/mail/20261205T010000000Z-m1.eml">Export ready</a>');
    } finally {
      child.kill('SIGINT');
      rmSync(stateDir, { recursive: true, force: true });
    }
    expect(await exited).toBe(0);
  });

  it('says which port is taken and which option picks another, and exits 1, when its port is in use', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const busy = (blocker.address() as { port: number }).port;
    try {
      const { code, stdout, stderr } = await sidestep('console', '--port', String(busy));
      expect({ code, stdout }).toEqual({ code: 1, stdout: '' });
      expect(stderr).toBe(
        `error: port ${busy} (console) is already in use: stop what listens there, or pick another with --port (0 picks a free one)\n`,
      );
    } finally {
      blocker.close();
    }
  });

  it('refuses --state-dir for an environment on AWS, naming the option', async () => {
    for (const command of [['console'], ['mail', 'find', 'k'], ['mail', 'release', 'k']]) {
      const { code, stderr } = await sidestep(...command, '--env', 'staging', '--state-dir', '/tmp');
      expect(code).toBe(1);
      expect(stderr).toContain('--state-dir: only the local cloud keeps a state dir (not --env staging)');
    }
  });
});

describe('mail find', () => {
  const record = (eventType: string, more: Record<string, unknown> = {}) => ({
    source: 'log group',
    eventType,
    at: new Date('2026-12-05T10:00:02Z'),
    sentAt: new Date('2026-12-05T10:00:01Z'),
    destination: ['ops@example.com'],
    headersTruncated: false,
    messageId: `0100-${eventType}`,
    ...more,
  });
  const search = {
    idempotencyKey: 'import.failed:imp_1',
    searched: ['/aws/events/sidestep-staging-mail-events', 'sidestep-staging-mail-events-dlq'],
    since: new Date('2026-12-05T09:59:00Z'),
    claimedAt: new Date('2026-12-05T10:00:00Z'),
    outbox: [],
    headersTruncated: [],
    caveats: [],
    recordStatus: 'INPROGRESS',
  };

  it("says the verdict first, the key's send-once record, then what to do, what it searched since when, and the records", () => {
    const lines = render(
      'mail-find',
      {
        ...search,
        verdict: 'sent',
        advice:
          'SES accepted it (Send, Delivery): do not release it; leave its dead letter in the DLQ or delete it',
        records: [record('Send'), record('Delivery')],
      },
      {},
    ).split('\n');
    expect(lines.slice(0, 4)).toEqual([
      'verdict: sent',
      'send-once record: INPROGRESS',
      'SES accepted it (Send, Delivery): do not release it; leave its dead letter in the DLQ or delete it',
      'searched: /aws/events/sidestep-staging-mail-events since 2026-12-05T09:59:00Z (the key claimed 2026-12-05T10:00:00Z), sidestep-staging-mail-events-dlq',
    ]);
    expect(lines.slice(5)).toEqual([
      'source     event     at                    to               headers cut  message id',
      'log group  Send      2026-12-05T10:00:02Z  ops@example.com  no           0100-Send',
      'log group  Delivery  2026-12-05T10:00:02Z  ops@example.com  no           0100-Delivery',
    ]);
  });

  it('gives each caveat of a "no record" and the records whose headers SES cut', () => {
    const text = render(
      'mail-find',
      {
        ...search,
        verdict: 'no record',
        advice:
          'cannot tell (headers-truncated, dead-letters): check the records below, or ask the recipient, before releasing',
        records: [],
        headersTruncated: [record('Send', { headersTruncated: true, destination: ['x@example.com'] })],
        caveats: [
          {
            kind: 'headers-truncated',
            message: '1 record(s) since 2026-12-05T09:59:00.000Z have headers SES cut',
          },
          { kind: 'dead-letters', message: 'sidestep-staging-mail-events-dlq holds 2 record(s)' },
        ],
      },
      {},
    );
    expect(text).toContain(
      'caveats:\n  headers-truncated: 1 record(s) since 2026-12-05T09:59:00.000Z have headers SES cut\n  dead-letters: sidestep-staging-mail-events-dlq holds 2 record(s)\n',
    );
    expect(text).toMatch(
      /records whose headers SES cut:\nsource .*\nlog group {2}Send .* x@example\.com\s+yes/,
    );
  });
});

describe('mail find through the bin', () => {
  it('advises the redrive alone for a job mail key with no send-once record, and says it has none', async () => {
    const key = 'import.failed:imp_1';
    // SES's record of the key: it rejected the mail (not sent). The ledger has job imp_1 with no mail record.
    const reject = JSON.stringify({
      time: '2026-12-05T10:00:02Z',
      detail: {
        eventType: 'Reject',
        mail: {
          timestamp: '2026-12-05T10:00:01Z',
          messageId: '0100-Reject',
          destination: ['ops@example.com'],
          headersTruncated: false,
          headers: [{ name: 'X-Sidestep-Idempotency-Key', value: key }],
        },
      },
    });
    const staging = await stagingOnLoopback(() => sampleJobDetail({ id: 'imp_1', mails: [] }), {
      FilterLogEvents: (input) => ({
        events: input.filterPattern === `"${key}"` ? [{ message: reject, timestamp: Date.now() }] : [],
      }),
      GetQueueUrl: (input) => ({ QueueUrl: `http://127.0.0.1/000000000000/${String(input.QueueName)}` }),
      ReceiveMessage: () => ({ Messages: [] }),
      GetQueueAttributes: () => ({
        Attributes: { ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' },
      }),
    });
    try {
      const shown = await staging.sidestep('mail', 'find', key);
      expect({ code: shown.code, stderr: shown.stderr }).toEqual({ code: 0, stderr: '' });
      const [verdict, record, advice] = shown.stdout.split('\n');
      expect([verdict, record]).toEqual(['verdict: not sent', 'send-once record: none']);
      expect(advice).toMatch(
        /no send-once record, so nothing to release.*sidestep dlq redrive mail alone sends it/,
      );
      expect(advice).not.toContain('sidestep mail release');
      const json = await staging.sidestep('mail', 'find', key, '--json');
      expect(JSON.parse(json.stdout)).toMatchObject({ verdict: 'not sent', recordStatus: 'none', advice });
      expect(staging.requests).toEqual([
        { op: 'job.describe', jobId: 'imp_1' },
        { op: 'job.describe', jobId: 'imp_1' },
      ]);
    } finally {
      staging.close();
    }
  });
});

describe('a mail record whose send may still be running, through the bin', () => {
  it("shows a job's mail records' in-progress window and expiry, and mail find says when release becomes possible", async () => {
    const key = 'import.failed:imp_1';
    const second = 1000;
    // Whole seconds, as the table shows them.
    const now = Math.floor(Date.now() / second) * second;
    const until = new Date(now + 600 * second);
    const sending = {
      idempotencyKey: key,
      recordId: 'sidestep-staging-mail-dispatcher#a',
      status: 'INPROGRESS',
      createdAt: new Date(now - 60 * second),
      expiresAt: new Date(now + 19 * 86_400 * second),
      inProgressUntil: until,
    };
    // A COMPLETED record past its lifetime, not purged yet: a redrive would send its mail again.
    const expired = {
      idempotencyKey: 'import.completed:imp_1',
      recordId: 'sidestep-staging-mail-dispatcher#b',
      status: 'COMPLETED',
      createdAt: new Date('2026-11-01T10:00:00Z'),
      expiresAt: new Date('2026-11-20T10:00:00Z'),
      inProgressUntil: null,
    };
    const staging = await stagingOnLoopback(
      () => sampleJobDetail({ id: 'imp_1', mails: [sending, expired] }),
      {
        FilterLogEvents: () => ({ events: [] }),
        GetQueueUrl: (input) => ({ QueueUrl: `http://127.0.0.1/000000000000/${String(input.QueueName)}` }),
        ReceiveMessage: () => ({ Messages: [] }),
        GetQueueAttributes: () => ({
          Attributes: { ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' },
        }),
      },
    );
    try {
      const shown = await staging.sidestep('job', 'imp_1');
      expect({ code: shown.code, stderr: shown.stderr }).toEqual({ code: 0, stderr: '' });
      const lines = shown.stdout.split('\n');
      const heading = lines.findIndex((line) => line.startsWith('mail '));
      expect(lines[heading]).toMatch(/^mail +status +at +in progress until +expires$/);
      expect(lines[heading + 1]).toMatch(
        new RegExp(
          `^${key} +INPROGRESS +${when(sending.createdAt)} +${when(until)} +${when(sending.expiresAt)}$`,
        ),
      );
      expect(lines[heading + 2]).toMatch(
        /^import\.completed:imp_1 +COMPLETED +2026-11-01T10:00:00Z +- +2026-11-20T10:00:00Z \(expired: a redrive sends it again\)$/,
      );

      const found = await staging.sidestep('mail', 'find', key);
      expect({ code: found.code, stderr: found.stderr }).toEqual({ code: 0, stderr: '' });
      const [verdict, record, advice] = found.stdout.split('\n');
      expect([verdict, record]).toEqual(['verdict: no record', 'send-once record: INPROGRESS']);
      expect(advice).toContain(
        `its send may still be running until ${until.toISOString()} (the claiming invocation's deadline): mail release refuses it until then`,
      );
      expect(advice).not.toContain('sidestep mail release');
    } finally {
      staging.close();
    }
  });
});

describe('table', () => {
  it('aligns columns to the widest cell', () => {
    expect(
      table(
        ['a', 'bb'],
        [
          ['long', 'x'],
          ['s', 'yyy'],
        ],
      ).split('\n'),
    ).toEqual(['a     bb', 'long  x', 's     yyy']);
  });

  it('aligns columns by the width a terminal gives each cell: two columns a wide character, none a combining mark', () => {
    const decomposed = 'が'.normalize('NFD'); // か and a combining voiced mark, as macOS names files
    expect(
      table(
        ['file', 'rows'],
        [
          ['ユーザー一覧.csv', '3'],
          [`${decomposed}.csv`, '10'],
          ['a.csv', '7'],
        ],
      ).split('\n'),
    ).toEqual([
      'file              rows',
      'ユーザー一覧.csv  3',
      `${decomposed}.csv            10`,
      'a.csv             7',
    ]);
  });
});

describe('jobs show', () => {
  const job = sampleJobDetail({
    workerError: 'cannot read s3://sidestep-local-imports/imports/users.csv: Error: read ECONNRESET',
  });

  const arn = 'arn:aws:states:us-east-1:000000000000:execution:sidestep-local-import:imp_sample';
  /** Its latest execution as DescribeExecution answers. */
  const latest = (status: string | null, more: Record<string, unknown> = {}) => ({
    executionArn: arn,
    name: 'imp_sample',
    status,
    stopDate: status === 'RUNNING' ? null : new Date('2026-12-05T01:00:00.250Z'),
    redriveStatus: status === 'RUNNING' ? 'NOT_REDRIVABLE' : 'REDRIVABLE',
    redriveStatusReason: null,
    ...more,
  });

  it("says why a running job's task runs again, and only while the job and its latest execution run", () => {
    const rerun =
      '  rerun    after: cannot read s3://sidestep-local-imports/imports/users.csv: Error: read ECONNRESET';
    const runningJob = { ...job, executionId: arn, latestExecution: latest('RUNNING') };
    expect(render('job', runningJob, {}).split('\n')).toContain(rerun);
    expect(
      render('job', { ...runningJob, latestExecution: latest('PENDING_REDRIVE') }, {}).split('\n'),
    ).toContain(rerun);
    expect(
      render(
        'job',
        { ...runningJob, state: 'failed', error: 'the import failed', latestExecution: null },
        {},
      ),
    ).not.toContain('rerun');
    expect(render('job', { ...runningJob, workerError: null }, {})).not.toContain('rerun');
    // Its execution's status unknown (not read, or no execution): the failure, and no promise.
    for (const latestExecution of [latest(null), null]) {
      const shown = render('job', { ...runningJob, latestExecution }, {});
      expect(shown).not.toContain('rerun');
      expect(shown.split('\n')).toContain(
        '  task     failed: cannot read s3://sidestep-local-imports/imports/users.csv: Error: read ECONNRESET',
      );
    }
  });

  it('says a running job’s batch step waits for room to start its task: since when, how often refused, why, and until about when', () => {
    const waitingForRoom = {
      state: 'ImportRows',
      since: new Date('2026-12-07T10:00:01.500Z'),
      refusals: 4,
      reason:
        'AmazonECS.Unknown: ECS started no task: You’ve reached the limit on the number of vCPUs you can run concurrently',
      givesUpAt: new Date('2026-12-07T11:00:11.500Z'),
    };
    const waiting = {
      ...job,
      workerError: null,
      executionId: arn,
      latestExecution: latest('RUNNING', { waitingForRoom }),
    };
    expect(render('job', waiting, {}).split('\n')).toContain(
      "  waiting  for room to start its task: ImportRows's RunTask refused 4 time(s) since 2026-12-07T10:00:01Z (AmazonECS.Unknown: ECS started no task: You’ve reached the limit on the number of vCPUs you can run concurrently); the workflow tries again as other tasks stop, until about 2026-12-07T11:00:11Z, then fails the job",
    );
    expect(
      render('job', { ...waiting, latestExecution: latest('RUNNING', { waitingForRoom: null }) }, {}),
    ).not.toContain('waiting');
  });

  // https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html: an
  // execution that ended FAILED, ABORTED or TIMED_OUT is redriven by an operator, or by nothing.
  it('says a running job whose latest execution ended is run by nothing, and names the redrive', () => {
    for (const status of ['ABORTED', 'FAILED', 'TIMED_OUT']) {
      const shown = render('job', { ...job, executionId: arn, latestExecution: latest(status) }, {});
      expect(shown.split('\n')).toContain(
        `  stalled  its execution imp_sample ended ${status} at 2026-12-05T01:00:00Z: nothing runs this job again; sidestep redrive imp_sample`,
      );
      expect(shown.split('\n')).toContain(
        '  task     failed: cannot read s3://sidestep-local-imports/imports/users.csv: Error: read ECONNRESET',
      );
      expect(shown).not.toContain('rerun');
    }
    const old = latest('FAILED', {
      redriveStatus: 'NOT_REDRIVABLE',
      redriveStatusReason: 'Execution history is older than 14 days',
    });
    expect(render('job', { ...job, workerError: null, latestExecution: old }, {}).split('\n')).toContain(
      '  stalled  its execution imp_sample ended FAILED at 2026-12-05T01:00:00Z: nothing runs this job again, and it cannot be redriven (Execution history is older than 14 days); sidestep job fail imp_sample --reason <why>',
    );
  });

  it("shows an export's rows as the count it wrote, not as none of them imported", () => {
    const exported = sampleJobDetail({
      id: 'exp_1',
      kind: 'export',
      state: 'succeeded',
      fileName: null,
      rowsTotal: 1000,
    });
    expect(render('job', exported, {}).split('\n')).toContain('  rows     1000 exported');
    const listed = render('jobs', { jobs: [exported], next: null }, {});
    expect(listed.split('\n')[1]).toMatch(/^exp_1\s+export\s+succeeded\s+1\s+-\s+1000 exported\s/);
    expect(listed).not.toContain('0/1000');
    // Nothing written yet: no count (its progress says how far it got).
    expect(render('job', { ...exported, state: 'running', rowsTotal: null }, {}).split('\n')).toContain(
      '  rows     -',
    );
  });

  it("shows a completed import's users written, and nothing when the ledger has no count", () => {
    const imported = sampleJobDetail({
      state: 'succeeded',
      rowsTotal: 1000,
      rowsImported: 1000,
      usersWritten: 3,
    });
    expect(render('job', imported, {}).split('\n')).toContain('  written  3 users new or changed');
    expect(render('job', { ...imported, usersWritten: 1 }, {})).toContain('  written  1 user new or changed');
    expect(render('job', { ...imported, usersWritten: null }, {})).not.toContain('written');
  });

  it("shows a running or failed export's progress on one line, and none once it succeeded", () => {
    const exporting = sampleJobDetail({
      kind: 'export',
      exportProgress: {
        rows: 4_200_000,
        parts: 7,
        bytes: 58_720_256,
        updatedAt: new Date('2026-12-04T10:21:03.250Z'),
      },
    });
    const line =
      '  progress 4,200,000 rows read, 7 parts uploaded (56.0 MiB gzip) (updated 2026-12-04T10:21:03Z)';
    expect(render('job', exporting, {}).split('\n')).toContain(line);
    expect(render('job', { ...exporting, state: 'failed' }, {}).split('\n')).toContain(line);
    expect(render('job', { ...exporting, state: 'succeeded' }, {})).not.toContain('progress');
    expect(render('job', { ...exporting, exportProgress: null }, {})).not.toContain('progress');
  });

  it("shows a running job's deadline, when the job-sweeper fails it unless it has ended, and no other job's", () => {
    // A redrive's claim sets it anew (the ledger records the claim): the line says when the sweep comes.
    const running = sampleJobDetail({ deadlineAt: new Date('2026-12-04T19:21:03.250Z') });
    expect(render('job', running, {}).split('\n')).toContain(
      '  deadline 2026-12-04T19:21:03Z (the job-sweeper fails the job then unless it has ended)',
    );
    expect(render('job', { ...running, state: 'failed' }, {})).not.toContain('deadline');
    expect(render('job', { ...running, deadlineAt: null }, {})).not.toContain('deadline');
  });

  it("shows a running import's staging on one line, and nothing without one", () => {
    // Updated at a fraction of a second: shown to the second, as every time here.
    const staging = sampleImportStaging({ updatedAt: new Date('2026-12-04T10:21:03.250Z') });
    expect(render('job', { ...job, staging }, {}).split('\n')).toContain(
      '  staging  4,200,000 records, 412.0 of 553.4 MiB (74%), 52 of 53 segments validated, 3 rows rejected so far (updated 2026-12-04T10:21:03Z)',
    );
    // The object's size unknown: no total, no percentage.
    expect(
      render('job', { ...job, staging: { ...staging, bytesTotal: null, rowsRejectedSoFar: 1 } }, {}),
    ).toContain(
      '  staging  4,200,000 records, 412.0 MiB, 52 of 53 segments validated, 1 row rejected so far',
    );
    expect(render('job', job, {})).not.toContain('staging');
  });

  it("shows a file name's bidirectional controls as escapes, so a name cannot display as another", () => {
    // U+202E turns the rest of the line around: "invoice\u202Evsc.exe" displays as "invoiceexe.csv".
    const shown = render('job', sampleJobDetail({ fileName: 'invoice\u202Evsc.exe' }), {});
    expect(shown.split('\n')).toContain('  file     invoice\\u202evsc.exe');
    expect(shown).not.toContain('\u202E');
    // The isolates (U+2066-2069) reorder what follows as well: U+2067 (RLI) as U+202E does.
    for (const [isolate, shownAs] of [
      ['\u2066', '\\u2066'],
      ['\u2067', '\\u2067'],
      ['\u2068', '\\u2068'],
      ['\u2069', '\\u2069'],
    ] as const) {
      const named = render('job', sampleJobDetail({ fileName: `invoice${isolate}vsc.exe` }), {});
      expect(named.split('\n')).toContain(`  file     invoice${shownAs}vsc.exe`);
      expect(named).not.toContain(isolate);
    }
  });

  it('says what became of the failure mail of a job failed outside its workflow (by the sweeper or an operator), and nothing for one that was not', () => {
    const swept = sampleJobDetail({ state: 'failed', error: 'deadline missed' });
    const sweptAt = new Date('2026-12-04T10:00:00.000Z');
    const at = new Date('2026-12-04T10:15:00.400Z');
    const lines = (sweepMail: typeof swept.sweepMail) =>
      render('job', { ...swept, sweepMail }, {}).split('\n');
    expect(lines({ sweptAt, queuedAt: at, refusedAt: null, error: null })).toContain(
      '  mail     failure mail queued 2026-12-04T10:15:00Z',
    );
    expect(
      lines({ sweptAt, queuedAt: null, refusedAt: at, error: 'payload.to: Invalid email address' }),
    ).toContain(
      '  mail     failure mail REFUSED 2026-12-04T10:15:00Z, never sent: payload.to: Invalid email address',
    );
    expect(lines({ sweptAt, queuedAt: null, refusedAt: null, error: 'SQS: ServiceUnavailable' })).toContain(
      '  mail     failure mail pending, tried again every sweep; last error: SQS: ServiceUnavailable',
    );
    expect(lines({ sweptAt, queuedAt: null, refusedAt: null, error: null })).toContain(
      '  mail     failure mail pending, tried again every sweep',
    );
    expect(render('job', { ...swept, sweepMail: null }, {})).not.toContain('failure mail');
  });
});

describe('async-failures show', () => {
  // The record's event (requestPayload) may hold a person's data, as a dead letter's body may: like
  // `dlq show`, the table shows only what invoked the function; --json has the whole record.
  const body = JSON.stringify({
    requestContext: { requestId: 'req-1', condition: 'RetriesExhausted', approximateInvokeCount: 3 },
    requestPayload: { source: 'aws.states', detail: { input: '{"requestedBy":"someone@example.com"}' } },
  });
  const failure = {
    messageId: 'm-1',
    service: 'job-sweeper',
    requestId: 'req-1',
    functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:sidestep-local-job-sweeper:$LATEST',
    failedAt: new Date('2026-12-05T01:00:00.000Z'),
    ageSeconds: 60,
    condition: 'RetriesExhausted',
    attempts: 3,
    errorType: 'JobLedgerUnavailableError',
    errorMessage: 'the jobs ledger did not answer',
    trigger: {
      kind: 'event' as const,
      source: 'aws.states',
      detailType: 'Step Functions Execution Status Change',
    },
    receiveCount: 1,
    body,
  };

  it('shows when, which function, why, the attempts and the trigger, and nothing of the event', () => {
    const shown = render('async-failures-show', [failure], {});
    expect(shown.split('\n')[1]).toMatch(
      /^2026-12-05T01:00:00Z\s+req-1\s+sidestep-local-job-sweeper:\$LATEST\s+RetriesExhausted\s+3\s+aws\.states: Step Functions Execution Status Change\s+JobLedgerUnavailableError\s+the jobs ledger did not answer$/,
    );
    expect(shown).not.toContain('someone@example.com');
    expect(
      render(
        'async-failures-show',
        [
          {
            ...failure,
            condition: 'EventAgeExceeded',
            attempts: null,
            errorType: null,
            errorMessage: null,
            trigger: null,
          },
        ],
        {},
      ),
    ).toMatch(/EventAgeExceeded\s+-\s+-\s+-\s+-$/m);
  });
});

describe('async-failures reinvoke', () => {
  it('counts as re-invoked now only the records it invoked, not those an earlier command did', () => {
    const shown = render(
      'async-failures-reinvoke',
      {
        service: 'job-sweeper',
        records: [
          { requestId: 'req-1', outcome: 'reinvoked', invocationId: 'inv-1', error: null },
          { requestId: 'req-2', outcome: 'already-reinvoked', invocationId: null, error: null },
        ],
      },
      {},
    ).split('\n');
    expect(shown[0]).toBe('job-sweeper: 1 re-invoked, 1 re-invoked before (records deleted)');
    expect(shown.slice(2)).toEqual([
      expect.stringMatching(/^request id\s+outcome\s+new invocation$/),
      expect.stringMatching(/^req-1\s+reinvoked\s+inv-1$/),
      expect.stringMatching(/^req-2\s+already-reinvoked\s+-$/),
    ]);
  });
});

describe('job rejected', () => {
  const page = {
    jobId: 'imp_1',
    state: 'succeeded' as const,
    rowsRejected: 3,
    rows: [
      { line: 2, field: 'email', message: 'is not a valid email address' },
      { line: 9, field: 'name', message: 'has "quotes", a comma\nand a line break' },
      { line: 12, field: 'row', message: '=HYPERLINK("x")' },
    ],
    next: null,
  };

  it('lists the rows under the count, with the next page when there is one', () => {
    const shown = render('job-rejected', { ...page, next: 12 }, {}).split('\n');
    expect(shown[0]).toBe('job imp_1: 3 rows rejected');
    expect(shown.at(-1)).toBe('more: --after 12');
    expect(render('job-rejected', page, {})).not.toContain('more:');
  });

  it('writes CSV a spreadsheet reads back as written, with no cell it would run as a formula', () => {
    // The byte order mark first, as the console's download and the exports: Excel reads the file as
    // UTF-8 only with it (a Japanese Excel otherwise reads it as Shift_JIS).
    expect(render('job-rejected', page, { csv: true }).split('\n')).toEqual([
      '\uFEFFline,field,message',
      '2,email,is not a valid email address',
      '9,name,"has ""quotes"", a comma',
      'and a line break"',
      '12,row,"\'=HYPERLINK(""x"")"',
    ]);
  });

  it("escapes a cell that starts with ' too, so one leading ' removed gives every cell back (as the exports do)", () => {
    const quoted = {
      ...page,
      rows: [
        { line: 3, field: 'name', message: "'=1+1" },
        { line: 4, field: 'name', message: '=1+1' },
      ],
    };
    expect(render('job-rejected', quoted, { csv: true }).split('\n').slice(1, 3)).toEqual([
      "3,name,''=1+1",
      "4,name,'=1+1",
    ]);
  });

  it('says why a job that did not complete lists no rows', () => {
    expect(render('job-rejected', { ...page, state: 'failed', rowsRejected: 1500, rows: [] }, {})).toBe(
      'job imp_1: failed, 1,500 rows rejected, nothing imported; its first row errors: sidestep job imp_1',
    );
    expect(render('job-rejected', { ...page, state: 'running', rowsRejected: null, rows: [] }, {})).toBe(
      'job imp_1: running, no rows listed until its import completes',
    );
  });
});

describe('dlq redrive --dry-run', () => {
  const check = (valid: boolean) => ({
    valid,
    message: { messageId: 'm-1', id: 'mail-1', type: 'mail.send', errorType: 'SchemaViolationError' },
    ...(valid ? {} : { field: 'payload.to', reason: 'is not an email address' }),
  });

  // A redrive (StartMessageMoveTask) moves the whole dead-letter queue, checked or not.
  it('says how many dead letters were left unchecked when the queue held more than it read', () => {
    const shown = render(
      'dlq-redrive',
      { dryRun: true, queue: 'mail', checks: [check(true), check(false)], total: 2_500 },
      {},
    );
    expect(shown.split('\n')[0]).toBe(
      'the first 2 of about 2500 message(s), checked: 1 would be accepted, 1 would fail again; the 2498 others were not checked, and a redrive moves them too',
    );
  });

  it('counts the messages alone when it checked them all', () => {
    const shown = render('dlq-redrive', { dryRun: true, queue: 'mail', checks: [check(true)], total: 1 }, {});
    expect(shown).toBe('1 message(s): 1 would be accepted, 0 would fail again');
  });
});
