import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  DescribeExecutionCommand,
  DescribeStateMachineCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  RedriveExecutionCommand,
  SFNClient,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { sampleImportStaging, sampleJobDetail } from '@sidestep/ledger/testing';
import {
  createOpsContext,
  type JobDetail,
  type Ledger,
  LedgerInvokeError,
  type OpsContext,
} from '@sidestep/ops';
import { mockClient } from 'aws-sdk-client-mock';
import { type RunningConsole, startConsole } from '../src/index.ts';
import { type ConsoleFetch, formFields, launchChromium, signIn } from '../src/testing.ts';
import { FAILED_IMPORT_HISTORY, IMPORT_DEFINITION } from './stub-executions.ts';

// The console's HTTP surface on a local context whose EventBridge is stubbed and whose ledger is
// unreachable, so nothing here leaves this process but loopback requests to the console itself.
const eventBridge = mockClient(EventBridgeClient);
const warnings: string[] = [];
let context: OpsContext;
let running: RunningConsole;
/** The operator, signed in as by opening the console's URL. */
let operator: ConsoleFetch;
let outboxDir: string;

const MAIL = [
  'From: no-reply@example.com',
  'To: ops@example.com',
  'Subject: Import finished: users.csv',
  'Date: Tue, 24 Nov 2026 10:00:00 +0000',
  'MIME-Version: 1.0',
  'Content-Type: multipart/alternative; boundary="b"',
  '',
  '--b',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'Your import of users.csv finished.',
  '--b',
  'Content-Type: text/html; charset=utf-8',
  '',
  '<p style="color:red">Your import of <b>users.csv</b> finished.</p><script>alert(1)</script>',
  '--b--',
  '',
].join('\r\n');

beforeAll(async () => {
  outboxDir = mkdtempSync(join(tmpdir(), 'console-outbox-'));
  writeFileSync(join(outboxDir, '20261124T100000000Z-m1.eml'), MAIL);
  context = {
    ...createOpsContext({
      environment: 'local',
      env: { USER: 'tester' },
      clients: { eventBridge: new EventBridgeClient({ region: 'us-east-1' }) },
      warn: (message) => warnings.push(message),
    }),
    ledger: () => Promise.reject(new LedgerInvokeError('ops-ledger: no answer')),
  };
  running = await startConsole({ context, port: 0, outboxDir, refreshMs: 50 });
  operator = await signIn(running.url);
});

afterAll(async () => {
  await running.close();
  await context.close();
  rmSync(outboxDir, { recursive: true, force: true });
});

beforeEach(() => {
  eventBridge.reset();
  eventBridge.on(PutEventsCommand).resolves({ Entries: [{ EventId: 'event-1' }], FailedEntryCount: 0 });
});

function at(path: string): string {
  return new URL(path, running.url).toString();
}

/** A request of someone who never opened the console's URL: no cookie. */
const stranger: ConsoleFetch = (path, init) => fetch(new URL(path, running.url), init);

/** The token of the first action form on the schedules page (as the operator sees it). */
async function token(): Promise<string> {
  const page = await (await operator('/schedules')).text();
  const found = /name="token" value="([^"]+)"/.exec(page)?.[1];
  if (!found) throw new Error('no token on the schedules page');
  return found;
}

/** The fields of nightly-export's Run now form, as the schedules page renders it now. */
async function fireForm(schedule = 'nightly-export'): Promise<URLSearchParams> {
  return formFields(await (await operator('/schedules')).text(), `/schedules/${schedule}/fire`);
}

function post(path: string, body: string, headers: Record<string, string> = {}, as = operator) {
  return as(path, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body,
  });
}

