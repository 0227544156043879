import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SecretsManagerDouble } from '@sidestep/runtime/testing';
import { SecretsManagerSigningKeys } from '../src/adapters/secrets-manager.ts';
import { DownloadKeyring } from '../src/domain/download-keyring.ts';
import { downloadLinkFactory } from '../src/domain/download-link.ts';
import { signingKeyId } from '../src/domain/download-token.ts';
import { createDownloadEndpoint } from '../src/download-endpoint.ts';

// Rotating the signing secret is `put-secret-value`: the new value becomes AWSCURRENT, the old one
// AWSPREVIOUS (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html).
// The finalizer signs with AWSCURRENT and the endpoint accepts AWSCURRENT and AWSPREVIOUS, fetched by
// VersionStage (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html),
// each function caching what it fetched for 5 minutes.

const K1 = 'one-'.repeat(12);
const K2 = 'two-'.repeat(12);
const K3 = 'three-'.repeat(8);
const OBJECT = 'exports/exp_rot1/users.csv.gz';
const WEEK = 7 * 86_400;

let secretsManager: SecretsManagerDouble;
const saved: Record<string, string | undefined> = {};
const environment = {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  AWS_ENDPOINT_URL_SECRETS_MANAGER: '',
};

beforeAll(async () => {
  secretsManager = await new SecretsManagerDouble().start();
  for (const [name, value] of Object.entries({
    ...environment,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsManager.endpoint,
  })) {
    saved[name] = process.env[name];
    process.env[name] = value;
  }
});

afterAll(async () => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  await secretsManager?.stop();
});

let secrets = 0;
/** A secret of its own for each test, holding `value` as AWSCURRENT. */
function newSecret(value: string): string {
  secrets += 1;
  const arn = `arn:aws:secretsmanager:us-east-1:000000000000:secret:sidestep-test-export-download-key-${secrets}`;
  secretsManager.put(arn, value);
  return arn;
}

/** A finalizer function instance: it fetches the key on first use and keeps it 5 minutes. */
function finalizer(arn: string): (key?: string) => Promise<string> {
  const keyring = new DownloadKeyring(new SecretsManagerSigningKeys(arn));
  return async (key = OBJECT) => {
    const link = downloadLinkFactory({
      baseUrl: 'https://dl.example/',
      signingKey: await keyring.signingKey(),
      ttlSeconds: WEEK,
    })(key, new Date());
    return new URL(link.url).searchParams.get('token') ?? '';
  };
}

/** A download function instance (its own caches); answers the status a GET of the token gets. */
function downloadEndpoint(arn: string, clock: { now: number } = { now: Date.now() }) {
  const endpoint = createDownloadEndpoint({
    bucket: 'sidestep-test-exports',
    signingKeys: new DownloadKeyring(new SecretsManagerSigningKeys(arn), { now: () => clock.now }),
    head: async () => ({ bytes: 10, etag: '"e"', crc64nvme: undefined }),
    presign: async (bucket, key) => `https://${bucket}.s3.example/${key}?X-Amz-Signature=x`,
  });
  return async (token: string) => (await endpoint({ method: 'GET', token })).statusCode;
}

/** A token whose claims name `keyId` but whose MAC is made with `macKey`. */
function tokenWith(keyId: string, macKey: string): string {
  const claims = Buffer.from(
    JSON.stringify({ v: 2, i: keyId, k: OBJECT, e: Math.floor(Date.now() / 1000) + 3600 }),
  ).toString('base64url');
  return `${claims}.${createHmac('sha256', macKey).update(claims).digest('base64url')}`;
}

