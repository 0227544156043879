import { createHmac } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { downloadLinkFactory } from '../src/domain/download-link.ts';
import {
  downloadTokenKeyId,
  signDownloadToken,
  signingKeyId,
  verifyDownloadToken,
} from '../src/domain/download-token.ts';

const KEY = 'k'.repeat(32);
const grant = { key: 'exports/exp_1/users.csv.gz', expiresAt: new Date('2026-12-01T00:00:00Z') };

/** A token as signed before tokens named their key. */
function v1Token(signingKey: string): string {
  const claims = Buffer.from(
    JSON.stringify({ v: 1, k: grant.key, e: Math.floor(grant.expiresAt.getTime() / 1000) }),
  ).toString('base64url');
  return `${claims}.${createHmac('sha256', signingKey).update(claims).digest('base64url')}`;
}

describe('download tokens', () => {
  it('verifies its own token until the expiry, then refuses it as expired', () => {
    const token = signDownloadToken(grant, KEY);
    expect(verifyDownloadToken(token, KEY, new Date('2026-11-30T23:59:59Z'))).toEqual({ ok: true, grant });
    expect(verifyDownloadToken(token, KEY, new Date('2026-12-01T00:00:00Z'))).toEqual({
      ok: false,
      problem: 'expired',
    });
  });

  it('refuses a token signed with another key, or with edited claims', () => {
    const token = signDownloadToken(grant, KEY);
    const now = new Date('2026-11-25T00:00:00Z');
    expect(verifyDownloadToken(token, 'x'.repeat(32), now)).toEqual({ ok: false, problem: 'bad-signature' });
    const [, mac] = token.split('.');
    const forged = Buffer.from(
      JSON.stringify({ v: 1, k: 'exports/exp_2/users.csv.gz', e: 1_900_000_000 }),
    ).toString('base64url');
    expect(verifyDownloadToken(`${forged}.${mac}`, KEY, now)).toEqual({
      ok: false,
      problem: 'bad-signature',
    });
    expect(verifyDownloadToken('garbage', KEY, now)).toEqual({ ok: false, problem: 'malformed' });
    expect(verifyDownloadToken(`${token}.x`, KEY, now)).toEqual({ ok: false, problem: 'malformed' });
  });

  it('names the key it was signed with by a short id that does not reveal the key, and is verified by that key only', () => {
    const token = signDownloadToken(grant, KEY);
    const other = 'o'.repeat(32);
    expect(signingKeyId(KEY)).toMatch(/^[A-Za-z0-9_-]{8}$/);
    expect(signingKeyId(KEY)).not.toBe(signingKeyId(other));
    expect(downloadTokenKeyId(token)).toEqual({ ok: true, keyId: signingKeyId(KEY) });
    const now = new Date('2026-11-25T00:00:00Z');
    expect(verifyDownloadToken(token, [other, KEY], now)).toEqual({ ok: true, grant });
    expect(verifyDownloadToken(token, [other], now)).toEqual({ ok: false, problem: 'bad-signature' });
    // The key id costs the link 20 characters.
    expect(token.length - v1Token(KEY).length).toBe(20);
  });

  it('verifies a link signed before tokens named their key (v1) against each key given, until it expires', () => {
    const v1 = v1Token(KEY);
    expect(downloadTokenKeyId(v1)).toEqual({ ok: true, keyId: undefined });
    const other = 'o'.repeat(32);
    expect(verifyDownloadToken(v1, [other, KEY], new Date('2026-11-30T00:00:00Z'))).toEqual({
      ok: true,
      grant,
    });
    expect(verifyDownloadToken(v1, [other], new Date('2026-11-30T00:00:00Z'))).toEqual({
      ok: false,
      problem: 'bad-signature',
    });
    expect(verifyDownloadToken(v1, [KEY], new Date('2026-12-01T00:00:00Z'))).toEqual({
      ok: false,
      problem: 'expired',
    });
    expect(downloadTokenKeyId('garbage')).toEqual({ ok: false, problem: 'malformed' });
  });

  it('makes links to the base URL with the token and the expiry the TTL gives', () => {
    const link = downloadLinkFactory({
      baseUrl: 'https://dl.example.com/exports',
      signingKey: KEY,
      ttlSeconds: 3600,
    });
    const made = link('exports/exp_1/users.csv.gz', new Date('2026-11-24T10:00:00.500Z'));
    expect(made.expiresAt.toISOString()).toBe('2026-11-24T11:00:00.000Z');
    const url = new URL(made.url);
    expect(url.origin + url.pathname).toBe('https://dl.example.com/exports');
    const verdict = verifyDownloadToken(
      url.searchParams.get('token') ?? '',
      KEY,
      new Date('2026-11-24T10:30:00Z'),
    );
    expect(verdict).toEqual({
      ok: true,
      grant: { key: 'exports/exp_1/users.csv.gz', expiresAt: made.expiresAt },
    });
  });
});
