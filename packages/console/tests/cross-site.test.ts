import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createOpsContext, LedgerInvokeError, type OpsContext } from '@sidestep/ops';
import type { Browser, Page } from 'playwright-core';
import { type RunningConsole, startConsole } from '../src/index.ts';
import { launchChromium } from '../src/testing.ts';
import { stubQueues } from './stub-queues.ts';

// What another web page can make the console do with the operator's credentials, in a real browser
// (Debian's chromium, driven by playwright-core). SQS has no read-only peek: listing a DLQ receives
// its messages, which hides each for a while and adds one to its ApproximateReceiveCount
// (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-visibility-timeout.html),
// so a page that lists dead letters is an action, and no other site may cause one: not with an
// <img>, a <link>, a frame, a fetch, nor by sending the operator's browser there.

const DEAD_LETTER = JSON.stringify({ type: 'mail.send', version: 1, id: 'smtp-down-1', payload: {} });

let context: OpsContext;
let operatorConsole: RunningConsole;
let browser: Browser;
let attacker: Server;
/** The local cloud's endpoint, for what the pages read past the stubbed SQS and CloudWatch clients: 404. */
let endpoint: Server;
let attackerPort: number;
/** The page the attacker's server sends next. */
let attack = '';
/** How many ReceiveMessage calls the console has made, and had made when the current test began. */
let receivesSoFar: () => number;
let receivesBefore = 0;

beforeAll(async () => {
  browser = await launchChromium();
  endpoint = createServer((_request, response) => response.writeHead(404).end());
  await new Promise<void>((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
  context = {
    ...createOpsContext({
      environment: 'local',
      endpoint: `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}`,
      env: { USER: 'tester' },
      warn: () => undefined,
    }),
    ledger: () => Promise.reject(new LedgerInvokeError('ops-ledger: no answer')),
  };
  // One dead letter in every DLQ.
  receivesSoFar = stubQueues(context, {
    body: DEAD_LETTER,
    attributes: { ApproximateReceiveCount: '1', SentTimestamp: '1764000000000' },
  }).receives;
  operatorConsole = await startConsole({ context, port: 0, refreshMs: 100 });
  attacker = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(attack);
  });
  await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
  attackerPort = (attacker.address() as AddressInfo).port;
}, 60_000);

afterAll(async () => {
  await browser?.close();
  attacker?.closeAllConnections();
  attacker?.close();
  endpoint?.close();
  await operatorConsole?.close();
  await context?.close();
});

beforeEach(() => {
  receivesBefore = receivesSoFar();
});

function consoleUrl(path: string): string {
  return new URL(path, operatorConsole.url).toString();
}

/**
 * A fresh browser page of the operator, signed in by opening the URL the console printed, with the
 * paths it asked the console for since (`requests`) and the answers it got as `status path` (an image
 * or stylesheet answered with a page is blocked by the browser, ORB, and reports none).
 */
async function browse(): Promise<{ page: Page; requests: string[]; answers: string[] }> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(operatorConsole.url);
  await page.waitForURL(consoleUrl('/'));
  const requests: string[] = [];
  const answers: string[] = [];
  const ofConsole = (url: string) => {
    const parsed = new URL(url);
    return parsed.port === String(operatorConsole.port) ? parsed.pathname : undefined;
  };
  page.on('request', (request) => {
    const path = ofConsole(request.url());
    if (path) requests.push(path);
  });
  page.on('response', (response) => {
    const path = ofConsole(response.url());
    if (path) answers.push(`${response.status()} ${path}`);
  });
  return { page, requests, answers };
}

