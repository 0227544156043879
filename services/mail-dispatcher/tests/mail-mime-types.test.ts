import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { bundleService } from '@sidestep/bundle';
import nodemailerMimeTypes from 'nodemailer/lib/mime-funcs/mime-types.js';
import { bundleOptions } from '../bundle-options.ts';
import {
  detectExtension,
  detectMimeType,
  MAIL_EXTENSIONS,
  MAIL_MIME_TYPES,
} from '../src/adapters/mail-mime-types.ts';
import { rawMails } from './fixtures/raw-mail.ts';

const packageDir = join(import.meta.dirname, '..');
const outdir = 'dist/mail-mime-types-test';

afterAll(() => rmSync(join(packageDir, outdir), { recursive: true, force: true }));

describe('the bundle’s MIME type table (mail-mime-types)', () => {
  it.each([...MAIL_MIME_TYPES.keys()].flatMap((extension) => [extension, `report.${extension}`]))(
    'maps %s to the content type nodemailer’s table does',
    (name) => {
      expect(detectMimeType(name)).toBe(nodemailerMimeTypes.detectMimeType(name));
    },
  );

  it.each([...MAIL_EXTENSIONS.keys()].flatMap((type) => [type, ` ${type.toUpperCase()} `]))(
    'maps %s to the extension nodemailer’s table does',
    (type) => {
      expect(detectExtension(type)).toBe(nodemailerMimeTypes.detectExtension(type));
    },
  );

  it('answers nodemailer’s defaults for missing input', () => {
    expect(detectMimeType(undefined)).toBe(nodemailerMimeTypes.detectMimeType(undefined as never));
    expect(detectExtension(undefined)).toBe(nodemailerMimeTypes.detectExtension(undefined as never));
    expect(detectExtension('text/x-unlisted')).toBe('txt');
    expect(detectExtension('application/x-unlisted')).toBe('bin');
  });

  it('leaves the raw message of a sidestep mail byte for byte as nodemailer composes it', async () => {
    const bundle = await bundleService({
      packageDir,
      entry: 'tests/fixtures/raw-mail.ts',
      outdir,
      substitutes: bundleOptions.substitutes,
    });
    // The bundle carries the replacement, not nodemailer's table.
    const meta = JSON.parse(readFileSync(bundle.metafile, 'utf8')) as { inputs: Record<string, unknown> };
    const inputs = Object.keys(meta.inputs);
    expect(inputs.some((input) => input.endsWith('nodemailer/lib/mime-funcs/mime-types.js'))).toBe(false);
    expect(inputs).toContain('src/adapters/mail-mime-types.ts');

    const bundled = execFileSync(process.execPath, [bundle.outfile], { encoding: 'utf8' });
    const fromSource = await rawMails();
    expect(fromSource).toContain('Content-Type: text/html; charset=utf-8');
    // The idempotency key's header, which SES keeps where it replaces the Message-ID.
    expect(fromSource).toContain('\r\nX-Sidestep-Idempotency-Key: msg-0\r\n');
    expect(fromSource).toMatch(/^Auto-Submitted: auto-generated\r$/m);
    expect(bundled).toBe(fromSource);
  }, 30_000);
});
