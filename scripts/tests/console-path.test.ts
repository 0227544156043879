/// <reference lib="dom" />
// What runs in the page (page.evaluate) is typed by the DOM's declarations.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { GetQueueUrlCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type RunningConsole, startConsole } from '@sidestep/console';
import { launchChromium } from '@sidestep/console/testing';
import type { Database } from '@sidestep/db';
import { insertStagedImport } from '@sidestep/ledger/testing';
import { createVirtualClock } from '@sidestep/local-cloud';
import { createOpsContext, type OpsContext } from '@sidestep/ops';
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import { LOCAL_CLOUD } from '../src/services.ts';
import {
  holdImportUntilAborted,
  jobBySourceKey,
  type PathCloud,
  putLargeImport,
  rootDir,
  settle,
  startPathCloud,
} from './start-path-cloud.ts';

// The operator console as a person uses it: headless Chromium (Debian's `chromium`, driven by
// playwright-core) clicking through the console of a local cloud that runs the real bundles.
// With SIDESTEP_SCREENSHOTS=1 it also writes the README's screenshots to docs/console/.

const SCREENSHOTS = process.env.SIDESTEP_SCREENSHOTS === '1' ? join(rootDir, 'docs', 'console') : undefined;
const run = randomBytes(4).toString('hex');

let path: PathCloud;
let db: Database;
let context: OpsContext;
let operatorConsole: RunningConsole;
let browser: Browser;

beforeAll(async () => {
  // Launched first: a browser that cannot start fails the file before a cloud is started.
  browser = await launchChromium();
  // Everything `npm start` runs, on its own embedded database (the test renames a table), its
  // schedules on a virtual clock far from any fire time: nothing runs by itself during the test.
  path = await startPathCloud('console-path', {
    ...LOCAL_CLOUD,
    schedules: { ...LOCAL_CLOUD.schedules, clock: createVirtualClock(new Date('2026-11-24T10:07:00Z')) },
  });
  db = await path.openDatabase(1);
  context = createOpsContext({
    environment: 'local',
    endpoint: path.cloud.endpoint,
    databaseUrl: path.cloud.databaseUrl ?? '',
    env: { USER: 'console-test' },
  });
  operatorConsole = await startConsole({
    context,
    port: 0,
    outboxDir: path.cloud.outboxDir,
    refreshMs: 300,
  });
  if (SCREENSHOTS) mkdirSync(SCREENSHOTS, { recursive: true });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await operatorConsole?.close();
  await context?.close();
  await path?.stop();
});

/**
 * A fresh page (its own cookies) in `locale`, signed in as a person is, by opening the URL the
 * console printed; then at `pathname` of the console.
 */
async function open(pathname: string, locale = 'en-US', options: BrowserContextOptions = {}): Promise<Page> {
  const page = await (
    await browser.newContext({ locale, viewport: { width: 1360, height: 900 }, ...options })
  ).newPage();
  await page.goto(operatorConsole.url);
  await page.waitForURL(new URL('/', operatorConsole.url).toString());
  await page.goto(new URL(pathname, operatorConsole.url).toString());
  return page;
}

