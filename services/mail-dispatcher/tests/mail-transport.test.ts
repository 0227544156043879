import { createServer } from 'node:http';
import { type AddressInfo, createServer as createTcpServer, Socket } from 'node:net';
import tls from 'node:tls';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { SEND_DEADLINE_MARGIN_SECONDS } from '@sidestep/manifest';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import {
  CONNECT_TIMEOUT_MS,
  createMailSender,
  MAIL_SEND_CONCURRENCY,
  SEND_TIMEOUT_MS,
  smtpFailure,
  transportFailure,
  withoutAddresses,
} from '../src/adapters/mail-transport.ts';
import type { OutgoingMail } from '../src/domain/compose-mail.ts';

function mail(index: number): OutgoingMail {
  return {
    from: 'no-reply@test.mail.example.com',
    to: [`user-${index}@example.com`],
    subject: `mail ${index}`,
    text: 'text',
    html: '<p>html</p>',
    messageId: `<mail-${index}@test.mail.example.com>`,
    headers: {},
    idempotencyKey: `key-${index}`,
  };
}

/** An SMTP server on 127.0.0.1 that counts the connections it accepted and drops the mails. */
async function startServer(options: SMTPServerOptions = {}) {
  const server = new SMTPServer({
    logger: false,
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    closeTimeout: 100,
    onConnect(_session, callback) {
      counter.accepted++;
      callback();
    },
    onData(stream, _session, callback) {
      stream.resume();
      stream.on('end', () => callback());
    },
    ...options,
  });
  const counter = { accepted: 0 };
  // A client that refuses the certificate hangs up mid-handshake: the server reports it, not a failure.
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.server.address();
  if (!address || typeof address === 'string') throw new Error('the server has no TCP port');
  return {
    port: address.port,
    counter,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** What a scripted server does with a command or a message's final dot: a reply, no answer, or hang up. */
type Scripted = string | 'silent' | 'hang up' | undefined;

/**
 * A minimal SMTP server on 127.0.0.1, for replies smtp-server does not give. It answers as a relay
 * does (its greeting, 250 to each command, 354 to DATA, then the message's lines up to its final dot,
 * and 250 to that) except where `script` says otherwise for a command or the final dot (`.`): a reply
 * line, `'silent'` (no answer) or `'hang up'`. It records every line it receives, the message's too.
 */
async function startScriptedServer(
  script: (line: string, socket: Socket) => Scripted = () => undefined,
  { greet = true, onConnect = (_socket: Socket) => {} } = {},
) {
  const sockets = new Set<Socket>();
  const lines: string[] = [];
  let hangUps = 0;
  const server = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => {
      hangUps += 1;
    });
    onConnect(socket);
    let buffered = '';
    let inData = false;
    const answer = (line: string) => {
      lines.push(line);
      if (inData && line !== '.') return;
      const endsData = inData;
      inData = false;
      const scripted = script(line, socket);
      if (scripted === 'silent') return;
      if (scripted === 'hang up') return void socket.destroy();
      if (scripted === undefined && !endsData && /^DATA/i.test(line)) {
        inData = true;
        return void socket.write('354 go ahead\r\n');
      }
      socket.write(`${scripted ?? (endsData ? '250 queued' : '250 ok')}\r\n`);
    };
    if (greet) socket.write('220 test ESMTP\r\n');
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      for (let end = buffered.indexOf('\r\n'); end >= 0; end = buffered.indexOf('\r\n')) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        answer(line);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    lines,
    /** How many of its connections closed (before `stop`, the client closed them). */
    hangUps: () => hangUps,
    stop: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A port on 127.0.0.1 where a TCP connection never opens: its listener (a backlog of 1) is in a thread
 * whose event loop is blocked, so it accepts nothing; once two connections fill the kernel's accept
 * queue, the kernel drops every further SYN and a connect waits, as to a host that does not answer.
 */
async function startUnansweredPort() {
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
    const server = require('node:net').createServer();
    server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
      parentPort.postMessage(server.address().port);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
    });`,
    { eval: true },
  );
  const port = await new Promise<number>((resolve) => worker.once('message', resolve));
  const fillers = await Promise.all(
    [0, 1].map(async () => {
      const socket = new Socket();
      await new Promise<void>((resolve) => socket.connect(port, '127.0.0.1', resolve));
      return socket;
    }),
  );
  return {
    port,
    stop: async () => {
      for (const socket of fillers) socket.destroy();
      await worker.terminate();
    },
  };
}

/** Short bounds for the tests of a send's timeouts (the function's are SEND_TIMEOUT_MS, CONNECT_TIMEOUT_MS). */
const SHORT = { sendMs: 400, connectMs: 250 };

/** How long `promise` takes to settle, in ms. */
async function settleTime(promise: Promise<unknown>): Promise<number> {
  const started = performance.now();
  await promise.catch(() => {});
  return performance.now() - started;
}

/**
 * The remote ports of the sockets that turned Nagle off, read at the call. The server's own sockets
 * (smtp-server turns Nagle off too) have the server's port as their local port, not the remote one.
 */
function watchNoDelay(): number[] {
  const ports: number[] = [];
  const setNoDelay = Socket.prototype.setNoDelay;
  jest.spyOn(Socket.prototype, 'setNoDelay').mockImplementation(function (this: Socket, enable) {
    if (enable !== false && this.remotePort !== undefined) ports.push(this.remotePort);
    return setNoDelay.call(this, enable);
  });
  return ports;
}

afterEach(() => {
  jest.restoreAllMocks();
});

describe('withoutAddresses', () => {
  it('replaces every email address in a transport’s message by <address>, in any form servers quote it', () => {
    for (const [text, expected] of [
      // SES's sandbox refusal lists the identities (https://repost.aws/knowledge-center/ses-554-400-message-rejected-error).
      [
        'Email address is not verified. The following identities failed the check in region EU-WEST-1: jane.doe@example.com, ops+mail@sub.example.co.uk',
        'Email address is not verified. The following identities failed the check in region EU-WEST-1: <address>, <address>',
      ],
      [
        '550 5.1.1 <jane.doe@example.com>: Recipient address rejected',
        '550 5.1.1 <address>: Recipient address rejected',
      ],
      ['Recipient jane@example.com not found.', 'Recipient <address> not found.'],
      ['"jane doe"@example.com refused', '<address> refused'],
      ["o'brien@example.com (mailbox full)", '<address> (mailbox full)'],
      ['tarō@例え.jp does not exist', '<address> does not exist'],
      ['relay denied for user@[192.0.2.1]', 'relay denied for <address>'],
      [
        '451 4.7.1 Try again later; see https://example.com/help',
        '451 4.7.1 Try again later; see https://example.com/help',
      ],
    ] as const) {
      expect(withoutAddresses(text)).toBe(expected);
    }
  });

  it('reads a long run without spaces once, not once from each of its characters', () => {
    // Each start of a local part scanned the run to its end before failing: 100,000 characters
    // took ~9 s (quadratic), a Lambda's whole timeout on a long unbroken server reply. Linear, this
    // is about a millisecond; the test's own 5 s limit is what it can fail by.
    const long = 200_000;
    expect(withoutAddresses(`550 ${'a'.repeat(long)} end`)).toBe(`550 ${'a'.repeat(long)} end`);
    expect(withoutAddresses(`550 a@${'.'.repeat(long)} end`)).toBe(`550 a@${'.'.repeat(long)} end`);
    expect(withoutAddresses(`550 x${'-'.repeat(long)}@example.com end`)).toBe('550 <address> end');
  }, 5_000);
});

describe('transportFailure', () => {
  it('keeps the name, codes and command of nodemailer’s error, and neither its recipients nor its raw reply', () => {
    const error = Object.assign(
      new Error('Can’t send mail - all recipients were rejected: 550 5.1.1 <jane@example.com>: unknown'),
      {
        code: 'EENVELOPE',
        response: '550 5.1.1 <jane@example.com>: unknown',
        responseCode: 550,
        command: 'RCPT TO',
        rejected: ['jane@example.com'],
        rejectedErrors: [
          Object.assign(new Error('Recipient command failed'), { recipient: 'jane@example.com' }),
        ],
      },
    );
    expect(transportFailure(error)).toEqual({
      name: 'Error',
      message: 'Can’t send mail - all recipients were rejected: 550 5.1.1 <address>: unknown',
      code: 'EENVELOPE',
      responseCode: 550,
      command: 'RCPT TO',
    });
  });

  it('keeps SES’s error code, HTTP status and request id', () => {
    const error = Object.assign(new Error('Email address is not verified. ...: jane@example.com'), {
      name: 'MessageRejected',
      $fault: 'client',
      $metadata: { httpStatusCode: 400, requestId: 'c3b8ad1e-0000-4000-8000-000000000000', attempts: 1 },
    });
    expect(transportFailure(error)).toEqual({
      name: 'MessageRejected',
      message: 'Email address is not verified. ...: <address>',
      httpStatusCode: 400,
      requestId: 'c3b8ad1e-0000-4000-8000-000000000000',
    });
  });
});

// RFC 5321 4.2.1: a 5yz reply is permanent; to MAIL FROM, RCPT TO or DATA it refuses this mail (its
// sender, a recipient, the transaction), to the greeting or AUTH the relay's setup, which a retry may find mended.
describe('smtpFailure', () => {
  it('classes a 5xx to MAIL FROM, RCPT TO or DATA as rejected before any content left, a 5xx to another command or a 4xx as not sent', () => {
    expect(
      (
        [
          [550, 'MAIL FROM'],
          [550, 'RCPT TO'],
          [554, 'DATA'],
          [500, 'DATA'],
          [451, 'DATA'],
          [554, 'CONN'],
          [535, 'AUTH PLAIN'],
        ] as const
      ).map(([responseCode, command]) => [
        responseCode,
        command,
        smtpFailure({ code: 'EENVELOPE', responseCode, command }, false),
      ]),
    ).toEqual([
      [550, 'MAIL FROM', 'rejected'],
      [550, 'RCPT TO', 'rejected'],
      [554, 'DATA', 'rejected'],
      [500, 'DATA', 'rejected'],
      [451, 'DATA', 'not-sent'],
      [554, 'CONN', 'not-sent'],
      [535, 'AUTH PLAIN', 'not-sent'],
    ]);
  });

  // nodemailer's "all recipients were rejected" (EENVELOPE to RCPT TO) carries the last RCPT reply as
  // its responseCode and every reply in `rejectedErrors` (smtp-connection's _actionRCPT). A recipient
  // refused for now (451: greylisted, a full mailbox) takes the mail on a retry (RFC 5321 4.2.1), so
  // the mail is rejected only when every recipient's refusal is permanent, whatever their order.
  it.each([
    ['greylisted first, unknown last', [451, 550], 'not-sent'],
    ['unknown first, greylisted last', [550, 451], 'not-sent'],
    ['every recipient unknown', [550, 553], 'rejected'],
    ['every recipient refused for now', [451, 452], 'not-sent'],
  ] as const)(
    'classes a mail all of whose recipients were refused by every reply, not the last (%s)',
    (_case, codes, outcome) => {
      const rejectedErrors = codes.map((responseCode) => ({
        code: 'EENVELOPE',
        command: 'RCPT TO',
        responseCode,
      }));
      const error = { code: 'EENVELOPE', command: 'RCPT TO', responseCode: codes.at(-1), rejectedErrors };
      expect(smtpFailure(error, false)).toBe(outcome);
    },
  );
});

describe('createMailSender (smtp)', () => {
  it('turns Nagle off (TCP_NODELAY) on every pooled connection it opens', async () => {
    const server = await startServer();
    const noDelayPorts = watchNoDelay();
    try {
      const sender = await createMailSender({ kind: 'smtp', url: `smtp://127.0.0.1:${server.port}` });
      await Promise.all([0, 1, 2].map((index) => sender.send(mail(index))));

      expect(server.counter.accepted).toBeGreaterThan(0);
      expect(noDelayPorts.filter((port) => port === server.port)).toHaveLength(server.counter.accepted);
    } finally {
      await server.stop();
    }
  });

  it('runs implicit TLS (smtps) over the socket it turned Nagle off on', async () => {
    // The server's certificate is smtp-server's self-signed one: the client refuses it, after the
    // TCP connection was made and the TLS handshake started on it.
    const server = await startServer({ secure: true });
    const noDelayPorts = watchNoDelay();
    const tlsConnect = jest.spyOn(tls, 'connect');
    try {
      const sender = await createMailSender({ kind: 'smtp', url: `smtps://127.0.0.1:${server.port}` });
      await expect(sender.send(mail(0))).rejects.toMatchObject({ name: 'MailTransportError' });

      expect(noDelayPorts).toContain(server.port);
      expect(tlsConnect).toHaveBeenCalledWith(
        expect.objectContaining({ socket: expect.any(Socket) }),
        expect.any(Function),
      );
    } finally {
      await server.stop();
    }
  });

  it('fails the send with a MailTransportError when nothing listens: not sent, so retried', async () => {
    const server = await startServer();
    await server.stop();
    const sender = await createMailSender({ kind: 'smtp', url: `smtp://127.0.0.1:${server.port}` });
    await expect(sender.send(mail(0))).rejects.toMatchObject({
      name: 'MailTransportError',
      outcome: 'not-sent',
      permanent: false,
      cause: expect.objectContaining({ code: 'ECONNREFUSED' }),
    });
  });

  // RFC 5321 4.2.1: a 5yz reply is a permanent negative completion, a 4yz a transient one.
  it('fails a mail the server rejects with a 5xx (500, 550) as permanent (dead-lettered with the reason), one it defers with 451 as not sent', async () => {
    for (const [code, outcome, permanent] of [
      [550, 'rejected', true],
      [500, 'rejected', true],
      [451, 'not-sent', false],
    ] as const) {
      const server = await startServer({
        onRcptTo(_address, _session, callback) {
          callback(Object.assign(new Error(`${code} mailbox unavailable`), { responseCode: code }));
        },
      });
      try {
        const sender = await createMailSender({ kind: 'smtp', url: `smtp://127.0.0.1:${server.port}` });
        await expect(sender.send(mail(code))).rejects.toMatchObject({
          name: 'MailTransportError',
          outcome,
          permanent,
          message: expect.stringContaining(`(EENVELOPE, RCPT TO answered ${code})`),
          cause: { code: 'EENVELOPE', responseCode: code, command: 'RCPT TO' },
        });
      } finally {
        await server.stop();
      }
    }
  });

  it('says the outcome is unknown when the connection drops after the message was sent, and not sent when it drops before DATA', async () => {
    for (const dropAfter of ['content', 'MAIL'] as const) {
      // Hangs up without a reply: after the message's final dot, or at MAIL.
      const server = await startScriptedServer((line) =>
        (dropAfter === 'content' && line === '.') || (dropAfter === 'MAIL' && /^MAIL/i.test(line))
          ? 'hang up'
          : undefined,
      );
      try {
        const sender = await createMailSender({ kind: 'smtp', url: `smtp://127.0.0.1:${server.port}` });
        await expect(sender.send(mail(7))).rejects.toMatchObject({
          name: 'MailTransportError',
          outcome: dropAfter === 'content' ? 'unknown' : 'not-sent',
        });
      } finally {
        await server.stop();
      }
    }
  });

  // A stalled server must not hold a send into the Lambda timeout, which stops the whole invocation.
  it('gives up a send the server does not answer within its bound: not sent, and its content never leaves when the server answers later', async () => {
    for (const stallAt of ['greeting', 'RCPT'] as const) {
      const late: (() => void)[] = [];
      const server = await startScriptedServer(
        (line, socket) => {
          if (stallAt !== 'RCPT' || !/^RCPT/i.test(line)) return undefined;
          late.push(() => socket.write('250 ok\r\n'));
          return 'silent';
        },
        {
          greet: stallAt !== 'greeting',
          onConnect: (socket) => {
            if (stallAt === 'greeting') late.push(() => socket.write('220 test ESMTP\r\n'));
          },
        },
      );
      try {
        const sender = await createMailSender(
          { kind: 'smtp', url: `smtp://127.0.0.1:${server.port}` },
          // The connection outlives the given-up send, so the server's late answer reaches it.
          { ...SHORT, idleMs: 2_000 },
        );
        const sending = sender.send(mail(9));
        await expect(sending).rejects.toMatchObject({
          name: 'MailTransportError',
          outcome: 'not-sent',
          permanent: false,
          cause: { code: 'ETIMEDOUT', message: 'no answer within 400 ms' },
        });
        // The server wakes up: the client goes on to DATA, but no line of the message follows: it
        // hangs up after the 354 (a connection that sent its message would stay open, pooled, for
        // its idle 2 s before it closes).
        for (const answer of late) answer();
        for (const started = Date.now(); server.hangUps() === 0 && Date.now() - started < 5_000; ) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        expect(server.hangUps()).toBe(1);
        // The client went on to DATA on the live connection, and the content was what refused to start.
        expect(server.lines.filter((line) => /^DATA/i.test(line))).toHaveLength(1);
        expect(server.lines.some((line) => /^Subject:/i.test(line))).toBe(false);
        expect(server.lines).not.toContain('.');
      } finally {
        await server.stop();
      }
    }
  });

  // nodemailer resolves when the server takes the mail for some recipients and refuses others at
  // RCPT TO (it fails only when all are refused): the mail went to some, so it is neither sent to all
  // nor safe to send again.
  it('fails a mail the server took for some recipients and refused for others as an unknown outcome, naming no address', async () => {
    const server = await startScriptedServer((line) =>
      /^RCPT TO:<busy@/i.test(line) ? '450 4.2.1 mailbox busy' : undefined,
    );
    try {
      const sender = await createMailSender({ kind: 'smtp', url: `smtp://127.0.0.1:${server.port}` }, SHORT);
      const error = await sender.send({ ...mail(300), to: ['taken@example.com', 'busy@example.com'] }).then(
        () => undefined,
        (reason: unknown) => reason as { outcome?: string; permanent?: boolean; message?: string },
      );
      expect(error).toMatchObject({ name: 'MailTransportError', outcome: 'unknown', permanent: false });
      expect(error?.message).toContain('refused 1 of its 2 recipients');
      expect(error?.message).not.toContain('@');
      // The server did take it (for the other recipient).
      expect(server.lines).toContain('.');
    } finally {
      await server.stop();
    }
  });

  it('frees the pool of the connections its given-up sends left behind: once the server answers again, the next send goes', async () => {
    let stalling = true;
    const server = await startScriptedServer((line) =>
      stalling && /^RCPT/i.test(line) ? 'silent' : undefined,
    );
    const delivered = () => server.lines.filter((line) => line === '.').length;
    try {
      const sender = await createMailSender({ kind: 'smtp', url: `smtp://127.0.0.1:${server.port}` }, SHORT);
      // As many sends as the pool has connections, each given up at RCPT.
      const stalled = await Promise.allSettled(
        Array.from({ length: MAIL_SEND_CONCURRENCY }, (_, index) => sender.send(mail(100 + index))),
      );
      expect(stalled.map((result) => result.status === 'rejected' && result.reason.outcome)).toEqual(
        Array(MAIL_SEND_CONCURRENCY).fill('not-sent'),
      );
      stalling = false;
      // The stalled connections close after a send's bound of silence; then a new one is opened.
      await new Promise((resolve) => setTimeout(resolve, SHORT.sendMs + 200));
      await expect(sender.send(mail(200))).resolves.toEqual({ messageId: expect.any(String) });
      expect(delivered()).toBe(1);
      // An idle pooled connection closes after as long too, and the pool opens another: no error.
      await new Promise((resolve) => setTimeout(resolve, SHORT.sendMs + 200));
      await expect(sender.send(mail(201))).resolves.toEqual({ messageId: expect.any(String) });
      expect(delivered()).toBe(2);
    } finally {
      await server.stop();
    }
  });

  it('says the outcome is unknown when the server does not answer the message’s final dot within the bound', async () => {
    const server = await startScriptedServer((line) => (line === '.' ? 'silent' : undefined));
    try {
      const sender = await createMailSender({ kind: 'smtp', url: `smtp://127.0.0.1:${server.port}` }, SHORT);
      const sending = sender.send(mail(10));
      await expect(sending).rejects.toMatchObject({ name: 'MailTransportError', outcome: 'unknown' });
    } finally {
      await server.stop();
    }
  });

  it('fails a send whose connection does not open within the connect bound as not sent', async () => {
    const port = await startUnansweredPort();
    try {
      const sender = await createMailSender(
        { kind: 'smtp', url: `smtp://127.0.0.1:${port.port}` },
        { sendMs: 5_000, connectMs: 250 },
      );
      const sending = sender.send(mail(11));
      const took = settleTime(sending);
      await expect(sending).rejects.toMatchObject({ name: 'MailTransportError', outcome: 'not-sent' });
      expect(await took).toBeLessThan(2_000);
    } finally {
      await port.stop();
    }
  });

  // RFC 5321 4.2.1 and 3.3: a 5yz reply to DATA, before the server's 354, refuses the transaction
  // (554 "Transaction failed"): the mail itself, for good, though none of its content was sent.
  // (nodemailer then reads the refused message to its end, which marks the hand-over too: smtpFailure's
  // own test above checks that the command alone decides.)
  it('fails a mail whose DATA the server answers 554, before any content, as permanent', async () => {
    const server = await startScriptedServer((line) =>
      /^DATA/i.test(line) ? '554 5.7.1 transaction failed' : undefined,
    );
    try {
      const sender = await createMailSender({ kind: 'smtp', url: `smtp://127.0.0.1:${server.port}` });
      await expect(sender.send(mail(8))).rejects.toMatchObject({
        name: 'MailTransportError',
        outcome: 'rejected',
        permanent: true,
        cause: { responseCode: 554, command: 'DATA' },
      });
    } finally {
      await server.stop();
    }
  });
});

