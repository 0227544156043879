import { Socket } from 'node:net';
import tls from 'node:tls';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { createMailSender } from '../src/adapters/mail-transport.ts';
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

  it('fails the send with a MailTransportError when nothing listens', async () => {
    const server = await startServer();
    await server.stop();
    const sender = await createMailSender({ kind: 'smtp', url: `smtp://127.0.0.1:${server.port}` });
    await expect(sender.send(mail(0))).rejects.toMatchObject({
      name: 'MailTransportError',
      cause: expect.objectContaining({ code: 'ECONNREFUSED' }),
    });
  });
});
