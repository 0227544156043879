import { describe, expect, it } from '@jest/globals';
import { downloadLinkFactory } from '../src/domain/download-link.ts';
import { signDownloadToken, verifyDownloadToken } from '../src/domain/download-token.ts';

const KEY = 'k'.repeat(32);
const grant = { key: 'exports/exp_1/users.csv.gz', expiresAt: new Date('2026-12-01T00:00:00Z') };

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