/**
 * An SES v2 endpoint on 127.0.0.1 (`AWS_ENDPOINT_URL_SESV2` for the duration of `run`): answers
 * SendEmail as SES does (`POST /v2/email/outbound-emails`, `{ "MessageId": ... }`) or with `status`
 * and SES's error body, and records each request's path and JSON body.
 */
async function withSesEndpoint(
  status: number | 'hang up' | 'no answer' | 'cut answer',
  run: (requests: { path: string; body: Record<string, unknown> }[]) => Promise<void>,
  errorType = 'MessageRejected',
  errorMessage = 'Email address is not verified.',
) {
  const requests: { path: string; body: Record<string, unknown> }[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      requests.push({ path: request.url ?? '', body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      // SES took the request, and its answer is lost.
      if (status === 'hang up') return request.socket.destroy();
      if (status === 'no answer') return;
      // SES took the mail (200), and its answer is cut short: not JSON the client can read.
      if (status === 'cut answer') {
        response.writeHead(200, { 'content-type': 'application/json' });
        return void response.end('{"MessageId":"ses-');
      }
      response.writeHead(status, {
        'content-type': 'application/json',
        'x-amzn-errortype': errorType,
      });
      response.end(
        JSON.stringify(status === 200 ? { MessageId: `ses-${requests.length}` } : { message: errorMessage }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    await withSesAt(port, () => run(requests));
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** Runs `run` with the SES v2 client's endpoint at 127.0.0.1:`port` and test credentials. */
async function withSesAt(port: number, run: () => Promise<void>) {
  const saved = { ...process.env };
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_SESV2: `http://127.0.0.1:${port}`,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
  });
  try {
    await run();
  } finally {
    process.env = saved;
  }
}

describe('createMailSender (ses)', () => {
  // The SES client is loaded through src/adapters/ses-client.ts (only its two names: what a cold start
  // with MAIL_TRANSPORT=ses loads): this sends through it, as on AWS.
  it('sends the raw MIME message with SendEmail and its configuration set', async () => {
    await withSesEndpoint(200, async (requests) => {
      const sender = await createMailSender({ kind: 'ses', configurationSet: 'sidestep-mail' });
      await expect(sender.send(mail(1))).resolves.toEqual({ messageId: expect.stringContaining('ses-1') });
      expect(requests).toHaveLength(1);
      expect(requests[0]!.path).toBe('/v2/email/outbound-emails');
      expect(requests[0]!.body).toMatchObject({ ConfigurationSetName: 'sidestep-mail' });
      const raw = Buffer.from(
        (requests[0]!.body as { Content: { Raw: { Data: string } } }).Content.Raw.Data,
        'base64',
      ).toString('utf8');
      expect(raw).toContain('Subject: mail 1');
      expect(raw).toContain('To: user-1@example.com');
    });
  });

  it('fails the send with a MailTransportError naming SES’s refusal, permanent: the mail is rejected', async () => {
    await withSesEndpoint(400, async () => {
      const sender = await createMailSender({ kind: 'ses' });
      await expect(sender.send(mail(2))).rejects.toMatchObject({
        name: 'MailTransportError',
        outcome: 'rejected',
        permanent: true,
        message: expect.stringContaining('Email address is not verified.'),
      });
    });
  });

  // SES refuses every mail while the account's sending is paused or its 24-hour quota used up
  // (API_SendEmail's errors; manage-sending-quotas-errors.html): the reason each dead letter carries
  // says what to mend, and that a redrive sends them then.
  it('says what to do in the reason of a refusal of the account, paused or over its 24-hour quota, and not of a mail’s', async () => {
    for (const [status, errorType, errorMessage, remedy] of [
      [
        400,
        'SendingPausedException',
        'Sending is paused for this account.',
        'redrive the mail DLQ once it is resumed',
      ],
      [
        400,
        'ThrottlingException',
        'Daily message quota exceeded.',
        "the account's 24-hour sending quota is used up",
      ],
      [400, 'MessageRejected', 'Email address is not verified.', undefined],
    ] as const) {
      await withSesEndpoint(
        status,
        async () => {
          const sender = await createMailSender({ kind: 'ses' });
          const error = (await sender.send(mail(9)).catch((thrown: unknown) => thrown)) as Error;
          expect(error).toMatchObject({ name: 'MailTransportError' });
          expect([errorType, error.message.includes('redrive the mail DLQ')]).toEqual([
            errorType,
            remedy !== undefined,
          ]);
          // After SES's own words.
          if (remedy)
            expect(error.message.indexOf(remedy)).toBeGreaterThan(error.message.indexOf(`${errorMessage} (`));
          // Only the quota's refusal asks for a later retry than the queue's (it frees over a day).
          expect([errorType, (error as Error & { retryAfterSeconds?: number }).retryAfterSeconds]).toEqual([
            errorType,
            errorMessage.startsWith('Daily') ? 900 : undefined,
          ]);
        },
        errorType,
        errorMessage,
      );
    }
  });

  // A 200 is SES's "Composes an email message and immediately queues it for sending"
  // (API_SendEmail): an answer the SDK cannot read leaves the mail sent, for all the client knows.
  // Classed "rejected" (a non-429 status under 500), its record was deleted and a redrive sent it twice.
  it('fails a SendEmail whose 200 answer could not be read as an unknown outcome, never rejected', async () => {
    await withSesEndpoint('cut answer', async (requests) => {
      const sender = await createMailSender({ kind: 'ses' });
      await expect(sender.send(mail(4))).rejects.toMatchObject({
        name: 'MailTransportError',
        outcome: 'unknown',
        permanent: false,
      });
      expect(requests).toHaveLength(1);
    });
  });

  it('fails a throttled or failed SendEmail as not sent (retried by SQS), asking SES once', async () => {
    for (const [status, errorType] of [
      [429, 'TooManyRequestsException'],
      [500, 'InternalFailure'],
    ] as const) {
      await withSesEndpoint(
        status,
        async (requests) => {
          const sender = await createMailSender({ kind: 'ses' });
          await expect(sender.send(mail(3))).rejects.toMatchObject({ outcome: 'not-sent', permanent: false });
          expect(requests).toHaveLength(1);
        },
        errorType,
      );
    }
  });

  it('fails a SendEmail that could not connect as not sent: nothing reached SES', async () => {
    const closed = createTcpServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await withSesAt(port, async () => {
      const sender = await createMailSender({ kind: 'ses' });
      await expect(sender.send(mail(5))).rejects.toMatchObject({ outcome: 'not-sent', permanent: false });
    });
  });

  it('says the outcome is unknown when SES does not answer within the send’s bound, and cancels the request without asking again', async () => {
    await withSesEndpoint('no answer', async (requests) => {
      const sender = await createMailSender({ kind: 'ses' }, SHORT);
      const sending = sender.send(mail(12));
      const took = settleTime(sending);
      await expect(sending).rejects.toMatchObject({
        name: 'MailTransportError',
        outcome: 'unknown',
        cause: { name: 'TimeoutError', code: 'ETIMEDOUT' },
      });
      expect(await took).toBeLessThan(2_000);
      expect(requests).toHaveLength(1);
    });
  });

  it('fails a SendEmail whose connection does not open within the connect bound as not sent', async () => {
    const port = await startUnansweredPort();
    try {
      await withSesAt(port.port, async () => {
        const sender = await createMailSender({ kind: 'ses' }, { sendMs: 5_000, connectMs: 250 });
        const sending = sender.send(mail(13));
        const took = settleTime(sending);
        await expect(sending).rejects.toMatchObject({
          name: 'MailTransportError',
          outcome: 'not-sent',
          cause: { name: 'TimeoutError' },
        });
        expect(await took).toBeLessThan(2_000);
      });
    } finally {
      await port.stop();
    }
  });

  // SendEmail has no idempotency token: the SDK's default retry (3 attempts) would send it again.
  it('says the outcome is unknown when SES took the request and its answer was lost, and does not send it again', async () => {
    await withSesEndpoint('hang up', async (requests) => {
      const sender = await createMailSender({ kind: 'ses' });
      await expect(sender.send(mail(4))).rejects.toMatchObject({
        name: 'MailTransportError',
        outcome: 'unknown',
      });
      expect(requests).toHaveLength(1);
    });
  });
});

describe('a send’s bounds', () => {
  // The function's own bounds, not the tests' short ones: a connect bound of 2 s or more is armed by
  // @smithy/node-http-handler after a second's delay, a path the short bounds above do not take.
  it('give up a connection that does not open after CONNECT_TIMEOUT_MS by default, SES and SMTP alike: not sent', async () => {
    const port = await startUnansweredPort();
    try {
      await withSesAt(port.port, async () => {
        const [ses, smtp] = await Promise.all([
          createMailSender({ kind: 'ses' }),
          createMailSender({ kind: 'smtp', url: `smtp://127.0.0.1:${port.port}` }),
        ]);
        const sends = [ses.send(mail(20)), smtp.send(mail(21))];
        const took = await Promise.all(sends.map(settleTime));
        for (const sending of sends) {
          await expect(sending).rejects.toMatchObject({ name: 'MailTransportError', outcome: 'not-sent' });
        }
        for (const ms of took) {
          expect(ms).toBeGreaterThanOrEqual(CONNECT_TIMEOUT_MS - 50);
          expect(ms).toBeLessThan(SEND_TIMEOUT_MS);
        }
      });
    } finally {
      await port.stop();
    }
  });

  it('end a send a second before the invocation’s deadline: the last paced send starts SEND_DEADLINE_MARGIN_SECONDS before it', () => {
    expect(SEND_TIMEOUT_MS).toBe((SEND_DEADLINE_MARGIN_SECONDS - 1) * 1_000);
    expect(CONNECT_TIMEOUT_MS).toBeLessThan(SEND_TIMEOUT_MS);
  });
});
