import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { afterAll, describe, expect, it } from '@jest/globals';
import { bundleService } from '@sidestep/bundle';
import { bundleOptions } from '../bundle-options.ts';

const packageDir = join(import.meta.dirname, '..');
const outdir = 'dist/lazy-fetch-test';
const require = createRequire(import.meta.url);

afterAll(() => rmSync(join(packageDir, outdir), { recursive: true, force: true }));

describe("the bundle's lazy nodemailer fetch (nodemailer-lazy-fetch.cjs)", () => {
  it('keeps node:http and node:https out of a cold start of the bundled handler', async () => {
    const bundle = await bundleService({ packageDir, outdir, ...bundleOptions });
    const loaded = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `await import(${JSON.stringify(bundle.outfile)});
         process.stdout.write(JSON.stringify(process.moduleLoadList));`,
      ],
      {
        encoding: 'utf8',
        env: {
          PATH: process.env.PATH ?? '',
          MAIL_FROM: 'no-reply@example.com',
          MAIL_TRANSPORT: 'smtp',
          SMTP_URL: 'smtp://127.0.0.1:9',
          DATABASE_URL: 'postgres://test@127.0.0.1:9/test',
          DEAD_LETTER_QUEUE_URL: 'http://127.0.0.1:9/000000000000/dlq',
        },
      },
    );
    const modules = JSON.parse(loaded) as string[];
    // The SMTP transport itself loaded: the handler's cold start is complete.
    expect(modules).toContain('NativeModule tls');
    expect(modules).not.toContain('NativeModule http');
    expect(modules).not.toContain('NativeModule https');
  }, 30_000);

  it("fetches as nodemailer's client does when called, and exposes its Cookies", async () => {
    const lazy = require('../src/adapters/nodemailer-lazy-fetch.cjs') as ((url: string) => Readable) & {
      Cookies: unknown;
    };
    const server = createServer((_request, response) => response.end('content by URL'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const { port } = server.address() as AddressInfo;
      expect(await text(lazy(`http://127.0.0.1:${port}/`))).toBe('content by URL');
      expect(lazy.Cookies).toBe(require('nodemailer/lib/fetch/index.js').Cookies);
    } finally {
      server.close();
    }
  });
});