async function screenshot(page: Page, name: string): Promise<void> {
  if (SCREENSHOTS) await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/**
 * The text on `page` whose contrast with its background is below WCAG 2's AA minimum (4.5:1, 3:1
 * for large text; https://www.w3.org/TR/WCAG22/#contrast-minimum), as `text: ratio`. Disabled
 * controls are exempt, as WCAG says; the SVG graph's text is drawn with `fill` and left out.
 */
function lowContrast(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const rgba = (value: string) => {
      const [r = 0, g = 0, b = 0, a = 1] = (value.match(/[\d.]+/g) ?? []).map(Number);
      return { r, g, b, a };
    };
    const luminance = ({ r, g, b }: { r: number; g: number; b: number }) => {
      const linear = (v: number) =>
        v / 255 <= 0.04045 ? v / 255 / 12.92 : ((v / 255 + 0.055) / 1.055) ** 2.4;
      return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
    };
    const background = (element: Element) => {
      for (let at: Element | null = element; at; at = at.parentElement) {
        const colour = rgba(getComputedStyle(at).backgroundColor);
        if (colour.a > 0) return colour;
      }
      return { r: 255, g: 255, b: 255, a: 1 };
    };
    const low: string[] = [];
    for (const element of document.body.querySelectorAll('*')) {
      const text = [...element.childNodes]
        .filter((node) => node.nodeType === Node.TEXT_NODE)
        .map((node) => node.textContent ?? '')
        .join('')
        .trim();
      if (!text || element.closest('svg, :disabled') || !element.checkVisibility()) continue;
      const style = getComputedStyle(element);
      const [a, b] = [luminance(rgba(style.color)), luminance(background(element))];
      const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      const size = Number.parseFloat(style.fontSize);
      const large = size >= 24 || (Number(style.fontWeight) >= 700 && size >= 18.66);
      if (ratio < (large ? 3 : 4.5))
        low.push(`${element.localName} "${text.slice(0, 30)}": ${ratio.toFixed(2)}`);
    }
    return [...new Set(low)];
  });
}

/**
 * Runs `use` with `add`, which inserts an import job in `state` as the ledger holds one (without an
 * execution), and deletes the jobs it added afterwards.
 */
async function withImports(
  use: (
    add: (
      id: string,
      state: string,
      fields?: { readonly fileName?: string; readonly error?: string },
    ) => Promise<void>,
  ) => Promise<void>,
): Promise<void> {
  const added: string[] = [];
  try {
    await use(async (id, state, fields = {}) => {
      added.push(id);
      await db.query(
        `INSERT INTO jobs (id, kind, state, source_bucket, source_key, source_version, file_name, error)
         VALUES ($1, 'import', $2, 'sidestep-local-imports', $3, 'v1', $4, $5)`,
        [id, state, `imports/${id}/users.csv`, fields.fileName ?? 'users.csv', fields.error ?? null],
      );
    });
  } finally {
    await db.query('DELETE FROM jobs WHERE id = ANY($1)', [added]);
  }
}