describe('who may use the console', () => {
  // As Jupyter does (https://jupyter-server.readthedocs.io/en/latest/operators/security.html): a
  // secret of each launch in the URL the console prints; whoever opens it gets a cookie; no one else
  // reads a page or acts, whatever their headers say. Another user of the machine can reach the
  // port, but not the terminal the URL was printed in.
  it('prints a URL that carries a secret of 256 bits', () => {
    expect(running.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{43}$/);
  });

  it('answers a request without its cookie with 401 and a page that says to open the printed URL, and nothing else', async () => {
    // A browser's word that the operator typed the address, or that a page of the console asked, is no
    // sign of who is asking.
    const claims: readonly Record<string, string>[] = [
      {},
      { 'sec-fetch-site': 'none' },
      { 'sec-fetch-site': 'same-origin' },
    ];
    for (const headers of claims) {
      for (const path of ['/schedules', '/queues/mail', '/jobs', '/mail/20261124T100000000Z-m1.eml/html']) {
        const answer = await fetch(at(path), { headers });
        expect([path, headers, answer.status]).toEqual([path, headers, 401]);
        const page = await answer.text();
        expect(page).toContain('open the URL the console printed');
        // Only a link back to itself: from the console's own page a signed-in browser sends its cookie.
        expect(page).toContain(`<a id="again" href="${path}">`);
        expect(page).not.toContain('name="token"');
        expect(page).not.toContain('nightly-export');
        expect(page).not.toContain('users.csv');
        expect(answer.headers.get('set-cookie')).toBeNull();
      }
    }
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(0);
  });

  it('refuses a wrong secret in the query with 401, setting no cookie', async () => {
    const secret = new URL(running.url).searchParams.get('token') ?? '';
    for (const wrong of ['x'.repeat(secret.length), secret.slice(0, -1), `${secret}x`, '']) {
      const answer = await fetch(at(`/schedules?token=${wrong}`), { redirect: 'manual' });
      expect([wrong, answer.status]).toEqual([wrong, 401]);
      expect(answer.headers.get('set-cookie')).toBeNull();
      const page = await answer.text();
      expect(page).not.toContain('name="token"');
      expect(page).toContain('<a id="again" href="/schedules">');
    }
  });

  it('signs in whoever opens its URL: an HttpOnly, SameSite=Strict cookie, and a redirect to the same address without the secret', async () => {
    const opened = new URL(running.url);
    opened.pathname = '/jobs';
    opened.searchParams.append('status', 'failed');
    const answer = await fetch(opened, { redirect: 'manual' });
    expect(answer.status).toBe(303);
    expect(answer.headers.get('location')).toBe('/jobs?status=failed');
    // Never to another host: the path `/.//evil.example/` is `//evil.example/` once parsed (sent as
    // is, which fetch's own URL parsing would not).
    const { request } = await import('node:http');
    const elsewhere = await new Promise<string | undefined>((resolve, reject) => {
      const path = `/.//evil.example/${new URL(running.url).search}`;
      request({ host: '127.0.0.1', port: running.port, path }, (response) => {
        response.resume();
        resolve(response.headers.location);
      })
        .on('error', reject)
        .end();
    });
    expect(elsewhere).toBe('/evil.example/');
    const [cookie, ...others] = answer.headers.getSetCookie();
    expect(others).toEqual([]);
    expect(cookie).toMatch(/^sidestep-console-\d+=[\w-]+; HttpOnly; SameSite=Strict; Path=\/$/);
    const page = await fetch(at('/schedules'), { headers: { cookie: cookie?.split(';')[0] ?? '' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('nightly-export');
  });

  it('acts on no POST without the cookie, even one with a scraped action token from its own origin', async () => {
    const answer = await post(
      '/schedules/nightly-export/fire',
      `token=${await token()}`,
      {
        origin: new URL(running.url).origin,
        'sec-fetch-site': 'same-origin',
      },
      stranger,
    );
    expect(answer.status).toBe(401);
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(0);
  });
});

describe('startConsole', () => {
  it('listens on loopback at the URL it returns', () => {
    expect(running.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?/);
  });

  it('runs an action posted with its token from its own origin, and says so once on the next page', async () => {
    const answer = await post('/schedules/nightly-export/fire', String(await fireForm()), {
      origin: new URL(running.url).origin,
    });
    expect(answer.status).toBe(303);
    const location = answer.headers.get('location') ?? '';
    expect(location).toMatch(/^\/schedules\?flash=[0-9a-f]+$/);
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(1);
    expect(
      JSON.parse(eventBridge.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries?.[0]?.Detail ?? '{}'),
    ).toEqual({
      schedule: 'nightly-export',
      operator: 'local:tester',
    });
    expect(await (await operator(location)).text()).toContain('Fired nightly-export (event event-1)');
    // A flash is shown once.
    expect(await (await operator(location)).text()).not.toContain('Fired nightly-export');
  });

  it('refuses a POST without the token, even from its own origin, and one from another origin even with it, acting on neither', async () => {
    const withoutToken = await post('/schedules/nightly-export/fire', 'token=guess');
    expect(withoutToken.status).toBe(403);
    // A POST needs both: the console's own Origin without the token is refused too.
    const ownOriginWithoutToken = await post('/schedules/nightly-export/fire', 'token=guess', {
      origin: new URL(running.url).origin,
    });
    expect(ownOriginWithoutToken.status).toBe(403);
    const crossOrigin = await post('/schedules/nightly-export/fire', `token=${await token()}`, {
      origin: 'http://evil.example',
    });
    expect(crossOrigin.status).toBe(403);
    expect(await crossOrigin.text()).toContain('Refused');
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(0);
  });

  // A double click, or a second press while the first is still running, sends the form twice: the
  // nightly export run twice mails export.ready twice. Each rendered form carries a one-time action id.
  describe('a form posted twice', () => {
    const FIRE = '/schedules/nightly-export/fire';
    const own = () => ({ origin: new URL(running.url).origin });
    /** PutEvents answers after `ms`: a second post can come while the first still runs. */
    const slowPutEvents = (ms: number) =>
      eventBridge.on(PutEventsCommand).callsFake(async () => {
        await new Promise((resolve) => setTimeout(resolve, ms));
        return { Entries: [{ EventId: 'event-1' }], FailedEntryCount: 0 };
      });

    it('acts once and answers every post of the form with the first one’s answer', async () => {
      slowPutEvents(100);
      const form = String(await fireForm());
      // The second arrives while the first still runs, a third once it has answered.
      const both = await Promise.all([post(FIRE, form, own()), post(FIRE, form, own())]);
      const again = await post(FIRE, form, own());
      const answers = [...both, again];
      expect(answers.map((answer) => answer.status)).toEqual([303, 303, 303]);
      const locations = answers.map((answer) => answer.headers.get('location') ?? '');
      for (const location of locations) expect(location).toMatch(/^\/schedules\?flash=[0-9a-f]+$/);
      expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(1);
      // Each answer's page says what the one press did (each flash under an id of its own).
      expect(new Set(locations).size).toBe(3);
      for (const location of locations) {
        expect(await (await operator(location)).text()).toContain('Fired nightly-export (event event-1)');
      }
    });

    // A browser that follows the first post's redirect and is then cancelled by the second press has
    // read (and so used up) the first answer's flash: the second answer must say it again, or the page
    // the operator ends on does not say what the press did (seen in CI: Chromium waited for it in vain).
    it('says what it did again on the page a repeated post leads to, after the first one’s page was read', async () => {
      const form = String(await fireForm());
      const first = await post(FIRE, form, own());
      expect(await (await operator(first.headers.get('location') ?? '')).text()).toContain(
        'Fired nightly-export (event event-1)',
      );
      const repeat = await post(FIRE, form, own());
      expect(repeat.status).toBe(303);
      const location = repeat.headers.get('location') ?? '';
      expect(location).toMatch(/^\/schedules\?flash=[0-9a-f]+$/);
      expect(await (await operator(location)).text()).toContain('Fired nightly-export (event event-1)');
      // Still once: the repeat's page, read again, does not say it a third time; nothing fired again.
      expect(await (await operator(location)).text()).not.toContain('Fired nightly-export');
      expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(1);
    });

    it('acts again for the same button on a page rendered again (another action id)', async () => {
      const first = await fireForm();
      const second = await fireForm();
      expect(second.get('action-id')).not.toBe(first.get('action-id'));
      expect((await post(FIRE, String(first), own())).status).toBe(303);
      expect((await post(FIRE, String(second), own())).status).toBe(303);
      expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(2);
    });

    // As a person does it, in Chromium: the second press lands while the first post still runs. The
    // page's script disables a submitted form's button; without it, the server alone must hold.
    it.each([
      ['with', true],
      ['without', false],
    ])(
      'a second press of Run now while it runs, %s the page script, fires the schedule once',
      async (_with, javaScriptEnabled) => {
        // PutEvents answers only once the second press is made: however slow the machine, that press
        // lands on the page the first was made on, while the first post runs.
        const firstRuns = Promise.withResolvers<void>();
        const pressedTwice = Promise.withResolvers<void>();
        eventBridge.on(PutEventsCommand).callsFake(async () => {
          firstRuns.resolve();
          await pressedTwice.promise;
          return { Entries: [{ EventId: 'event-1' }], FailedEntryCount: 0 };
        });
        const browser = await launchChromium();
        try {
          const tab = await (await browser.newContext({ javaScriptEnabled })).newPage();
          const opened = new URL(running.url);
          opened.pathname = '/schedules';
          await tab.goto(String(opened));
          const box = await tab.locator(`form[action="${FIRE}"] button`).boundingBox();
          const [x, y] = [(box?.x ?? 0) + 5, (box?.y ?? 0) + 5];
          // Raw presses where the button is: the second while the first post runs, on the same page.
          await tab.mouse.click(x, y);
          await firstRuns.promise;
          await tab.mouse.click(x, y);
          // Time for the second post to reach the console while the first still runs.
          setTimeout(pressedTwice.resolve, 300);
          // The first navigation is cancelled by the second: the page shown is the second post's answer.
          await tab.locator('.flash-ok').waitFor();
          expect(tab.url()).toMatch(/\/schedules\?flash=/);
          expect(await tab.locator('.flash-ok').textContent()).toContain(
            'Fired nightly-export (event event-1)',
          );
          expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(1);
        } finally {
          await browser.close();
        }
      },
    );

    it.each([
      ['no action id', async () => ''],
      ['a forged one', async () => 'AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA'],
      [
        'one another form was given',
        async () => (await fireForm('stale-job-sweeper')).get('action-id') ?? '',
      ],
    ])('refuses a form with %s (400, naming the field), acting on nothing', async (_case, actionId) => {
      const form = await fireForm();
      form.set('action-id', await actionId());
      const answer = await post(FIRE, String(form), own());
      expect(answer.status).toBe(400);
      expect(await answer.text()).toMatch(/ConsoleError<\/strong>: action-id: /);
      expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(0);
    });
  });

  it('answers a form over 64 KiB with 413 and a page naming the body, acting on nothing', async () => {
    const oversized = await post(
      '/schedules/nightly-export/fire',
      `token=${await token()}&padding=${'x'.repeat(70_000)}`,
      { origin: new URL(running.url).origin },
    );
    expect(oversized.status).toBe(413);
    expect(await oversized.text()).toContain('a form is at most 64 KiB');
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(0);
  });

  // Whatever the port in the Host: a browser leaves out :80, and an SSH tunnel (`ssh -L 9000:...`)
  // sends the tunnel's. The name is what a DNS-rebound page cannot fake.
  it('answers only to loopback host names (no DNS rebinding), on any port', async () => {
    const { port } = running;
    const { request } = await import('node:http');
    const statusFor = (host: string) =>
      new Promise<number | undefined>((resolve, reject) => {
        const cookie = `sidestep-console-${port}=${new URL(running.url).searchParams.get('token')}`;
        request({ host: '127.0.0.1', port, path: '/schedules', headers: { host, cookie } }, (response) => {
          response.resume();
          resolve(response.statusCode);
        })
          .on('error', reject)
          .end();
      });
    expect(await statusFor(`rebound.example:${port}`)).toBe(421);
    expect(await statusFor('rebound.example')).toBe(421);
    expect(await statusFor('localhost:9000')).toBe(200);
    expect(await statusFor('127.0.0.1')).toBe(200);
    expect(await statusFor(`[::1]:${port}`)).toBe(200);
  });

  it('names the field of a bad request in an error page, in the language asked for', async () => {
    const answer = await operator('/schedules/nightly-exports/fire', {
      headers: { 'accept-language': 'ja' },
    });
    expect(answer.status).toBe(404);
    const page = await operator('/workflows/imports?lang=ja');
    expect(page.status).toBe(404);
    const text = await page.text();
    expect(text).toContain('UnknownNameError');
    expect(text).toContain('workflow: no workflow named &quot;imports&quot;');
    expect(text).toContain('<html lang="ja">');
    expect(page.headers.get('set-cookie')).toMatch(/^lang=ja; Path=\/; SameSite=Lax/);
  });

  it('answers a path whose percent-encoding is malformed with 400 and a page naming the path', async () => {
    for (const path of ['/jobs/%E0%A4%A', '/queues/%ZZ/preview', '/mail/%ZZ/html']) {
      const answer = await operator(path);
      expect([path, answer.status]).toEqual([path, 400]);
      expect(answer.headers.get('content-type')).toBe('text/html; charset=utf-8');
      const page = await answer.text();
      expect(page).toContain(
        `<strong>ConsoleError</strong>: path: ${path} is not a path: its percent-encoding is malformed`,
      );
    }
    // A malformed cookie is not the page's to refuse: it is served, in the default language.
    const withCookie = await operator('/schedules', { headers: { cookie: 'lang=%ZZ' } });
    expect(withCookie.status).toBe(200);
  });

  it('serves its own script and stylesheet, and pages under a CSP that allows nothing else', async () => {
    const page = await operator('/schedules');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    const css = await operator('/assets/console.css');
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
    expect(await css.text()).toContain('.workflow-graph');
    expect((await operator('/assets/console.js')).status).toBe(200);
  });

  it("renders an outbox mail's text, and its HTML for a sandboxed frame under a policy that runs no script", async () => {
    const list = await (await operator('/mail')).text();
    expect(list).toContain('href="/mail/20261124T100000000Z-m1.eml"');
    const page = await (await operator('/mail/20261124T100000000Z-m1.eml')).text();
    expect(page).toContain('<iframe class="mail-html" sandbox');
    expect(page).toContain('Your import of users.csv finished.');
    const frame = await operator('/mail/20261124T100000000Z-m1.eml/html');
    expect(frame.headers.get('content-security-policy')).toMatch(/default-src 'none'.*sandbox/);
    expect(await frame.text()).toContain('<b>users.csv</b>');
    expect((await operator('/mail/..%2Fsecret.eml')).status).toBe(404);
  });
});

describe('the mail page', () => {
  it("lists only the mails that name a job with ?job=, as the job page's link asks", async () => {
    const file = join(outboxDir, '20261124T090000000Z-job.eml');
    writeFileSync(
      file,
      MAIL.replace('Subject: Import finished: users.csv', 'Subject: Import imp_42 failed').replace(
        'Your import of users.csv finished.',
        'Job imp_42: the import failed.',
      ),
    );
    try {
      const all = await (await operator('/mail')).text();
      expect(all).toContain('Import imp_42 failed');
      expect(all).toContain('Import finished: users.csv');
      const ofJob = await (await operator('/mail?job=imp_42')).text();
      expect(ofJob).toContain('<a href="/jobs/imp_42">imp_42</a>');
      expect(ofJob).toContain('href="/mail/20261124T090000000Z-job.eml">Import imp_42 failed</a>');
      expect(ofJob).not.toContain('Import finished: users.csv');
    } finally {
      rmSync(file);
    }
  });

  it("links ?job='s job by its encoded id, so a path in the value cannot make the link another page's", async () => {
    const page = await (
      await operator(`/mail?job=${encodeURIComponent('../queues/sidestep-mail-dlq')}`)
    ).text();
    expect(page).toContain('<a href="/jobs/..%2Fqueues%2Fsidestep-mail-dlq">../queues/sidestep-mail-dlq</a>');
    expect(page).not.toContain('href="/jobs/../');
  });
});

describe('a live page', () => {
  it('streams its body as server-sent events, only when it changed', async () => {
    const abort = new AbortController();
    const answer = await operator('/mail', {
      headers: { accept: 'text/event-stream' },
      signal: abort.signal,
    });
    expect(answer.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = (answer.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let received = '';
    const events = () => received.split('\n\n').filter((event) => event.startsWith('data: '));
    const until = async (predicate: () => boolean) => {
      while (!predicate()) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended: ${received}`);
        received += decoder.decode(value, { stream: true });
      }
    };
    try {
      await until(() => events().length >= 1);
      expect(events()[0]).toContain('Import finished: users.csv');
      // Twenty refreshes later, nothing changed, so nothing more was sent.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      writeFileSync(
        join(outboxDir, '20261124T110000000Z-m2.eml'),
        MAIL.replace('Import finished: users.csv', 'Export ready: users.csv'),
      );
      await until(() => events().length >= 2);
      expect(events()).toHaveLength(2);
      expect(events()[1]).toContain('Export ready: users.csv');
    } finally {
      abort.abort();
      await reader.cancel().catch(() => undefined);
    }
  });
});

describe('a live page whose reads fail', () => {
  // This file's ledger never answers: the jobs list is read again and again, and fails each time.
  it('says why in a stale event instead of ending, and tries again less and less often', async () => {
    const answer = await operator('/jobs', {
      headers: { accept: 'text/event-stream' },
      signal: AbortSignal.timeout(1_000),
    });
    let received = '';
    const decoder = new TextDecoder();
    try {
      for await (const chunk of answer.body as ReadableStream<Uint8Array>) {
        received += decoder.decode(chunk, { stream: true });
      }
    } catch (error) {
      if ((error as Error).name !== 'TimeoutError') throw error;
    }
    const events = received.split('\n\n').filter(Boolean);
    expect(new Set(events)).toEqual(
      new Set(['event: stale\ndata: LedgerInvokeError: ops-ledger: no answer']),
    );
    // Every 50 ms would be 20 in the second; after 100, 200, 400 and 800 ms it is at most 4.
    expect(events.length).toBeGreaterThanOrEqual(2);
    expect(events.length).toBeLessThanOrEqual(4);
  });
});

describe('a live page whose body holds a CR', () => {
  // A CR, an LF and a CRLF each end a line of an event stream
  // (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation): a CR
  // left in a `data:` line (a CSV header field's, quoted in an import's error) starts a line without
  // `data:`, which the browser drops, and with it the rest of the page.
  it('sends every line of its body as data, whichever line ending it has', async () => {
    const file = join(outboxDir, '20261124T120000000Z-m3.eml');
    writeFileSync(
      file,
      MAIL.replace('Subject: Import finished: users.csv', 'Subject: =?utf-8?Q?bad=0Dheader_field?='),
    );
    const abort = new AbortController();
    try {
      const answer = await operator('/mail', {
        headers: { accept: 'text/event-stream' },
        signal: abort.signal,
      });
      const reader = (answer.body as ReadableStream<Uint8Array>).getReader();
      const decoder = new TextDecoder();
      let received = '';
      while (!/\n\n|\r\r|\r\n\r\n/.test(received)) {
        const { value, done } = await reader.read();
        if (done) break;
        received += decoder.decode(value, { stream: true });
      }
      abort.abort();
      // The spec's interpretation: lines end at CR, LF or CRLF; a line not starting with a known field is ignored.
      const lines = received.split(/\r\n|\r|\n/);
      const firstEvent = lines.slice(0, lines.indexOf(''));
      expect(firstEvent.every((line) => line.startsWith('data:'))).toBe(true);
      const data = firstEvent.map((line) => line.replace(/^data: ?/, '')).join('\n');
      expect(data).toContain('bad');
      expect(data).toContain('header field');
      expect(data).toContain('Import finished: users.csv');
    } finally {
      abort.abort();
      rmSync(file);
    }
  });
});

describe('the execution page', () => {
  const sfn = mockClient(SFNClient);
  const arn = 'arn:aws:states:us-east-1:000000000000:execution:sidestep-local-import:run-1';
  let local: RunningConsole;
  let sfnContext: OpsContext;
  let get: ConsoleFetch;

  beforeAll(async () => {
    sfn.on(DescribeExecutionCommand).resolves({
      executionArn: arn,
      stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:sidestep-local-import',
      name: 'run-1',
      status: 'FAILED',
      startDate: new Date('2026-11-24T10:00:00Z'),
      stopDate: new Date('2026-11-24T10:00:01Z'),
      input: '{"job":{"jobId":"imp_1"}}',
      error: 'States.TaskFailed',
      cause: 'relation "users" does not exist',
      redriveStatus: 'REDRIVABLE',
    });
    sfn.on(GetExecutionHistoryCommand).resolves(FAILED_IMPORT_HISTORY);
    sfn.on(DescribeStateMachineCommand).resolves({ definition: IMPORT_DEFINITION });
    sfn.on(RedriveExecutionCommand).resolves({ redriveDate: new Date('2026-11-24T10:05:00Z') });
    sfnContext = {
      ...createOpsContext({
        environment: 'local',
        env: { USER: 'tester' },
        clients: { sfn: new SFNClient({ region: 'us-east-1' }) },
        warn: () => undefined,
      }),
      ledger: () => Promise.reject(new LedgerInvokeError('ops-ledger: no answer')),
    };
    local = await startConsole({ context: sfnContext, port: 0 });
    get = await signIn(local.url);
  });

  afterAll(async () => {
    await local.close();
    await sfnContext.close();
  });

  it('colours the failed state, shows error and cause, and redrives through the ops library', async () => {
    const page = await (await get(`/executions?arn=${encodeURIComponent(arn)}`)).text();
    expect(page).toContain('data-state="ImportRows" data-outcome="failed"');
    expect(page).toContain('data-state="Done" data-outcome="idle"');
    expect(page).toContain('relation &quot;users&quot; does not exist');
    expect(page).toContain('href="/jobs/imp_1"');
    const answer = await get('/executions/redrive', {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: new URL(local.url).origin },
      body: String(formFields(page, '/executions/redrive')),
    });
    expect(answer.status).toBe(303);
    expect(sfn.commandCalls(RedriveExecutionCommand)[0]?.args[0].input).toEqual({ executionArn: arn });
    expect(await (await get(answer.headers.get('location') ?? '')).text()).toContain(
      'Redriven at 2026-11-24T10:05:00.000Z',
    );
    // A failed execution cannot be stopped: no Stop form.
    expect(page).not.toContain('id="stop-execution"');
  });

  // A live page renders every 3 s while it is open, and the overview lists four times a render
  // (each workflow's running and failed executions), against the account's ListExecutions quota of 2
  // a second in most Regions (https://docs.aws.amazon.com/step-functions/latest/dg/limits-overview.html).
  it("lists a workflow's executions once for every tab and refresh within 10 s", async () => {
    sfn.on(ListExecutionsCommand).resolves({ executions: [] });
    const fresh = await startConsole({ context: sfnContext, port: 0 });
    try {
      const tab = await signIn(fresh.url);
      const before = sfn.commandCalls(ListExecutionsCommand).length;
      const pages = await Promise.all([
        tab('/workflows/import'),
        tab('/workflows/import'),
        tab('/workflows/import'),
      ]);
      const again = await tab('/workflows/import');
      expect({
        status: [...pages, again].map((page) => page.status),
        listings: sfn.commandCalls(ListExecutionsCommand).length - before,
      }).toEqual({ status: [200, 200, 200, 200], listings: 1 });
    } finally {
      await fresh.close();
    }
  });

  // ListExecutions answers a page and the nextToken of the next
  // (https://docs.aws.amazon.com/step-functions/latest/apireference/API_ListExecutions.html).
  it("lists a workflow's executions after the nextToken its ?cursor= carries, and links the next page", async () => {
    sfn.on(ListExecutionsCommand).resolves({
      executions: [
        {
          executionArn: arn.replace(':run-1', ':run-51'),
          stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:sidestep-local-import',
          name: 'run-51',
          status: 'SUCCEEDED',
          startDate: new Date('2026-11-24T09:00:00Z'),
        },
      ],
      nextToken: 'token-3',
    });
    const page = await (await get('/workflows/import?cursor=token-2')).text();
    expect(sfn.commandCalls(ListExecutionsCommand).at(-1)?.args[0].input).toEqual({
      stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:sidestep-local-import',
      maxResults: 50,
      nextToken: 'token-2',
    });
    expect(page).toContain('run-51');
    expect(page).toContain('<a rel="next" href="/workflows/import?cursor=token-3">');
  });

  // DescribeExecution's redriveStatus says whether RedriveExecution would refuse
  // (https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html).
  it('offers no Redrive for a failed execution Step Functions says is not redrivable, and says why', async () => {
    const old = arn.replace(':run-1', ':run-old');
    sfn.on(DescribeExecutionCommand, { executionArn: old }).resolves({
      executionArn: old,
      stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:sidestep-local-import',
      name: 'run-old',
      status: 'FAILED',
      redriveStatus: 'NOT_REDRIVABLE',
      redriveStatusReason: 'Execution redrivable period exceeded.',
    });
    const page = await (await get(`/executions?arn=${encodeURIComponent(old)}`)).text();
    expect(page).not.toContain('id="redrive-execution"');
    expect(page).toContain('Execution redrivable period exceeded.');
  });

  it('stops a running execution with the cause typed in, through the ops library', async () => {
    const running = arn.replace(':run-1', ':run-2');
    // RUNNING until the stop, then ABORTED with its error and cause, as Step Functions describes it.
    let stopped: { status: string; error?: string; cause?: string } = { status: 'RUNNING' };
    sfn.on(DescribeExecutionCommand, { executionArn: running }).callsFake(async () => ({
      executionArn: running,
      stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:sidestep-local-import',
      name: 'run-2',
      startDate: new Date('2026-11-24T10:00:00Z'),
      input: '{"job":{"jobId":"imp_2"}}',
      ...stopped,
    }));
    sfn.on(StopExecutionCommand).callsFake(async (input: { error?: string; cause?: string }) => {
      stopped = { status: 'ABORTED', error: input.error, cause: input.cause };
      return { stopDate: new Date('2026-11-24T10:06:00Z') };
    });
    const page = await (await get(`/executions?arn=${encodeURIComponent(running)}`)).text();
    expect(page).toContain('id="stop-execution"');
    expect(page).not.toContain('id="redrive-execution"');
    // Each time from the page as shown then, as the operator does after a refusal: a form acts once.
    const stop = async (cause: string | undefined) => {
      const shown = await (await get(`/executions?arn=${encodeURIComponent(running)}`)).text();
      const form = formFields(shown, '/executions/stop');
      if (cause !== undefined) form.set('cause', cause);
      return get('/executions/stop', {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: new URL(local.url).origin },
        body: String(form),
      });
    };

    // Without a cause (the field is required in the form, but a request can lack it, or send it
    // empty or blank): refused, named, on the execution's own page.
    for (const cause of [undefined, '', ' ']) {
      const refused = await stop(cause);
      expect(refused.status).toBe(303);
      const back = refused.headers.get('location') ?? '';
      expect(back).toMatch(
        new RegExp(
          `^/executions\\?arn=${encodeURIComponent(running).replaceAll('.', '\\.')}&flash=[0-9a-f]+$`,
        ),
      );
      const shown = await (await get(back)).text();
      expect(shown).toContain(
        '<p class="flash flash-error" role="alert" tabindex="-1" autofocus>InvalidOptionError: cause: give why the execution is stopped</p>',
      );
      expect(shown).toContain('id="stop-execution"');
      expect([cause, sfn.commandCalls(StopExecutionCommand)]).toEqual([cause, []]);
    }

    const answer = await stop('wrong file');
    expect(answer.status).toBe(303);
    expect(sfn.commandCalls(StopExecutionCommand)[0]?.args[0].input).toEqual({
      executionArn: running,
      error: 'StoppedByOperator',
      cause: 'local:tester: wrong file',
    });
    // With what became of its job: this file's ledger never answers, so the page says both outcomes.
    expect(await (await get(answer.headers.get('location') ?? '')).text()).toContain(
      'Stopped at 2026-11-24T10:06:00.000Z Job imp_2 could not be read: it fails and is mailed, unless it had already succeeded',
    );
  });
});

describe('the job page', () => {
  const running = sampleJobDetail({
    id: 'imp_rerun',
    workerError: 'cannot read s3://sidestep-local-imports/imports/users.csv: Error: read ECONNRESET',
  });
  const staged = sampleJobDetail({ id: 'imp_staged', staging: sampleImportStaging() });
  let jobs: Map<string, JobDetail>;
  let jobContext: OpsContext;
  let jobConsole: RunningConsole;
  let get: ConsoleFetch;

  beforeAll(async () => {
    jobs = new Map([
      [running.id, running],
      ['imp_done', { ...running, id: 'imp_done', state: 'succeeded', workerError: null }],
      [staged.id, staged],
      ...(['refused', 'pending', 'queued'] as const).map((mail): [string, JobDetail] => {
        const at = (time: string) => new Date(`2026-11-24T${time}Z`);
        const sweepMail = {
          refused: {
            sweptAt: at('11:00:00'),
            queuedAt: null,
            refusedAt: at('11:00:00'),
            error: 'payload.to: not a valid email',
          },
          pending: {
            sweptAt: at('11:00:00'),
            queuedAt: null,
            refusedAt: null,
            error: 'ThrottlingException: slow down',
          },
          queued: { sweptAt: at('11:00:00'), queuedAt: at('11:15:00'), refusedAt: null, error: null },
        }[mail];
        return [
          `exp_mail_${mail}`,
          sampleJobDetail({ id: `exp_mail_${mail}`, kind: 'export', state: 'failed', sweepMail }),
        ];
      }),
    ]);
    // Only what the job page reads of the ledger.
    const ledger = { describeJob: async (id: string) => jobs.get(id) } as unknown as Ledger;
    jobContext = {
      ...createOpsContext({ environment: 'local', env: { USER: 'tester' }, warn: () => undefined }),
      ledger: async () => ledger,
    };
    jobConsole = await startConsole({ context: jobContext, port: 0 });
    get = await signIn(jobConsole.url);
  });

  afterAll(async () => {
    await jobConsole.close();
    await jobContext.close();
  });

  it('says what became of the failure mail of a job the sweeper failed, and nothing of one it did not fail', async () => {
    const page = async (id: string) => (await get(`/jobs/${id}`)).text();
    expect(await page('exp_mail_refused')).toContain(
      '<p class="error-box" id="job-sweep-mail"><strong>Failure mail refused, not sent:</strong> payload.to: not a valid email (<time datetime="2026-11-24T11:00:00.000Z">',
    );
    expect(await page('exp_mail_pending')).toContain(
      '<p class="error-box" id="job-sweep-mail"><strong>Failure mail not queued yet, tried again every sweep:</strong> ThrottlingException: slow down</p>',
    );
    expect(await page('exp_mail_queued')).toContain(
      '<p id="job-sweep-mail"><strong>Failure mail queued:</strong> <time datetime="2026-11-24T11:15:00.000Z">',
    );
    expect(await page('imp_done')).not.toContain('job-sweep-mail');
  });

  it("shows a running import's staging so far, in the language asked for, and nothing without one", async () => {
    const page = async (path: string) => (await get(path)).text();
    const english = await page('/jobs/imp_staged');
    expect(english).toContain(
      '<p id="job-staging"><progress max="580280729" value="432013312" aria-label="412.0 of 553.4 MiB (74%)"></progress> <strong>Staging:</strong> 4,200,000 records, 412.0 of 553.4 MiB (74%), 52 of 53 segments validated, 3 rows rejected so far',
    );
    expect(english).toMatch(
      /<span class="count">\(Updated <time datetime="2026-12-04T10:21:03.000Z">2026-12-04 10:21:03Z<\/time>\)<\/span><\/p>/,
    );
    expect(await page('/jobs/imp_staged?lang=ja')).toContain(
      '<strong>ステージング:</strong> 4,200,000 レコード、553.4 MiB 中 412.0 MiB（74%）、53 セグメント中 52 検証済み、これまでに 3 行を除外',
    );
    expect(await page('/jobs/imp_done')).not.toContain('job-staging');
  });
});
