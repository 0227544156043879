import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import {
  answerTimeoutMs,
  connectPostgres,
  DatabaseOptionsError,
  DEFAULT_DATABASE_TIMEOUTS,
  databaseTimeouts,
  postgresClientConfig,
} from '../src/postgres.ts';
import { describeIfAvailable } from '../src/testing.ts';

const RDS_HOST = 'sidestep-staging.cluster-c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com';

/** What pg itself makes of a configuration: the connection string's SSL parameters replace `ssl`. */
function sslAsPgSeesIt(config: pg.ClientConfig): unknown {
  return (new pg.Client(config) as unknown as { connectionParameters: { ssl: unknown } }).connectionParameters
    .ssl;
}

describe('postgresClientConfig', () => {
  it('verifies the certificate and the host name of a non-local server such as RDS', () => {
    const config = postgresClientConfig({ url: `postgres://app:pw@${RDS_HOST}:5432/sidestep`, env: {} });
    expect(config.ssl).toEqual({ rejectUnauthorized: true, servername: RDS_HOST });
    expect(sslAsPgSeesIt(config)).toEqual({ rejectUnauthorized: true, servername: RDS_HOST });
  });

  it.each(['verify-full', 'require', 'verify-ca'])(
    'verifies for sslmode=%s, taking the mode out of the connection string so pg keeps the check',
    (sslmode) => {
      const config = postgresClientConfig({
        url: `postgres://app:pw@${RDS_HOST}:5432/sidestep?sslmode=${sslmode}&application_name=x`,
        env: {},
      });
      expect(config.connectionString).not.toContain('sslmode');
      expect(config.connectionString).toContain('application_name=x');
      expect(sslAsPgSeesIt(config)).toEqual({ rejectUnauthorized: true, servername: RDS_HOST });
    },
  );

  it.each([
    ['127.0.0.1', 'postgres://sidestep:sidestep@127.0.0.1:5432/sidestep', {}],
    ['localhost', 'postgres://sidestep@localhost/sidestep', {}],
    ['[::1]', 'postgres://sidestep@[::1]:5432/sidestep', {}],
    ['sslmode=disable', `postgres://app@${RDS_HOST}/sidestep?sslmode=disable`, {}],
    ['DATABASE_TLS=off', `postgres://app@${RDS_HOST}/sidestep`, { DATABASE_TLS: 'off' }],
  ])('stays plaintext for %s', (_case, url, env) => {
    const config = postgresClientConfig({ url, env });
    expect(config.ssl).toBe(false);
    expect(sslAsPgSeesIt(config)).toBe(false);
  });

  it('verifies a local server when DATABASE_TLS=verify, checking the IP instead of a server name', () => {
    const config = postgresClientConfig({
      url: 'postgres://a@127.0.0.1/db',
      env: { DATABASE_TLS: 'verify' },
    });
    expect(config.ssl).toEqual({ rejectUnauthorized: true });
  });

  it('rejects a DATABASE_TLS it does not know, naming it', () => {
    expect(() =>
      postgresClientConfig({ url: 'postgres://a@127.0.0.1/db', env: { DATABASE_TLS: 'yes' } }),
    ).toThrow(expect.objectContaining({ name: 'DatabaseOptionsError', field: 'DATABASE_TLS' }));
  });

  it('sets every session timeout: the caller defaults, each overridden by its variable', () => {
    const config = postgresClientConfig({
      url: 'postgres://a@127.0.0.1/db',
      timeouts: { statementTimeoutMs: 600_000, lockTimeoutMs: 60_000 },
      env: { DATABASE_LOCK_TIMEOUT_MS: '1500', DATABASE_CONNECT_TIMEOUT_MS: '2500' },
      applicationName: 'sidestep-test',
    });
    expect(config).toMatchObject({
      statement_timeout: 600_000,
      lock_timeout: 1500,
      idle_in_transaction_session_timeout: DEFAULT_DATABASE_TIMEOUTS.idleInTransactionTimeoutMs,
      connectionTimeoutMillis: 2500,
      application_name: 'sidestep-test',
    });
  });

  // A server gone without closing the connection (an RDS failover's old primary) answers nothing:
  // AWS recommends client-side keepalives and limits for it.
  // https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/AuroraPostgreSQL.BestPractices.FastFailover.html
  it('probes a silent connection after 10 s; with answerTimeout, awaits an answer statement_timeout plus the connect timeout', () => {
    const url = 'postgres://a@127.0.0.1/db';
    const env = { DATABASE_STATEMENT_TIMEOUT_MS: '4000', DATABASE_CONNECT_TIMEOUT_MS: '1500' };
    expect(postgresClientConfig({ url, env })).toMatchObject({
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    expect(postgresClientConfig({ url, env }).query_timeout).toBeUndefined();
    expect(postgresClientConfig({ url, env, answerTimeout: true }).query_timeout).toBe(5500);
    expect(answerTimeoutMs(DEFAULT_DATABASE_TIMEOUTS)).toBe(20_000);
  });

  it('awaits an answer without limit when statement_timeout or the connect timeout is off (0)', () => {
    expect(answerTimeoutMs({ ...DEFAULT_DATABASE_TIMEOUTS, statementTimeoutMs: 0 })).toBeUndefined();
    expect(answerTimeoutMs({ ...DEFAULT_DATABASE_TIMEOUTS, connectTimeoutMs: 0 })).toBeUndefined();
  });

  it('takes the answer limit from DATABASE_ANSWER_TIMEOUT_MS on its own, 0 turning it off whatever the other limits', () => {
    const url = 'postgres://a@127.0.0.1/db';
    const env = { DATABASE_STATEMENT_TIMEOUT_MS: '4000', DATABASE_CONNECT_TIMEOUT_MS: '1500' };
    expect(databaseTimeouts({}, { ...env, DATABASE_ANSWER_TIMEOUT_MS: '7000' })).toMatchObject({
      statementTimeoutMs: 4000,
      answerTimeoutMs: 7000,
    });
    expect(
      postgresClientConfig({ url, env: { ...env, DATABASE_ANSWER_TIMEOUT_MS: '7000' }, answerTimeout: true })
        .query_timeout,
    ).toBe(7000);
    expect(
      postgresClientConfig({ url, env: { ...env, DATABASE_ANSWER_TIMEOUT_MS: '0' }, answerTimeout: true })
        .query_timeout,
    ).toBeUndefined();
    // A caller's default (the local cloud's embedded server), which the variable still overrides.
    expect(answerTimeoutMs(databaseTimeouts({ answerTimeoutMs: 0 }, {}))).toBeUndefined();
    expect(
      answerTimeoutMs(databaseTimeouts({ answerTimeoutMs: 0 }, { DATABASE_ANSWER_TIMEOUT_MS: '900' })),
    ).toBe(900);
    expect(
      answerTimeoutMs({ ...DEFAULT_DATABASE_TIMEOUTS, statementTimeoutMs: 0, answerTimeoutMs: 900 }),
    ).toBe(900);
  });

  it.each([
    ['DATABASE_STATEMENT_TIMEOUT_MS', '-1'],
    ['DATABASE_STATEMENT_TIMEOUT_MS', '1.5'],
    ['DATABASE_STATEMENT_TIMEOUT_MS', 'ten'],
    ['DATABASE_ANSWER_TIMEOUT_MS', '-5'],
  ])('rejects %s=%s naming the variable', (variable, value) => {
    const failure = (() => {
      try {
        return databaseTimeouts({}, { [variable]: value });
      } catch (error) {
        return error;
      }
    })();
    expect(failure).toBeInstanceOf(DatabaseOptionsError);
    expect(failure).toMatchObject({ field: variable, permanent: true });
  });
});

/**
 * A stand-in server on loopback: answers a PostgreSQL SSLRequest with `S` and a TLS handshake with a
 * self-signed certificate (tests/fixtures, made for these tests only), or stays silent; records what
 * the client sent first.
 */
class StandInServer {
  readonly #server: Server;
  readonly firstMessages: Buffer[] = [];
  readonly #sockets = new Set<Socket>();

  constructor(behaviour: 'tls' | 'silent') {
    const fixtures = join(import.meta.dirname, 'fixtures');
    const cert = readFileSync(join(fixtures, 'self-signed-cert.pem'));
    const key = readFileSync(join(fixtures, 'self-signed-key.pem'));
    this.#server = createServer((socket: Socket) => {
      socket.on('error', () => {});
      this.#sockets.add(socket);
      socket.once('data', (first) => {
        this.firstMessages.push(first);
        if (behaviour === 'silent') return;
        // SSLRequest: length 8, code 80877103.
        if (first.length === 8 && first.readInt32BE(4) === 80_877_103) {
          socket.write('S');
          const tls = new TLSSocket(socket, { isServer: true, cert, key });
          tls.on('error', () => {});
        } else {
          socket.destroy();
        }
      });
    });
  }

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return (this.#server.address() as { port: number }).port;
  }

  stop(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

describe('connectPostgres against a stand-in server', () => {
  let tlsServer: StandInServer;
  let tlsPort: number;
  let silentServer: StandInServer;
  let silentPort: number;
  beforeAll(async () => {
    tlsServer = new StandInServer('tls');
    tlsPort = await tlsServer.start();
    silentServer = new StandInServer('silent');
    silentPort = await silentServer.start();
  });
  afterAll(async () => {
    await tlsServer?.stop();
    await silentServer?.stop();
  });

  it('refuses a server whose certificate no trusted CA signed', async () => {
    const db = connectPostgres({
      url: `postgres://a:b@127.0.0.1:${tlsPort}/db`,
      env: { DATABASE_TLS: 'verify' },
    });
    try {
      await expect(db.query('SELECT 1')).rejects.toMatchObject({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    } finally {
      await db.close();
    }
    const sslRequest = tlsServer.firstMessages.at(-1);
    expect(sslRequest?.readInt32BE(4)).toBe(80_877_103);
  });

  it('sends a plaintext startup message to a local server', async () => {
    const db = connectPostgres({ url: `postgres://a:b@127.0.0.1:${tlsPort}/db`, env: {} });
    try {
      await expect(db.query('SELECT 1')).rejects.toThrow();
    } finally {
      await db.close();
    }
    // StartupMessage: length, then protocol 3.0 (196608), then `user` ...
    const startup = tlsServer.firstMessages.at(-1);
    expect(startup?.readInt32BE(4)).toBe(196_608);
    expect(startup?.toString('latin1')).toContain('statement_timeout');
  });

  it('fails within the connect timeout when the server never answers', async () => {
    const db = connectPostgres({
      url: `postgres://a:b@127.0.0.1:${silentPort}/db`,
      env: { DATABASE_CONNECT_TIMEOUT_MS: '300' },
    });
    const started = performance.now();
    try {
      await expect(db.query('SELECT 1')).rejects.toThrow(/timeout/i);
    } finally {
      await db.close();
    }
    expect(performance.now() - started).toBeLessThan(3_000);
  });
});

const url = process.env.TEST_DATABASE_URL;

describeIfAvailable(Boolean(url))('session timeouts on PostgreSQL', () => {
  const table = `lock_probe_${randomBytes(6).toString('hex')}`;
  let holder: pg.Client;
  beforeAll(async () => {
    holder = new pg.Client({ connectionString: url });
    await holder.connect();
    await holder.query(
      `CREATE TABLE ${table} (id int PRIMARY KEY, n int NOT NULL); INSERT INTO ${table} VALUES (1, 0)`,
    );
  });
  afterAll(async () => {
    await holder?.query(`DROP TABLE IF EXISTS ${table}`);
    await holder?.end();
  });

  it('fails a statement blocked on a row lock with 55P03 within lock_timeout', async () => {
    await holder.query('BEGIN');
    await holder.query(`SELECT * FROM ${table} WHERE id = 1 FOR UPDATE`);
    const db = connectPostgres({ url: url as string, env: { DATABASE_LOCK_TIMEOUT_MS: '300' } });
    const started = performance.now();
    try {
      const failure = await db
        .query(`UPDATE ${table} SET n = n + 1 WHERE id = 1`)
        .catch((error: unknown) => error);
      expect(failure).toMatchObject({ code: '55P03', message: expect.stringMatching(/lock timeout/) });
      expect(performance.now() - started).toBeLessThan(3_000);
    } finally {
      await db.close();
      await holder.query('ROLLBACK');
    }
  });

  it('fails a statement running past statement_timeout with 57014', async () => {
    const db = connectPostgres({ url: url as string, timeouts: { statementTimeoutMs: 200 }, env: {} });
    try {
      await expect(db.query('SELECT pg_sleep(5)')).rejects.toMatchObject({
        code: '57014',
        message: expect.stringMatching(/statement timeout/),
      });
      expect((await db.query<{ lock_timeout: string }>('SHOW lock_timeout')).rows[0]?.lock_timeout).toBe(
        `${DEFAULT_DATABASE_TIMEOUTS.lockTimeoutMs / 1000}s`,
      );
    } finally {
      await db.close();
    }
  });
});