describe('the console, in a browser', () => {
  it('goes from the overview to a failed job and its execution, retries it and shows it complete', async () => {
    const fileName = `console-${run}.csv`;
    const key = `imports/${run}/${fileName}`;
    // The cause: the users table is not where the worker writes (a migration half done, say).
    await db.query('ALTER TABLE users RENAME TO users_moved_away');
    await path.s3.send(
      new PutObjectCommand({
        Bucket: 'sidestep-local-imports',
        Key: key,
        Body: `external_id,email,name\nc-${run}-1,c1.${run}@example.com,C 1\nc-${run}-2,c2.${run}@example.com,C 2\nc-${run}-3,c3.${run}@example.com,C 3\n`,
        ContentType: 'text/csv',
      }),
    );
    const job = () => jobBySourceKey(db, key);
    await settle(async () => (await job())?.state === 'failed', 90_000);
    const jobId = (await job())?.id ?? '';

    // The overview puts the failure first; it is live, so no reload is needed to see it.
    const page = await open('/');
    await page.locator('#failures a.failed-job', { hasText: jobId }).waitFor();
    await page.locator('header .live-indicator:not([hidden])').waitFor();
    await screenshot(page, 'overview');

    await page.locator('#failures a.failed-job', { hasText: jobId }).click();
    await page.waitForURL(`**/jobs/${jobId}`);
    expect(await page.locator('#job-state').textContent()).toContain('failed');
    expect(await page.locator('#job-executions li').count()).toBe(1);

    // Its execution: the graph says which state failed, the timeline says why.
    await page.locator('#job-executions a').first().click();
    await page.waitForURL('**/executions?arn=*');
    const failedStates = await page.locator('svg.workflow-graph g[data-outcome="failed"]').count();
    const succeededStates = await page.locator('svg.workflow-graph g[data-outcome="succeeded"]').count();
    expect(failedStates).toBeGreaterThan(0);
    expect(succeededStates).toBeGreaterThan(0);
    expect(await page.locator('#timeline').textContent()).toContain('RegisterJob');
    // Said in words too, not by colour alone: the image's name and a sign on each state.
    expect(await page.locator('svg.workflow-graph').getAttribute('aria-label')).toMatch(
      /^The import workflow: .*RegisterJob succeeded, .*ImportRows failed/,
    );
    expect(
      await page.locator('svg.workflow-graph g[data-outcome="failed"] .state-type').first().textContent(),
    ).toMatch(/ ✗$/);
    await screenshot(page, 'execution');

    // The cause fixed, Retry on the job's page; the page follows the new attempt until it succeeds.
    await db.query('ALTER TABLE users_moved_away RENAME TO users');
    await page.locator(`a[href="/jobs/${jobId}"]`).first().click();
    await page.locator('#retry-job').click();
    await page.waitForURL(`**/jobs/${jobId}?flash=*`);
    expect(await page.locator('.flash').textContent()).toContain('attempt 2');
    await page.locator('#job-state', { hasText: 'succeeded' }).waitFor({ timeout: 90_000 });
    expect(await page.locator('#job-executions li').count()).toBe(2);
    expect(await page.locator('main').textContent()).toContain('3 of 3 rows');
    // The merge's own count: three new users.
    expect(await page.locator('#job-written').textContent()).toBe('Users new or changed: 3');
    await screenshot(page, 'job');

    // The retry is in the audit trail, as the console's operator.
    await page.goto(new URL('/audit', operatorConsole.url).toString());
    const firstEntry = await page.locator('#audit tbody tr').first().textContent();
    expect(firstEntry).toContain('job-retry');
    expect(firstEntry).toContain(jobId);
    expect(firstEntry).toContain('local:console-test');

    // The completion mail, rendered from the local outbox like Mailpit.
    await page.goto(new URL(`/mail?job=${jobId}`, operatorConsole.url).toString());
    await page.locator('#outbox a', { hasText: `Import finished: ${fileName}` }).waitFor({ timeout: 30_000 });
    await page.locator('#outbox a', { hasText: `Import finished: ${fileName}` }).click();
    await page.waitForURL('**/mail/*.eml');
    const frame = page.frameLocator('iframe.mail-html');
    await expect(frame.locator('body').textContent()).resolves.toContain(fileName);
    expect(await page.locator('pre.mail-text').textContent()).toContain(fileName);
    await screenshot(page, 'mail');
    await page.context().close();
  }, 240_000);

  it('shows why dead letters failed, previews a redrive as a dry run, then redrives', async () => {
    const send = (id: string, template: string, errorType: string, errorMessage: string) =>
      path.sqs.send(
        new SendMessageCommand({
          QueueUrl: path.cloud.queueUrl('sidestep-local-mail-dlq'),
          MessageBody: JSON.stringify({
            type: 'mail.send',
            version: 1,
            id,
            payload: {
              template,
              to: `${id}@example.com`,
              params: { jobId: `imp_${id}`, fileName: 'users.csv', rows: 10 },
            },
          }),
          MessageAttributes: {
            'sidestep.error.type': { DataType: 'String', StringValue: errorType },
            'sidestep.error.message': { DataType: 'String', StringValue: errorMessage },
          },
        }),
      );
    await send(
      `smtp-down-${run}`,
      'import.completed',
      'MailTransportError',
      'connect ECONNREFUSED 127.0.0.1:2525',
    );
    await send(`poison-${run}`, 'welcome', 'SchemaViolationError', 'payload.template: invalid option');

    const page = await open('/queues');
    await page.locator('#queues a[href="/queues/mail"]').first().click();
    await page.waitForURL('**/queues/mail');
    const listed = await page.locator('#dead-letters').textContent();
    expect(listed).toContain(`smtp-down-${run}`);
    expect(listed).toContain('MailTransportError');
    expect(listed).toContain('SchemaViolationError');

    await page.locator('#preview-redrive').click();
    await page.waitForURL('**/queues/mail/preview');
    expect(await page.locator('#preview-summary').textContent()).toBe('1 would pass, 1 would fail again');
    const checks = await page.locator('#checks').textContent();
    expect(checks).toMatch(new RegExp(`poison-${run}.*fail again: payload\\.template`, 's'));
    await screenshot(page, 'dlq-preview');

    await page.locator('#redrive').click();
    await page.waitForURL('**/queues/mail?flash=*');
    expect(await page.locator('.flash').textContent()).toMatch(/COMPLETED: moved 2/);
    await path.collecting.waitFor(
      'mail-delivered',
      (event) => event.to.includes(`smtp-down-${run}@example.com`),
      30_000,
    );

    await page.goto(new URL('/audit', operatorConsole.url).toString());
    expect(await page.locator('#audit tbody tr').first().textContent()).toMatch(/dlq-redrive\s*mail\s*ok/);
    await page.context().close();
  }, 120_000);

  // The schedule group's DLQ has no source queue: the console lists what it holds and offers no redrive.
  it('shows what a DLQ without a source queue holds, with no redrive to offer', async () => {
    const { QueueUrl } = await path.sqs.send(
      new GetQueueUrlCommand({ QueueName: 'sidestep-local-schedules-dlq' }),
    );
    await path.sqs.send(
      new SendMessageCommand({
        QueueUrl,
        MessageBody: JSON.stringify({ id: `nightly-export:${run}` }),
        MessageAttributes: {
          ERROR_CODE: { DataType: 'String', StringValue: 'QueueDoesNotExist' },
          ERROR_MESSAGE: { DataType: 'String', StringValue: 'queue is gone' },
        },
      }),
    );
    const page = await open('/queues');
    expect(await page.locator('#rule-dead-letters').textContent()).toMatch(/schedules\s*1/);
    await page.locator('#rule-dead-letters a[href="/queues/schedules"]').first().click();
    await page.waitForURL('**/queues/schedules');
    expect(await page.locator('#dead-letters').textContent()).toContain('queue is gone');
    expect(await page.locator('#preview-redrive').count()).toBe(0);
    await page.context().close();
  }, 60_000);

  it('stops a running import with the cause typed in: the execution is ABORTED, the job fails with that cause', async () => {
    const fileName = `stop-${run}.csv`;
    const key = `imports/${run}/${fileName}`;
    await putLargeImport(path.s3, key, `st-${run}-`);
    const job = async () =>
      (
        await db.query<{ id: string; state: string; execution_id: string | null; error: string | null }>(
          'SELECT id, state, execution_id, error FROM jobs WHERE source_key = $1',
          [key],
        )
      ).rows[0];
    await settle(async () => (await job())?.state === 'running', 60_000);
    const running = await job();
    const name = running?.execution_id?.split(':').at(-1) ?? '';
    const task = await holdImportUntilAborted(path.collecting, name, running?.id ?? '');

    const executionPath = `/executions?arn=${encodeURIComponent(running?.execution_id ?? '')}`;
    // A second operator on the same live page types a cause of their own and tabs to Stop.
    const other = await open(executionPath);
    await other.locator('header .live-indicator:not([hidden])').waitFor();
    // The field's label is on screen, not only a placeholder that typing hides.
    const label = other.locator('#stop-execution label', {
      hasText: "Why (recorded, and in the job's failure)",
    });
    expect(await label.isVisible()).toBe(true);
    await label.click();
    await other.keyboard.type('the other cause');
    await other.keyboard.press('Tab');
    const focused = () => other.evaluate(() => document.activeElement?.matches('#stop-execution button'));
    expect(await focused()).toBe(true);

    // A third operator types a cause and moves on to a link outside the form: the page is theirs to
    // read again, so a change is shown at once, the cause they typed carried into the new body. Its
    // stream is answered here (the running page's own body, with one line more, then the stream's
    // end): nothing else on a running execution's page changes while its task is frozen.
    const third = await open(executionPath);
    let answer = (_body: string) => {};
    const answered = new Promise<string>((resolve) => {
      answer = resolve;
    });
    await third.route(
      (url) => url.pathname === '/executions',
      async (route) => {
        if (route.request().headers().accept !== 'text/event-stream') return route.fallback();
        const body = await answered;
        await route.fulfill({
          contentType: 'text/event-stream',
          body: `data: ${body.split('\n').join('\ndata: ')}\n\nevent: end\ndata: \n\n`,
        });
      },
    );
    await third.reload();
    await third.locator('#stop-execution input[name="cause"]').fill('a cause of my own');
    await third.locator('main .meta a').first().focus();
    answer(`<p id="news">the data changed</p>${await third.locator('main').innerHTML()}`);
    await third.locator('#news').waitFor({ timeout: 5_000 });
    expect(await third.locator('#stop-execution input[name="cause"]').inputValue()).toBe('a cause of my own');
    expect(await third.evaluate(() => document.activeElement?.matches('main .meta a'))).toBe(true);
    await third.locator('header .live-indicator[hidden]').waitFor({ state: 'attached' });
    await third.context().close();

    const page = await open(executionPath);
    await page.locator('#stop-execution input[name="cause"]').fill('wrong file uploaded');
    await page.locator('#stop-execution button').click();
    await page.waitForURL('**/executions?arn=*&flash=*');
    expect(await page.locator('.flash').textContent()).toContain('Stopped at');
    await page.locator('h1', { hasText: 'ABORTED' }).waitFor({ timeout: 30_000 });
    await task.continued;

    // The second operator's page heard of the change (several refreshes of 300 ms) but did not throw
    // away what they typed, nor their focus (WCAG 2.4.3): their Stop is refused, and says why on
    // the execution's own page.
    await other.waitForTimeout(1_500);
    expect(await other.locator('#stop-execution input[name="cause"]').inputValue()).toBe('the other cause');
    expect(await focused()).toBe(true);
    await other.keyboard.press('Enter');
    await other.waitForURL('**/executions?arn=*&flash=*');
    expect(await other.locator('.flash-error').textContent()).toMatch(
      /^InvalidOptionError: execution: \S+ is ABORTED, not RUNNING: nothing to stop$/,
    );
    expect(await other.locator('h1').textContent()).toContain('ABORTED');
    await other.context().close();

    // The job-sweeper fails the job of the ABORTED execution with the operator's cause.
    await page.goto(new URL(`/jobs/${running?.id}`, operatorConsole.url).toString());
    await page.locator('#job-state', { hasText: 'failed' }).waitFor({ timeout: 60_000 });
    expect(await page.locator('main .error-box').first().textContent()).toMatch(
      /aborted: execution \S+ was stopped \(StoppedByOperator: local:console-test: wrong file uploaded\)/,
    );
    await page.context().close();
  }, 120_000);

  it("shows how far a running import's staging has got on its job page, live until the staging is gone", async () => {
    const jobId = `imp_staged_${run}`;
    const remove = await insertStagedImport(db, jobId);
    try {
      const page = await open(`/jobs/${jobId}`, 'en-US', { timezoneId: 'America/New_York' });
      expect(await page.locator('#job-state').textContent()).toContain('running');
      const staging = page.locator('#job-staging');
      expect(await staging.textContent()).toMatch(
        /^\s*Staging: 4,200,000 records, 412\.0 of 553\.4 MiB \(74%\), 52 of 53 segments validated, 3 rows rejected so far\s+\(Updated .+\)$/,
      );
      expect(await staging.locator('progress').getAttribute('value')).toBe('432013312');
      expect(await staging.locator('time').getAttribute('datetime')).toBe('2026-12-04T10:21:03.000Z');
      // In the browser's zone, which it names: the CLI and the logs say UTC, which stays the title.
      expect(await staging.locator('time').textContent()).toBe('12/4/2026, 5:21:03 AM EST');
      expect(await staging.locator('time').getAttribute('title')).toBe('2026-12-04 10:21:03Z');
      // The staging dropped (as when the job completes or fails): the live page loses the line.
      await db.query('SELECT drop_import_staging($1)', [jobId]);
      await staging.waitFor({ state: 'detached', timeout: 10_000 });
      await page.context().close();
    } finally {
      await remove();
    }
  }, 60_000);

  it('shows how far a running export has got, as its task recorded it', async () => {
    const jobId = `exp_progress_${run}`;
    await db.query(
      `INSERT INTO jobs (id, kind, state, request_id, requested_by) VALUES ($1, 'export', 'running', $1, 'ops@example.com')`,
      [jobId],
    );
    await db.query(
      `INSERT INTO export_progress (job_id, rows, parts, bytes, updated_at) VALUES ($1, 4200000, 7, 58720256, '2026-12-04T10:21:03Z')`,
      [jobId],
    );
    try {
      const page = await open(`/jobs/${jobId}`, 'en-US', { timezoneId: 'Asia/Tokyo' });
      const line = page.locator('#job-export-progress');
      expect(await line.textContent()).toMatch(
        /^\s*Exported so far: 4,200,000 rows read, 7 parts uploaded \(56\.0 MiB gzip\)\s+\(Updated .+\)$/,
      );
      expect(await line.locator('time').getAttribute('datetime')).toBe('2026-12-04T10:21:03.000Z');
      expect(await line.locator('time').textContent()).toBe('12/4/2026, 7:21:03 PM GMT+9');
      await page.context().close();
    } finally {
      await db.query('DELETE FROM jobs WHERE id = $1', [jobId]);
    }
  }, 60_000);

  it("lists a completed import's rejected rows page by page, and a failed import's first ones", async () => {
    const completed = `imp_rejected_${run}`;
    const failed = `imp_failed_rejected_${run}`;
    await db.query(
      `INSERT INTO jobs (id, kind, state, source_bucket, source_key, source_version, file_name, rows_total, rows_imported, rows_rejected, row_errors)
       VALUES ($1, 'import', 'succeeded', 'sidestep-local-imports', $3, 'v1', 'users.csv', 200, 70, 130, '[]'),
              ($2, 'import', 'failed', 'sidestep-local-imports', $4, 'v1', 'users.csv', NULL, NULL, 1500,
               '[{"line": 2, "field": "email", "message": "is not a valid email address"},
                 {"line": 5, "field": "row", "message": "has 2 fields, the header has 3"}]')`,
      [completed, failed, `imports/${completed}/users.csv`, `imports/${failed}/users.csv`],
    );
    // Lines 2-131, as the batch-worker copies them from the staging's rejects when the import completes.
    await db.query(
      `INSERT INTO import_rejected_rows (job_id, line, field, message)
       SELECT $1, line, 'email', 'is not a valid email address <' || line || '>' FROM generate_series(2, 131) AS line`,
      [completed],
    );
    try {
      const page = await open(`/jobs/${completed}`);
      const section = page.locator('#job-rejected');
      expect(await section.locator('h2').textContent()).toBe('Rejected rows (130)');
      // Every row as one CSV file, saved by the browser.
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        section.locator('#rejected-csv').click(),
      ]);
      expect(download.suggestedFilename()).toBe(`${completed}-rejected-rows.csv`);
      const saved = readFileSync((await download.path()) ?? '', 'utf8').split('\n');
      expect(saved[0]).toBe('\uFEFFline,field,message');
      expect(saved.slice(1, 3)).toEqual([
        '2,email,is not a valid email address <2>',
        '3,email,is not a valid email address <3>',
      ]);
      expect(saved.at(-2)).toBe('131,email,is not a valid email address <131>');
      expect(saved).toHaveLength(132); // the header, 130 rows, and the last line's end
      const rows = section.locator('#rejected-rows tbody tr');
      expect(await rows.count()).toBe(100);
      // The reason is text, escaped: its "<2>" shows as written.
      expect(await rows.first().locator('td').allTextContents()).toEqual([
        '2',
        'email',
        'is not a valid email address <2>',
      ]);
      await section.locator('a[rel="next"]').click();
      await page.waitForURL(/cursor=101/);
      expect(await rows.count()).toBe(30);
      expect(await rows.last().locator('td').first().textContent()).toBe('131');
      expect(await section.locator('a[rel="next"]').count()).toBe(0);
      await page.context().close();

      const failedPage = await open(`/jobs/${failed}`, 'ja-JP');
      const first = failedPage.locator('#job-rejected');
      expect(await first.locator('h2').textContent()).toBe('除外された行（1,500 行）');
      expect(await first.textContent()).toContain('除外された 1,500 行のうち最初の 2 行');
      expect(await first.locator('#rejected-rows tbody tr td:first-child').allTextContents()).toEqual([
        '2',
        '5',
      ]);
      await failedPage.context().close();
    } finally {
      await db.query('DELETE FROM jobs WHERE id = ANY($1)', [[completed, failed]]);
    }
  }, 60_000);

  it(
    'keeps a keyboard user’s focus on the link they were on when a live page changes',
    () =>
      withImports(async (add) => {
        const [first, second] = [`imp_focus_a_${run}`, `imp_focus_b_${run}`];
        await add(first, 'failed');
        const page = await open('/jobs?status=failed');
        await page.locator('header .live-indicator:not([hidden])').waitFor();
        await page.locator(`#jobs a[href="/jobs/${first}"]`).focus();
        // A job fails meanwhile: the list is rendered again, with it on top.
        await add(second, 'failed');
        await page.locator(`#jobs a[href="/jobs/${second}"]`).waitFor();
        expect(await page.evaluate(() => document.activeElement?.getAttribute('href'))).toBe(
          `/jobs/${first}`,
        );
        await page.context().close();
      }),
    60_000,
  );

  it(
    'keeps every column of the jobs list on screen with a 1,000-character file name and reason',
    () =>
      withImports(async (add) => {
        const id = `imp_long_${run}`;
        const fileName = `${'a'.repeat(996)}.csv`;
        const reason = `rows:${'x'.repeat(995)}`;
        await add(id, 'failed', { fileName, error: reason });
        const page = await open('/jobs?status=failed');
        const jobs = page.locator('#jobs');
        const viewport = await page.evaluate(() => document.documentElement.clientWidth);
        const rights = await jobs
          .locator('th')
          .evaluateAll((cells) => cells.map((cell) => cell.getBoundingClientRect().right));
        expect(rights).toHaveLength(8);
        expect(Math.max(...rights)).toBeLessThanOrEqual(viewport);
        // Nothing to scroll sideways in the list's section either.
        expect(
          await jobs.evaluate((table) => table.scrollWidth <= (table.parentElement?.clientWidth ?? 0)),
        ).toBe(true);
        // The two cells are capped to a few lines; each has its whole text as its title.
        const row = jobs.locator('tbody tr', { has: page.locator(`a[href="/jobs/${id}"]`) });
        expect((await row.boundingBox())?.height).toBeLessThan(120);
        expect(
          await row
            .locator('bdi[title]')
            .evaluateAll((cells) => cells.map((cell) => cell.getAttribute('title'))),
        ).toEqual([fileName, reason]);
        // The job's page shows both whole, wrapped within the page.
        await page.locator(`#jobs a[href="/jobs/${id}"]`).click();
        await page.waitForURL(`**/jobs/${id}`);
        expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(viewport);
        expect(await page.locator('main .meta bdi').textContent()).toBe(fileName);
        expect(await page.locator('main .error-box').textContent()).toContain(reason);
        await page.context().close();
      }),
    60_000,
  );

  it(
    'brings a refused Retry back to the job’s page, with the error',
    () =>
      withImports(async (add) => {
        // Failed before any execution ran it: there is nothing to retry (JobStateError).
        const id = `imp_unretryable_${run}`;
        await add(id, 'failed', { error: 'registration failed' });
        const page = await open(`/jobs/${id}`);
        await page.locator('#retry-job').click();
        await page.waitForURL(`**/jobs/${id}?flash=*`);
        const flash = page.locator('.flash-error');
        expect(await flash.textContent()).toBe(
          `JobStateError: jobId: job ${id} is failed, but it has no execution to retry the input of`,
        );
        expect(await flash.getAttribute('role')).toBe('alert');
        expect(await page.locator('#job-state').textContent()).toContain('failed');
        await page.context().close();
      }),
    60_000,
  );

  it(
    'shows every text, button and badge at a contrast of at least 4.5:1, light and dark',
    () =>
      withImports(async (add) => {
        // A job in each state, for each badge, and the failed one's page for its Retry.
        for (const state of ['registered', 'running', 'succeeded', 'failed'])
          await add(`imp_${state}_${run}`, state);
        for (const colorScheme of ['light', 'dark'] as const) {
          for (const pathname of ['/', '/jobs', `/jobs/imp_failed_${run}`, '/schedules']) {
            const page = await open(pathname, 'en-US', { colorScheme });
            expect({ colorScheme, pathname, low: await lowContrast(page) }).toEqual({
              colorScheme,
              pathname,
              low: [],
            });
            await page.context().close();
          }
        }
      }),
    60_000,
  );

  it('speaks the browser’s language and switches on request; workflows are drawn from their definitions', async () => {
    const page = await open('/workflows', 'ja-JP');
    expect(await page.locator('html').getAttribute('lang')).toBe('ja');
    expect(await page.locator('header nav a[aria-current="page"]').textContent()).toBe('ワークフロー');
    // dagre placed every state: each workflow's graph has its states at distinct positions.
    const graphs = page.locator('svg.workflow-graph');
    expect(await graphs.count()).toBe(2);
    const positions = await graphs
      .first()
      .locator('g.state rect')
      .evaluateAll((rects) => rects.map((rect) => `${rect.getAttribute('x')},${rect.getAttribute('y')}`));
    expect(positions.length).toBeGreaterThan(5);
    expect(new Set(positions).size).toBe(positions.length);
    expect(await graphs.evaluateAll((svgs) => svgs.map((svg) => svg.getAttribute('aria-label')))).toEqual([
      'ワークフロー import',
      'ワークフロー export',
    ]);
    await screenshot(page, 'workflows-ja');
    await page.locator('.languages a[lang="en"]').click();
    await page.waitForURL('**/workflows?lang=en');
    expect(await page.locator('header nav a[aria-current="page"]').textContent()).toBe('Workflows');
    // The choice sticks (a cookie) for the next page, whatever the browser prefers.
    await page.goto(new URL('/schedules', operatorConsole.url).toString());
    expect(await page.locator('h1').textContent()).toBe('Schedules');
    await screenshot(page, 'schedules');
    await page.context().close();
  }, 60_000);

  it('refuses an action posted from another site, even one carrying the console’s token', async () => {
    const own = await open('/schedules');
    const token = await own.locator('form.action input[name="token"]').first().inputValue();
    await own.context().close();
    // Another site (another origin: a port of its own) whose page posts a form to the console,
    // with the token as if it had leaked.
    const target = new URL('/schedules/nightly-export/fire', operatorConsole.url).toString();
    const attacker = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/html' });
      response.end(
        `<form method="post" action="${target}"><input name="token" value="${token}"></form>` +
          '<script>document.forms[0].submit()</script>',
      );
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = attacker.address() as AddressInfo;
      const page = await open(`http://127.0.0.1:${port}/`);
      await page.waitForURL(target);
      expect(await page.locator('#error').textContent()).toContain('Refused');
      const fired = await db.query(
        "SELECT 1 FROM operator_audit WHERE action = 'schedule-fire' AND target = 'nightly-export'",
      );
      expect(fired.rows).toHaveLength(0);
      await page.context().close();
    } finally {
      attacker.closeAllConnections();
      attacker.close();
    }
  });
});