// 127.0.0.1 on another port is the same site as the console, another origin; localhost is another site.
// The console's cookie is SameSite=Strict: a request another site causes carries none, and is
// answered 401 before anything else is looked at; one of the same site carries it (a fetch's, whose
// credentials are same-origin by default, does not), and is refused by where it came from (403).
describe.each([
  ['the same site (another port)', '127.0.0.1', 403],
  ['another site', 'localhost', 401],
])('a page of %s', (_name, attackerHost, navigated) => {
  const attackerUrl = () => `http://${attackerHost}:${attackerPort}/`;

  it('makes the console receive no message with an image, a stylesheet, a frame or a fetch, and each is refused', async () => {
    const target = (path: string) => consoleUrl(path);
    attack = `<!doctype html><body>
      <img src="${target('/queues/mail')}">
      <img src="${target('/queues/mail/preview')}" referrerpolicy="no-referrer">
      <link rel="stylesheet" href="${target('/async-failures/job-sweeper')}">
      <iframe src="${target('/queues/mail?limit=1000')}"></iframe>
      <script>
        window.done = Promise.allSettled([
          fetch('${target('/queues/mail')}', { mode: 'no-cors', headers: { accept: 'text/event-stream' } }),
          fetch('${target('/jobs')}', { mode: 'no-cors', headers: { accept: 'text/event-stream' } }),
        ]);
      </script></body>`;
    const { page, requests, answers } = await browse();
    await page.goto(attackerUrl(), { waitUntil: 'load' });
    await page.evaluate(() => (window as unknown as { done: Promise<unknown> }).done);
    await page.waitForTimeout(300);
    expect(requests.sort()).toEqual(
      [
        '/async-failures/job-sweeper',
        '/jobs',
        '/queues/mail',
        '/queues/mail',
        '/queues/mail',
        '/queues/mail/preview',
      ].sort(),
    );
    expect(receiveCalls()).toBe(0);
    // The frame's and the fetches' answers reach the page: each a refusal.
    expect(answers.length).toBeGreaterThanOrEqual(3);
    expect(answers.filter((answer) => !/^40[13] /.test(answer))).toEqual([]);
    await page.context().close();
  });

  it('sends the browser to a page that says why instead of the dead letters, whose link then lists them', async () => {
    attack = `<!doctype html><a id="go" href="${consoleUrl('/queues/mail')}">dead letters</a>`;
    const { page } = await browse();
    await page.goto(attackerUrl());
    const [answer] = await Promise.all([page.waitForEvent('response'), page.locator('#go').click()]);
    await page.waitForURL(consoleUrl('/queues/mail'));
    expect(answer.status()).toBe(navigated);
    expect(await page.locator('#error').textContent()).toContain(
      navigated === 403 ? 'another site' : 'open the URL the console printed',
    );
    expect(receiveCalls()).toBe(0);
    // The operator, now on the console's own page, asks for them.
    await page.locator(navigated === 403 ? '#error a' : '#again').click();
    await page.waitForURL(consoleUrl('/queues/mail'));
    expect(await page.locator('#dead-letters').textContent()).toContain('smtp-down-1');
    expect(receiveCalls()).toBeGreaterThan(0);
    await page.context().close();
  });

  // The dry run lists the DLQ, and a service's failed invocations are its async-failures queue's
  // messages: both receive, as the dead letters' page does.
  it.each(['/queues/mail/preview', '/async-failures/job-sweeper'])(
    'sends the browser to a page that says why instead of %s, which receives a queue too',
    async (path) => {
      attack = `<!doctype html><a id="go" href="${consoleUrl(path)}">go</a>`;
      const { page } = await browse();
      await page.goto(attackerUrl());
      const [answer] = await Promise.all([page.waitForEvent('response'), page.locator('#go').click()]);
      await page.waitForURL(consoleUrl(path));
      expect(answer.status()).toBe(navigated);
      expect(await page.locator(navigated === 403 ? '#error a' : '#again').getAttribute('href')).toBe(path);
      expect(receiveCalls()).toBe(0);
      await page.context().close();
    },
  );

  it('opens a page that reads without side effects when a link of another site leads there, at once or from the page that says to sign in', async () => {
    attack = `<!doctype html><a id="go" href="${consoleUrl('/queues')}">queues</a>`;
    const { page } = await browse();
    await page.goto(attackerUrl());
    const [answer] = await Promise.all([page.waitForEvent('response'), page.locator('#go').click()]);
    expect(answer.status()).toBe(navigated === 403 ? 200 : 401);
    if (navigated === 401) {
      expect(await page.locator('main').textContent()).not.toContain('mail');
      await page.locator('#again').click();
      await page.locator('#queues').waitFor();
    }
    expect(await page.locator('h1').textContent()).toBe('Queues');
    expect(receiveCalls()).toBe(0);
    await page.context().close();
  });
});

