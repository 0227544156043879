import { FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { DescribeExecutionCommand, GetExecutionHistoryCommand } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { sampleJobDetail } from '@sidestep/ledger/testing';
import { createOpsContext, type JobDetail, type Ledger, type OpsContext } from '@sidestep/ops';
import { mockClient } from 'aws-sdk-client-mock';
import type { Page } from 'playwright-core';
import { type RunningConsole, startConsole } from '../src/index.ts';
import { type ConsoleFetch, launchChromium, signIn } from '../src/testing.ts';
import { WAITING_FOR_ROOM_HISTORY } from './stub-executions.ts';

// The jobs list and a job's page on a local context whose ledger is a stub and whose Step Functions
// answers DescribeExecution for each job's latest execution
// (https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html).
const arn = (name: string) => `arn:aws:states:us-east-1:000000000000:execution:sidestep-local-import:${name}`;
const reason = 'interrupted by SIGTERM; the staging is kept for the retry';
const stopDate = new Date('2026-12-05T01:00:00Z');
// Whole seconds, as the page shows them.
const now = Math.floor(Date.now() / 1000) * 1000;
const DAY = 86_400_000;
/**
 * imp_mails' send-once records: one whose send may still be running (its in-progress window ahead),
 * one sent, and one sent whose record expired, not purged yet (a redrive would send it again).
 */
const MAILS = [
  {
    idempotencyKey: 'import.started:imp_mails',
    recordId: 'sidestep-local-mail-dispatcher#a',
    status: 'INPROGRESS',
    createdAt: new Date(now - 60_000),
    expiresAt: new Date(now + 19 * DAY - 60_000),
    inProgressUntil: new Date(now + 600_000),
  },
  {
    idempotencyKey: 'import.completed:imp_mails',
    recordId: 'sidestep-local-mail-dispatcher#b',
    status: 'COMPLETED',
    createdAt: new Date(now - DAY),
    expiresAt: new Date(now + 18 * DAY),
    inProgressUntil: null,
  },
  {
    idempotencyKey: 'import.failed:imp_mails',
    recordId: 'sidestep-local-mail-dispatcher#c',
    status: 'COMPLETED',
    createdAt: new Date('2026-11-01T10:00:00Z'),
    expiresAt: new Date('2026-11-20T10:00:00Z'),
    inProgressUntil: null,
  },
];
const JOBS: readonly JobDetail[] = [
  sampleJobDetail({ id: 'imp_waiting', executionId: arn('imp_waiting'), rowsTotal: null, rowsImported: 0 }),
  sampleJobDetail({ id: 'imp_rerun', executionId: arn('imp_rerun'), workerError: reason }),
  sampleJobDetail({ id: 'imp_aborted', executionId: arn('imp_aborted'), workerError: reason }),
  sampleJobDetail({ id: 'imp_old', executionId: arn('imp_old'), workerError: reason }),
  // A failed job keeps its worker's reason (what its failure was built from); nothing runs it.
  sampleJobDetail({
    id: 'imp_failed',
    state: 'failed',
    error: 'the import failed',
    executionId: arn('imp_failed'),
    workerError: reason,
  }),
  sampleJobDetail({
    id: 'exp_done',
    kind: 'export',
    state: 'succeeded',
    fileName: null,
    rowsTotal: 1000,
  }),
  // A completed import that left rows out: listed from the ledger a page at a time.
  sampleJobDetail({
    id: 'imp_rejected',
    state: 'succeeded',
    rowsTotal: 10,
    rowsImported: 8,
    rowsRejected: 2,
  }),
  sampleJobDetail({ id: 'imp_mails', state: 'succeeded', mails: MAILS }),
  sampleJobDetail({
    id: 'exp_running',
    kind: 'export',
    fileName: null,
    exportProgress: { rows: 4_200_000, parts: 7, bytes: 58_720_256, updatedAt: stopDate },
  }),
];
/** imp_rejected's rejected rows, two pages of one: the second after line 2. */
const REJECTED = [
  { line: 2, field: 'email', message: 'not an email' },
  { line: 7, field: 'name', message: '=HYPERLINK("x")' },
];
let context: OpsContext;
let running: RunningConsole;
/** The operator, signed in as by opening the console's URL. */
let get: ConsoleFetch;
/** The options of each listJobs and listRejectedRows call the ledger had. */
const listed: { readonly jobs: unknown[]; readonly rejected: unknown[] } = { jobs: [], rejected: [] };

beforeAll(async () => {
  const ledger = {
    describeJob: async (id: string) => JOBS.find((job) => job.id === id),
    listJobs: async (options: unknown) => {
      listed.jobs.push(options);
      return { jobs: JOBS, next: null };
    },
    listRejectedRows: async (options: { jobId: string; after?: number }) => {
      listed.rejected.push(options);
      const rows = REJECTED.filter((row) => row.line > (options.after ?? 0)).slice(0, 1);
      const next = rows[0] && rows[0] !== REJECTED.at(-1) ? rows[0].line : null;
      return { jobId: options.jobId, state: 'succeeded', rowsRejected: REJECTED.length, rows, next };
    },
  } as unknown as Ledger;
  context = {
    ...createOpsContext({ environment: 'local', env: { USER: 'tester' }, warn: () => undefined }),
    ledger: async () => ledger,
  };
  const sfn = mockClient(context.clients.sfn);
  sfn.on(DescribeExecutionCommand, { executionArn: arn('imp_rerun') }).resolves({
    executionArn: arn('imp_rerun'),
    name: 'imp_rerun',
    status: 'RUNNING',
  });
  sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
  sfn.on(DescribeExecutionCommand, { executionArn: arn('imp_waiting') }).resolves({
    executionArn: arn('imp_waiting'),
    name: 'imp_waiting',
    status: 'RUNNING',
  });
  sfn.on(GetExecutionHistoryCommand, { executionArn: arn('imp_waiting') }).resolves(WAITING_FOR_ROOM_HISTORY);
  sfn.on(DescribeExecutionCommand, { executionArn: arn('imp_aborted') }).resolves({
    executionArn: arn('imp_aborted'),
    name: 'imp_aborted',
    status: 'ABORTED',
    stopDate,
    redriveStatus: 'REDRIVABLE',
  });
  sfn.on(DescribeExecutionCommand, { executionArn: arn('imp_old') }).resolves({
    executionArn: arn('imp_old'),
    name: 'imp_old',
    status: 'FAILED',
    stopDate,
    redriveStatus: 'NOT_REDRIVABLE',
    redriveStatusReason: 'Execution history is older than 14 days',
  });
  running = await startConsole({ context, port: 0 });
  get = await signIn(running.url);
});

afterAll(async () => {
  await running.close();
  await context.close();
});

const page = async (path: string) => (await get(path)).text();

/** Opens `path` of the console in Chromium, signed in by the console's URL, and runs `act` on the tab. */
async function inBrowser(path: string, act: (tab: Page) => Promise<void>): Promise<void> {
  const browser = await launchChromium();
  try {
    const tab = await browser.newPage();
    const opened = new URL(running.url);
    opened.pathname = path;
    await tab.goto(opened.toString());
    await tab.waitForURL(new URL(path, running.url).toString());
    await act(tab);
  } finally {
    await browser.close();
  }
}

describe('the job page', () => {
  it("says a running job's task runs again only while its latest execution runs", async () => {
    const rerun = await page('/jobs/imp_rerun');
    expect(rerun).toContain(
      `<p class="error-box" id="job-rerunning"><strong>Its task failed and runs again after a wait:</strong> ${reason}</p>`,
    );
    expect(rerun).not.toContain('job-stalled');
    for (const id of ['imp_aborted', 'imp_old', 'imp_failed'])
      expect(await page(`/jobs/${id}`)).not.toContain('job-rerunning');
    expect(await page('/jobs/imp_failed')).not.toContain('job-stalled');
  });

  it('says a running job’s batch step waits for room to start its task: since when, how often refused, why, and until about when', async () => {
    const waiting = await page('/jobs/imp_waiting');
    const box =
      /<section class="wait-box" id="job-waiting-for-room">[\s\S]*?<\/section>/.exec(waiting)?.[0] ?? '';
    expect(box.replace(/\s+/g, ' ')).toContain(
      '<strong>Waiting for room to start its task</strong></p> <p>ImportRows: ECS refused its RunTask 2 time(s) in a row, first at <time datetime="2026-12-07T10:00:01.000Z">2026-12-07 10:00:01Z</time>: AmazonECS.Unknown: ECS started no task: You’ve reached the limit on the number of vCPUs you can run concurrently</p> <p>The workflow tries again as other tasks stop, and fails the job if no room comes by about <time datetime="2026-12-07T11:00:11.000Z">2026-12-07 11:00:11Z</time>.</p>',
    );
    expect(waiting).not.toContain('job-stalled');
    for (const id of ['imp_rerun', 'imp_aborted', 'imp_failed'])
      expect(await page(`/jobs/${id}`)).not.toContain('job-waiting-for-room');
  });

  it('says a running job whose execution ended is run by nothing, with its task’s failure and a Redrive of that execution', async () => {
    const aborted = await page('/jobs/imp_aborted');
    const stalled =
      /<section class="error-box" id="job-stalled">[\s\S]*?<\/section>/.exec(aborted)?.[0] ?? '';
    expect(stalled).toContain(
      '<strong>Its execution ended ABORTED: nothing runs this job again until it is redriven or failed.</strong>',
    );
    expect(stalled).toContain(`href="/executions?arn=${encodeURIComponent(arn('imp_aborted'))}"`);
    expect(stalled).toContain(`<strong>Its task’s last failure:</strong> ${reason}`);
    expect(stalled).toMatch(/<form method="post" action="\/executions\/redrive" class="action">/);
    expect(stalled).toContain(`<input type="hidden" name="arn" value="${arn('imp_aborted')}">`);
    expect(stalled).toContain('id="redrive-execution">Redrive<span class="vh"> imp_aborted</span></button>');
  });

  it('offers no Redrive for an ended execution Step Functions will not redrive, and says how to end the job', async () => {
    const old = await page('/jobs/imp_old');
    const stalled = /<section class="error-box" id="job-stalled">[\s\S]*?<\/section>/.exec(old)?.[0] ?? '';
    expect(stalled).toContain('Its execution ended FAILED');
    expect(stalled).not.toContain('/executions/redrive');
    expect(stalled).toContain(
      'Cannot be redriven: Execution history is older than 14 days. End the job with <code>sidestep job fail imp_old --reason …</code>',
    );
  });

  it('shows a succeeded export as all its rows exported, and a running one without an import’s count', async () => {
    const done = await page('/jobs/exp_done');
    expect(done).toContain(
      '<progress max="1000" value="1000" aria-label="1000 rows exported"></progress>\n      <span class="count">1000 rows exported</span>',
    );
    expect(done).not.toContain('0 of 1000');
    const exporting = await page('/jobs/exp_running');
    expect(exporting).not.toContain('0 rows so far');
    expect(exporting).toContain('4,200,000 rows read');
  });
});

describe("a job's mails", () => {
  /** A time as the page writes it: a `<time>` of the instant, its text in UTC to the second. */
  const at = (date: Date) =>
    `<time datetime="${date.toISOString()}">${date.toISOString().slice(0, 19).replace('T', ' ')}Z</time>`;

  it("shows each mail's send-once record: its claim, in-progress window and expiry, an expired one marked", async () => {
    const body = await page('/jobs/imp_mails');
    const mails = /<table id="job-mails">[\s\S]*?<\/table>/.exec(body)?.[0] ?? '';
    const cells = (row: string) => [...row.matchAll(/<t[hd]>([\s\S]*?)<\/t[hd]>/g)].map((cell) => cell[1]);
    const [heading = '', ...rows] = [...mails.matchAll(/<tr>[\s\S]*?<\/tr>/g)].map((row) => row[0]);
    expect(cells(heading)).toEqual(['Mail', 'Status', 'Created', 'In progress until', 'Expires']);
    const [sending, sent, expired] = MAILS as [(typeof MAILS)[0], (typeof MAILS)[0], (typeof MAILS)[0]];
    expect(rows.map(cells)).toEqual([
      [
        sending.idempotencyKey,
        '<span class="badge badge-inprogress">INPROGRESS</span>',
        at(sending.createdAt),
        at(new Date(now + 600_000)),
        at(sending.expiresAt),
      ],
      [
        sent.idempotencyKey,
        '<span class="badge badge-completed">COMPLETED</span>',
        at(sent.createdAt),
        '—',
        at(sent.expiresAt),
      ],
      [
        expired.idempotencyKey,
        '<span class="badge badge-completed">COMPLETED</span>',
        at(expired.createdAt),
        '—',
        `${at(expired.expiresAt)} <strong class="bad mail-expired">(expired: a redrive sends it again)</strong>`,
      ],
    ]);
  });

  it('reads in a browser as sidestep job lists them, each time in the browser’s zone', async () => {
    await inBrowser('/jobs/imp_mails', async (tab) => {
      // Each cell as a person reads it, and the instant of the time it shows, if any.
      const rows = await tab.locator('#job-mails tr').evaluateAll((trs) =>
        trs.map((tr) =>
          [...tr.children].map((cell) => {
            const shown = cell.querySelector('time')?.getAttribute('datetime');
            return shown ? `${shown} as ${cell.textContent}` : cell.textContent;
          }),
        ),
      );
      /** A time cell: its instant, shown as console.js writes it in the browser's zone, then `after`. */
      const shows = (date: Date, after = '') =>
        expect.stringMatching(new RegExp(`^${date.toISOString()} as .+${after.replace(/[()]/g, '\\$&')}$`));
      const [sending, sent, expired] = MAILS as [(typeof MAILS)[0], (typeof MAILS)[0], (typeof MAILS)[0]];
      expect(rows).toEqual([
        ['Mail', 'Status', 'Created', 'In progress until', 'Expires'],
        [
          sending.idempotencyKey,
          'INPROGRESS',
          shows(sending.createdAt),
          shows(new Date(now + 600_000)),
          shows(sending.expiresAt),
        ],
        [sent.idempotencyKey, 'COMPLETED', shows(sent.createdAt), '—', shows(sent.expiresAt)],
        [
          expired.idempotencyKey,
          'COMPLETED',
          shows(expired.createdAt),
          '—',
          shows(expired.expiresAt, ' (expired: a redrive sends it again)'),
        ],
      ]);
    });
  }, 60_000);
});

// `sidestep job logs` in the console: the job page links to the job's log lines, which the ops
// library reads from each function's and the batch task's log group (FilterLogEvents).
describe("a job's logs", () => {
  it('opens from the job page in a browser, every line oldest first with its source, level, message and keys', async () => {
    const logs = mockClient(context.clients.logs);
    // As a function's line reads: Powertools' keys and the Lambda context's, left out of the Fields.
    const line = (fields: Record<string, unknown>) =>
      JSON.stringify({ timestamp: 'x', service: 's', cold_start: false, function_name: 'f', ...fields });
    logs.on(FilterLogEventsCommand).resolves({ events: [] });
    logs.on(FilterLogEventsCommand, { logGroupName: '/ecs/sidestep-local-batch-worker' }).resolves({
      events: [
        {
          timestamp: now + 2_000,
          logStreamName: 'batch-worker/batch-worker/t1',
          message: line({ level: 'ERROR', message: 'import failed', jobId: 'imp_mails', rows: 3 }),
        },
      ],
    });
    logs.on(FilterLogEventsCommand, { logGroupName: '/aws/lambda/sidestep-local-status-updater' }).resolves({
      events: [
        {
          timestamp: now + 1_000,
          logStreamName: 's',
          message: line({ level: 'INFO', message: 'job started', jobId: 'imp_mails' }),
        },
      ],
    });
    try {
      await inBrowser('/jobs/imp_mails', async (tab) => {
        await tab.click('#job-logs');
        await tab.waitForURL(new URL('/jobs/imp_mails/logs', running.url).toString());
        const rows = await tab
          .locator('#job-log-lines tr')
          .evaluateAll((trs) => trs.map((tr) => [...tr.children].slice(1).map((cell) => cell.textContent)));
        expect(rows).toEqual([
          ['Source', 'Level', 'Message', 'Fields'],
          ['status-updater', 'INFO', 'job started', 'jobId=imp_mails'],
          ['batch-worker', 'ERROR', 'import failed', 'jobId=imp_mails rows=3'],
        ]);
        // Searched by the job's id in every group.
        for (const call of logs.commandCalls(FilterLogEventsCommand)) {
          expect(call.args[0].input.filterPattern).toContain('($.jobId = "imp_mails")');
        }
      });
    } finally {
      logs.restore();
    }
  }, 60_000);
});

describe("a job's actions and rejected rows", () => {
  it('offers Retry for a failed job only, not a running or succeeded one', async () => {
    expect(await page('/jobs/imp_failed')).toContain('id="retry-job"');
    for (const id of ['imp_rerun', 'exp_running', 'exp_done'])
      expect(await page(`/jobs/${id}`)).not.toContain('retry-job');
  });

  it("lists a completed import's rejected rows after the line its ?cursor= names", async () => {
    listed.rejected.length = 0;
    const first = await page('/jobs/imp_rejected');
    expect(first).toContain('<td>not an email</td>');
    expect(first).toContain('<a rel="next" href="/jobs/imp_rejected?cursor=2">');
    const second = await page('/jobs/imp_rejected?cursor=2');
    expect(listed.rejected).toEqual([
      { jobId: 'imp_rejected', limit: 100 },
      { jobId: 'imp_rejected', limit: 100, after: 2 },
    ]);
    expect(second).toContain('<td>=HYPERLINK(&quot;x&quot;)</td>');
    expect(second).not.toContain('not an email');
  });

  it('downloads every rejected row as CSV after a UTF-8 byte order mark, so Excel reads it as UTF-8', async () => {
    const answer = await get('/jobs/imp_rejected/rejected.csv');
    expect(answer.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(answer.headers.get('content-disposition')).toBe(
      'attachment; filename="imp_rejected-rejected-rows.csv"',
    );
    // Read as bytes: a text decoder drops the mark.
    const body = Buffer.from(await answer.arrayBuffer());
    expect(body.subarray(0, 3)).toEqual(Buffer.from([0xef, 0xbb, 0xbf]));
    expect(body.subarray(3).toString('utf8')).toBe(
      'line,field,message\n2,email,not an email\n7,name,"\'=HYPERLINK(""x"")"\n',
    );
  });
});

describe('a live stream of a page no longer live', () => {
  // The page's script swaps each event's body in and closes the stream at `end`
  // (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).
  it("of a job that ended sends the page's body once, then event: end, and closes", async () => {
    const answer = await get('/jobs/exp_done', {
      headers: { accept: 'text/event-stream' },
      signal: AbortSignal.timeout(5_000),
    });
    const events = (await answer.text()).split('\n\n');
    expect(events).toHaveLength(3);
    expect(events[0]).toMatch(/^data: <h1 data-announce="Job exp_done: succeeded">Job exp_done/);
    expect(events.slice(1)).toEqual(['event: end\ndata: ', '']);
  });
});

describe('the jobs list', () => {
  it('asks the ledger for the page after its ?cursor=', async () => {
    listed.jobs.length = 0;
    const cursor = '2026-12-04T00:00:00.000Z|imp_rerun';
    const list = await page(`/jobs?cursor=${encodeURIComponent(cursor)}`);
    expect(listed.jobs).toEqual([{ limit: 50, after: cursor }]);
    expect(list).toContain('<a href="/jobs">First page</a>');
  });

  it('shows a succeeded export as all its rows exported, not as none of them imported', async () => {
    const list = await page('/jobs');
    const row = (id: string) =>
      new RegExp(`<tr><td><a href="/jobs/${id}">[\\s\\S]*?</tr>`).exec(list)?.[0] ?? '';
    expect(row('exp_done')).toContain(
      '<progress max="1000" value="1000" aria-label="1000 rows exported"></progress>',
    );
    expect(row('exp_done')).toContain('1000 rows exported');
    expect(row('exp_done')).not.toContain('0 of 1000 rows');
    // A running export's rows read are on its page; the ledger's import count would say 0.
    expect(row('exp_running')).toContain('<progress aria-label="Progress"></progress>');
    expect(row('exp_running')).not.toContain('rows so far');
  });
});
