import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { sampleJobDetail } from '@sidestep/ledger/testing';
import { createOpsContext, type Ledger, LedgerInvokeError, type OpsContext } from '@sidestep/ops';
import type { Browser, Page } from 'playwright-core';
import { type RunningConsole, startConsole } from '../src/index.ts';
import { launchChromium } from '../src/testing.ts';

// A live page in a real browser (Debian's chromium, driven by playwright-core) while the environment
// it reads fails for a moment, as the ops-ledger function does when Lambda throttles it ("Rate
// exceeded"): one failed read must not end the page.

let context: OpsContext;
let operatorConsole: RunningConsole;
let browser: Browser;
/** What the ledger lists. */
let jobs = [sampleJobDetail({ id: 'imp_before', state: 'running' })];
/** Set by the test: the next listJobs throws, and the one after it waits for {@link release}. */
let failNext = false;
let failed: () => void = () => undefined;
let release: () => void = () => undefined;
let held: Promise<void> | undefined;
/** How many times the ledger was read. */
let reads = 0;

beforeAll(async () => {
  browser = await launchChromium();
  const ledger = {
    listJobs: async () => {
      reads += 1;
      if (failNext) {
        failNext = false;
        held = new Promise<void>((resolve) => {
          release = resolve;
        });
        failed();
        throw new LedgerInvokeError('ops-ledger: Rate exceeded');
      }
      const waiting = held;
      held = undefined;
      await waiting;
      return { jobs, next: null };
    },
  } as unknown as Ledger;
  context = {
    ...createOpsContext({ environment: 'local', env: { USER: 'tester' }, warn: () => undefined }),
    ledger: async () => ledger,
  };
  operatorConsole = await startConsole({ context, port: 0, refreshMs: 100 });
}, 60_000);

afterAll(async () => {
  release();
  await browser?.close();
  await operatorConsole?.close();
  await context?.close();
});

/** A new browser page signed in by the printed URL, opened at the jobs list, once it is live. */
async function openLiveJobsList(): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  const opened = new URL(operatorConsole.url);
  opened.pathname = '/jobs';
  await page.goto(opened.toString());
  await page.waitForURL(new URL('/jobs', operatorConsole.url).toString());
  await page.locator('header .live-indicator:not([hidden])').waitFor();
  return page;
}

describe('a live page whose read fails once', () => {
  it('keeps its last body, says the live view could not refresh and why, and shows the next state once a read succeeds', async () => {
    const page = await openLiveJobsList();
    expect(await page.locator('#jobs').textContent()).toContain('imp_before');

    const failedOnce = new Promise<void>((resolve) => {
      failed = resolve;
    });
    failNext = true;
    await failedOnce;
    // Whichever comes first: the warning, or the list gone.
    await page.waitForFunction(
      () => document.querySelector('#live-stale:not([hidden])') || !document.querySelector('main #jobs'),
    );
    expect(await page.locator('main').textContent()).not.toContain('The action failed');
    expect(await page.locator('#jobs').textContent()).toContain('imp_before');
    const warning = page.locator('#live-stale');
    expect(await warning.isVisible()).toBe(true);
    expect(await warning.textContent()).toContain('could not refresh');
    expect(await warning.textContent()).toContain('LedgerInvokeError: ops-ledger: Rate exceeded');
    expect(await warning.getAttribute('role')).toBe('status');
    expect(await page.locator('header .live-indicator').isHidden()).toBe(true);

    // The ledger answers again, with a job more: the page shows it by itself, and is live again.
    jobs = [sampleJobDetail({ id: 'imp_after', state: 'failed' }), ...jobs];
    release();
    await page.locator('#jobs a[href="/jobs/imp_after"]').waitFor({ timeout: 5_000 });
    await warning.waitFor({ state: 'hidden' });
    await page.locator('header .live-indicator:not([hidden])').waitFor();
    await page.context().close();
  });
});

/** Makes the page's tab hidden or shown again, as switching tabs does (`visibilitychange`). */
async function setTabHidden(page: Page, hidden: boolean): Promise<void> {
  await page.evaluate((hide) => {
    Object.defineProperty(document, 'visibilityState', {
      configurable: true,
      get: () => (hide ? 'hidden' : 'visible'),
    });
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => hide });
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
}

// Each render reads the environment again: a forgotten tab must not keep spending the account's
// API quotas (ListExecutions: 2 a second outside us-east-1, us-west-2 and eu-west-1,
// https://docs.aws.amazon.com/step-functions/latest/dg/limits-overview.html).
describe('a live page in a hidden tab', () => {
  it('reads nothing while its tab is hidden, and shows the page as it is now once shown again', async () => {
    const page = await openLiveJobsList();
    // Live: read again every 100 ms.
    const shown = reads;
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(reads - shown).toBeGreaterThanOrEqual(3);

    await setTabHidden(page, true);
    // A read under way when the stream closed may still end.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const hidden = reads;
    jobs = [sampleJobDetail({ id: 'imp_while_hidden', state: 'running' }), ...jobs];
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(reads).toBe(hidden);
    expect(await page.locator('header .live-indicator').isHidden()).toBe(true);
    expect(await page.locator('#jobs').textContent()).not.toContain('imp_while_hidden');

    await setTabHidden(page, false);
    await page.locator('#jobs a[href="/jobs/imp_while_hidden"]').waitFor({ timeout: 5_000 });
    await page.locator('header .live-indicator:not([hidden])').waitFor();
    expect(reads).toBeGreaterThan(hidden);
    await page.context().close();
  });
});
