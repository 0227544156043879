import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { sampleJobDetail } from '@sidestep/ledger/testing';
import { createOpsContext, type Ledger, LedgerInvokeError, type OpsContext } from '@sidestep/ops';
import type { Browser } from 'playwright-core';
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

beforeAll(async () => {
  browser = await launchChromium();
  const ledger = {
    listJobs: async () => {
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

describe('a live page whose read fails once', () => {
  it('keeps its last body, says the live view could not refresh and why, and shows the next state once a read succeeds', async () => {
    const page = await (await browser.newContext()).newPage();
    // Signed in by the printed URL, opened at the jobs list.
    const opened = new URL(operatorConsole.url);
    opened.pathname = '/jobs';
    await page.goto(opened.toString());
    await page.waitForURL(new URL('/jobs', operatorConsole.url).toString());
    await page.locator('header .live-indicator:not([hidden])').waitFor();
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