describe('rotating the download signing key', () => {
  it('accepts a link signed just after a rotation by a finalizer that still had the old key cached', async () => {
    const arn = newSecret(K1);
    const warmFinalizer = finalizer(arn);
    const warmEndpoint = downloadEndpoint(arn);
    expect(await warmEndpoint(await warmFinalizer())).toBe(302);

    secretsManager.put(arn, K2);
    const signedWithCachedKey = await warmFinalizer('exports/exp_rot2/users.csv.gz');
    expect(await downloadEndpoint(arn)(signedWithCachedKey)).toBe(302);
    expect(await warmEndpoint(signedWithCachedKey)).toBe(302);
  });

  it('accepts a link signed with the new key at once on an endpoint that still had the old key cached', async () => {
    const arn = newSecret(K1);
    const warmEndpoint = downloadEndpoint(arn);
    expect(await warmEndpoint(await finalizer(arn)())).toBe(302);

    secretsManager.put(arn, K2);
    const signedWithNewKey = await finalizer(arn)();
    expect(await warmEndpoint(signedWithNewKey)).toBe(302);
    // ...and links of the old key still, now that it found the rotation.
    expect(await warmEndpoint(tokenWith(signingKeyId(K1), K1))).toBe(302);
  });

  it('signs, on a warm finalizer, with the key put last: its links work at once after every link was revoked (two new values)', async () => {
    const arn = newSecret(K1);
    const warmFinalizer = finalizer(arn);
    expect(await downloadEndpoint(arn)(await warmFinalizer())).toBe(302);
    secretsManager.put(arn, K2);
    secretsManager.put(arn, K3);
    const mailed = await warmFinalizer('exports/exp_revoked/users.csv.gz');
    expect(await downloadEndpoint(arn)(mailed)).toBe(302);
  });

  it('keeps a link signed with the previous key working after one rotation, and refuses it after two', async () => {
    const arn = newSecret(K1);
    const token = await finalizer(arn)();
    expect(await downloadEndpoint(arn)(token)).toBe(302);
    secretsManager.put(arn, K2);
    expect(await downloadEndpoint(arn)(token)).toBe(302);
    secretsManager.put(arn, K3);
    expect(await downloadEndpoint(arn)(token)).toBe(403);
    expect(await downloadEndpoint(arn)(await finalizer(arn)())).toBe(302);
  });

  it('refuses a forged token: another key, the real key id with another MAC, edited claims', async () => {
    const arn = newSecret(K1);
    secretsManager.put(arn, K2);
    const endpoint = downloadEndpoint(arn);
    const forger = 'forged-'.repeat(8);
    expect(await endpoint(tokenWith(signingKeyId(forger), forger))).toBe(403);
    expect(await endpoint(tokenWith(signingKeyId(K2), forger))).toBe(403);
    expect(await endpoint(tokenWith(signingKeyId(K1), forger))).toBe(403);
    const [, mac] = (await finalizer(arn)()).split('.');
    const edited = Buffer.from(
      JSON.stringify({ v: 2, i: signingKeyId(K2), k: 'exports/exp_other/users.csv.gz', e: 1_900_000_000 }),
    ).toString('base64url');
    expect(await endpoint(`${edited}.${mac}`)).toBe(403);
    expect(await endpoint(tokenWith(signingKeyId(K2), K2))).toBe(302);
  });

  it('fetches the secret again, bypassing its cache, once for a key id it does not know, and not again for 10 seconds', async () => {
    const arn = newSecret(K1);
    const clock = { now: Date.now() };
    const endpoint = downloadEndpoint(arn, clock);
    expect(await endpoint(await finalizer(arn)())).toBe(302);
    expect(secretsManager.requests.filter((r) => r.startsWith(`${arn} `))).toEqual([
      `${arn} AWSCURRENT`, // the finalizer's
      `${arn} AWSCURRENT`, // the endpoint's
    ]);

    secretsManager.requests.length = 0;
    const unknown = 'unknown-'.repeat(6);
    expect(await endpoint(tokenWith(signingKeyId(unknown), unknown))).toBe(403);
    expect(secretsManager.requests).toEqual([
      `${arn} AWSPREVIOUS`, // not cached yet: none (a first value has no AWSPREVIOUS)
      `${arn} AWSCURRENT`, // the one fresh fetch
      `${arn} AWSPREVIOUS`,
    ]);

    secretsManager.requests.length = 0;
    clock.now += 9_000;
    expect(await endpoint(tokenWith(signingKeyId(unknown), unknown))).toBe(403);
    expect(secretsManager.requests).toEqual([]);

    clock.now += 1_000;
    expect(await endpoint(tokenWith(signingKeyId(unknown), unknown))).toBe(403);
    expect(secretsManager.requests).toEqual([`${arn} AWSCURRENT`, `${arn} AWSPREVIOUS`]);
  });
});
