import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { connect, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { simpleParser } from 'mailparser';
import { type DeliveredMail, mailLinks, type SmtpSink, startSmtpSink } from '../src/smtp-sink.ts';
import { sendMail } from './fixtures/echo-service/smtp-client.mjs';

let outboxDir: string;
let sink: SmtpSink;
const delivered: DeliveredMail[] = [];

beforeAll(async () => {
  outboxDir = join(await mkdtemp(join(tmpdir(), 'smtp-sink-')), 'outbox');
  sink = await startSmtpSink({ outboxDir, port: 0, onMail: (mail) => delivered.push(mail) });
});

afterAll(async () => {
  await sink.stop();
  await rm(join(outboxDir, '..'), { recursive: true, force: true });
});

const message = (headers: Record<string, string>, body: string) =>
  `${Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}`)
    .join('\r\n')}\r\n\r\n${body}`;

describe('startSmtpSink', () => {
  it('binds a free port on loopback when asked for port 0', () => {
    expect(sink.port).toBeGreaterThan(0);
    expect(sink.url).toBe(`smtp://127.0.0.1:${sink.port}`);
  });

  it('stores the raw message as <timestamp>-<message-id>.eml and reports recipient and subject', async () => {
    const raw = message(
      {
        From: 'sidestep@localhost',
        To: 'ada@example.com',
        Subject: 'Your export is ready',
        'Message-ID': '<abc.123@sidestep.local>',
        'Content-Type': 'text/plain; charset=utf-8',
      },
      'Hello Ada,\r\n.a line starting with a dot\r\nBye',
    );
    const reply = await sendMail({
      port: sink.port,
      from: 'sidestep@localhost',
      to: ['ada@example.com'],
      data: raw,
    });
    expect(reply).toMatch(/^250 /);

    const mail = delivered.at(-1);
    expect(mail).toMatchObject({
      to: ['ada@example.com'],
      from: 'sidestep@localhost',
      subject: 'Your export is ready',
      messageId: '<abc.123@sidestep.local>',
    });
    expect(basename(mail?.file ?? '')).toMatch(/^\d{8}T\d{9}Z-abc\.123_sidestep\.local\.eml$/);
    const stored = await readFile(mail?.file ?? '', 'utf8');
    // Byte for byte what the client sent, dot-stuffing undone.
    expect(stored.trimEnd()).toBe(raw.trimEnd());
    const parsed = await simpleParser(stored);
    expect(parsed.text?.trim()).toBe('Hello Ada,\n.a line starting with a dot\nBye');
  });

  it('accepts any credentials over plain text, and delivers to every envelope recipient', async () => {
    await sendMail({
      port: sink.port,
      from: 'app@localhost',
      to: ['a@example.com', 'b@example.com'],
      auth: { user: 'whoever', pass: 'anything' },
      data: message({ Subject: 'Two recipients', 'Message-ID': '<two@x>' }, 'hi'),
    });
    expect(delivered.at(-1)).toMatchObject({
      to: ['a@example.com', 'b@example.com'],
      subject: 'Two recipients',
    });
  });

  it('names a mail without Message-ID by a random id and decodes an encoded subject', async () => {
    await sendMail({
      port: sink.port,
      from: 'app@localhost',
      to: ['c@example.com'],
      data: message({ Subject: '=?UTF-8?B?w4ljaMOpYW5jZQ==?=' }, 'body'),
    });
    const mail = delivered.at(-1);
    expect(mail?.subject).toBe('Échéance');
    expect(mail?.messageId).toBeUndefined();
    expect(basename(mail?.file ?? '')).toMatch(/^\d{8}T\d{9}Z-[0-9a-f-]{36}\.eml$/);
  });

  it('reports the links of a quoted-printable multipart mail, decoded, text part first, each once', async () => {
    const link =
      'http://127.0.0.1:4566/lambda-url/export-download/?token=eyJqb2IiOiJqLTEifQ.c2lnbmF0dXJl&x=1';
    // Quoted-printable as nodemailer writes it: `=` is `=3D`, long lines break with a soft `=`.
    const encoded = (text: string) => text.replaceAll('=', '=3D').replace(/(.{70})/g, '$1=\r\n');
    const body = [
      '--b',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      encoded(`Your export is ready.\nDownload: ${link}\nHelp: https://example.com/help.`),
      '--b',
      'Content-Type: text/html; charset=utf-8',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      encoded(`<p><a href="${link.replace('&', '&amp;')}">Download</a> <a href="mailto:a@b">mail</a></p>`),
      '--b--',
    ].join('\r\n');
    await sendMail({
      port: sink.port,
      from: 'app@localhost',
      to: ['d@example.com'],
      data: message(
        { Subject: 'Your export is ready', 'Content-Type': 'multipart/alternative; boundary="b"' },
        body,
      ),
    });
    expect(await readFile(delivered.at(-1)?.file ?? '', 'utf8')).not.toContain(link);
    expect(delivered.at(-1)?.links).toEqual([link, 'https://example.com/help']);
  });

  // RFC 5322 2.1.1: a line MUST be at most 998 characters without its CRLF; RFC 5321 4.5.3.1.6: a
  // text line is at most 1000 octets with it. SES refuses such a raw message too ("The length of any
  // single line of text in the message can't exceed 1,000 characters",
  // https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_RawMessage.html).
  it('refuses a message with a header or body line over 998 octets with 554 5.6.0, and stores nothing', async () => {
    const before = delivered.length;
    const send = (headers: Record<string, string>, body: string) =>
      sendMail({
        port: sink.port,
        from: 'app@localhost',
        to: ['e@example.com'],
        data: message(headers, body),
      });
    // "Subject: " is 9 characters: 990 more make a line of 999.
    await expect(send({ Subject: 's'.repeat(990) }, 'body')).rejects.toThrow(
      /answered "554 5\.6\.0 .*line 1 .*999 octets.*998/,
    );
    // 333 three-octet characters are 999 octets: the limit counts octets, not characters.
    await expect(send({ Subject: 'long body' }, `first\r\n${'日'.repeat(333)}\r\nlast`)).rejects.toThrow(
      /answered "554 5\.6\.0 .*line 4 .*999 octets/,
    );
    expect(delivered.length).toBe(before);
  });

  it('accepts lines of exactly 998 octets', async () => {
    await sendMail({
      port: sink.port,
      from: 'app@localhost',
      to: ['f@example.com'],
      data: message({ Subject: 's'.repeat(989) }, 'b'.repeat(998)),
    });
    expect(delivered.at(-1)?.subject).toBe('s'.repeat(989));
  });

  it('reports no links for a mail without any', () => {
    expect(delivered[0]?.links).toEqual([]);
  });

  it('leaves only complete .eml files in the outbox (temp files are renamed into place)', async () => {
    const files = await readdir(outboxDir);
    expect(files.length).toBe(delivered.length);
    expect(files.every((file) => file.endsWith('.eml') && !file.startsWith('.'))).toBe(true);
  });

  it('turns Nagle off (TCP_NODELAY) on the connections it accepts, as MTAs do', async () => {
    // A client's pipelined commands would otherwise wait on its delayed ACKs for their replies.
    const ports: (number | undefined)[] = [];
    const setNoDelay = Socket.prototype.setNoDelay;
    const spy = jest.spyOn(Socket.prototype, 'setNoDelay').mockImplementation(function (
      this: Socket,
      enable,
    ) {
      if (enable !== false) ports.push(this.localPort);
      return setNoDelay.call(this, enable);
    });
    try {
      const client = connect(sink.port, '127.0.0.1');
      // The greeting comes once the sink set the connection up.
      await new Promise((resolve, reject) => client.once('data', resolve).once('error', reject));
      client.destroy();
      expect(ports).toContain(sink.port);
    } finally {
      spy.mockRestore();
    }
  });

  it('refuses connections once stopped', async () => {
    const other = await startSmtpSink({ outboxDir, port: 0 });
    await other.stop();
    const error = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      const socket = connect(other.port, '127.0.0.1');
      socket.on('connect', () => {
        socket.destroy();
        resolve(undefined);
      });
      socket.on('error', resolve);
    });
    expect(error?.code).toBe('ECONNREFUSED');
  });
});

describe('mailLinks', () => {
  it('finds http(s) URLs in text without the punctuation closing a sentence', () => {
    expect(mailLinks('See https://a.example/x?y=1. Or (http://b.example/).', undefined)).toEqual([
      'https://a.example/x?y=1',
      'http://b.example/',
    ]);
  });

  it('finds http(s) hrefs in HTML, entities decoded, and skips other schemes', () => {
    expect(
      mailLinks(undefined, `<a href='https://a.example/?p=1&amp;q=2'>a</a><a HREF="mailto:x@y">m</a>`),
    ).toEqual(['https://a.example/?p=1&q=2']);
  });
});