describe("the operator's own browsing", () => {
  it('is refused, saying how to sign in, until the browser opened the URL the console printed', async () => {
    const page = await (await browser.newContext()).newPage();
    const answer = await page.goto(consoleUrl('/queues'));
    expect(answer?.status()).toBe(401);
    expect(await page.locator('#error').textContent()).toContain('open the URL the console printed');
    await page.goto(operatorConsole.url);
    // Signed in, at the address without the secret.
    await page.waitForURL(consoleUrl('/'));
    expect(await page.locator('header .brand').textContent()).toBe('sidestep');
    expect(await page.evaluate(() => document.cookie)).toBe('');
    await page.goBack();
    expect(page.url()).toBe(consoleUrl('/queues'));
    await page.context().close();
  });

  it('lists the dead letters from the queues page, and from a bookmark', async () => {
    const { page } = await browse();
    await page.goto(consoleUrl('/queues'));
    await page.locator('#queues a[href="/queues/mail"]').first().click();
    await page.waitForURL(consoleUrl('/queues/mail'));
    expect(await page.locator('#dead-letters').textContent()).toContain('smtp-down-1');
    await page.locator('#preview-redrive').click();
    await page.waitForURL(consoleUrl('/queues/mail/preview'));
    expect(await page.locator('#preview-summary').textContent()).toMatch(/would pass/);
    // Typed in or bookmarked: no site sent the browser there.
    await page.goto(consoleUrl('/queues/mail?limit=200'));
    expect(await page.locator('#dead-letters').textContent()).toContain('smtp-down-1');
    await page.goto(consoleUrl('/async-failures/job-sweeper'));
    expect(await page.locator('h1').textContent()).toMatch(/job-sweeper/);
    await page.context().close();
  });
});

// A browser without Fetch Metadata (Safari before 16.4) or a program (curl) says where a request came
// from by its Origin or Referer, or not at all.
describe('a request without Sec-Fetch-Site', () => {
  /**
   * A GET of the console with exactly `headers` (and Host, and the cookie of a program that opened
   * the console's URL), as fetch would add its own.
   */
  function get(
    path: string,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: string }> {
    const secret = new URL(operatorConsole.url).searchParams.get('token');
    const cookie = `sidestep-console-${operatorConsole.port}=${secret}`;
    return new Promise((resolve, reject) => {
      request(consoleUrl(path), { headers: { cookie, ...headers } }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          body += chunk;
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      })
        .on('error', reject)
        .end();
    });
  }

  it('that says nothing of where it came from gets a page that receives only as a link that reads it', async () => {
    const answer = await get('/queues/mail?limit=200');
    expect(answer.status).toBe(403);
    expect(answer.body).toContain('<a href="/queues/mail?limit=200">Read them now</a>');
    expect(receiveCalls()).toBe(0);
    // A page that reads without side effects is served.
    expect((await get('/queues')).status).toBe(200);
  });

  it('from another port of 127.0.0.1 (Origin) is another site: refused, nothing received', async () => {
    const answer = await get('/queues/mail', { origin: `http://127.0.0.1:${attackerPort}` });
    expect(answer.status).toBe(403);
    expect(receiveCalls()).toBe(0);
    // The console's own origin is the operator's.
    const own = await get('/queues/mail', { origin: new URL(operatorConsole.url).origin });
    expect(own.status).toBe(200);
    expect(receiveCalls()).toBeGreaterThan(0);
  });
});

/** How many ReceiveMessage calls the console has made since the test began. */
function receiveCalls(): number {
  return receivesSoFar() - receivesBefore;
}
