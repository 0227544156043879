// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Terraform references are literal text in the stack.

import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { SynthesizedTerraformJson } from '@sidestep/iam';
import { type AwsEndpoint, startAwsEndpoint } from '../src/aws-endpoint.ts';
import { endpointAuthorizer } from '../src/endpoint-authorization.ts';
import { createLocalIam } from '../src/local-iam.ts';
import { localSecretArn } from '../src/local-names.ts';
import { errorNameOf } from './error-name-of.ts';
import { allow, role } from './fixtures/iam-stack.ts';
import { localClientConfig } from './fixtures/sqs-endpoint.ts';

const KEY = 'sidestep-local-export-download-key';
const OTHER = 'sidestep-local-other-key';

// A stack shaped like infra's ExportDownload: the reader may read the key (every version, no
// secretsmanager:VersionStage condition), the current-only reader only its AWSCURRENT version; neither
// may write it or read the other secret.
const stack: SynthesizedTerraformJson = {
  provider: { aws: [{ region: 'us-east-1' }] },
  resource: {
    aws_secretsmanager_secret: { key: { name: KEY }, other: { name: OTHER } },
    aws_iam_role: { reader: role('reader'), current: role('current-reader') },
    aws_iam_role_policy: {
      reader: allow('reader', [
        {
          Effect: 'Allow',
          Action: 'secretsmanager:GetSecretValue',
          Resource: '${aws_secretsmanager_secret.key.arn}',
        },
      ]),
      current: allow('current', [
        {
          Effect: 'Allow',
          Action: 'secretsmanager:GetSecretValue',
          Resource: '${aws_secretsmanager_secret.key.arn}',
          Condition: { StringEquals: { 'secretsmanager:VersionStage': 'AWSCURRENT' } },
        },
      ]),
    },
  },
};

describe('the local Secrets Manager', () => {
  let dataDir: string;
  let endpoint: AwsEndpoint;
  const clients: SecretsManagerClient[] = [];
  /** A Secrets Manager client signing as `accessKeyId` (a role of the stack, or the operator). */
  const client = (accessKeyId = 'local') => {
    const created = new SecretsManagerClient(localClientConfig(endpoint.url, accessKeyId));
    clients.push(created);
    return created;
  };
  const start = () =>
    startAwsEndpoint({ port: 0, dataDir, authorize: endpointAuthorizer(createLocalIam({ stack })) });

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'secrets-'));
    endpoint = await start();
    endpoint.createSecret(KEY, () => 'first-key'.repeat(4));
    endpoint.createSecret(OTHER, () => 'other-key'.repeat(4));
  });
  afterAll(async () => {
    for (const created of clients) created.destroy();
    await endpoint.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  // https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html: SecretId
  // is the ARN or the name; without VersionStage or VersionId, the AWSCURRENT version.
  it('answers GetSecretValue by ARN, name and partial ARN with the AWSCURRENT version (API_GetSecretValue)', async () => {
    const operator = client();
    const byName = await operator.send(new GetSecretValueCommand({ SecretId: KEY }));
    expect(byName).toMatchObject({
      ARN: localSecretArn(KEY),
      Name: KEY,
      SecretString: 'first-key'.repeat(4),
      VersionStages: ['AWSCURRENT'],
    });
    expect(byName.CreatedDate).toBeInstanceOf(Date);
    const byArn = await operator.send(new GetSecretValueCommand({ SecretId: localSecretArn(KEY) }));
    expect(byArn.VersionId).toBe(byName.VersionId);
    const partial = localSecretArn(KEY).replace(/-local$/, '');
    expect((await operator.send(new GetSecretValueCommand({ SecretId: partial }))).VersionId).toBe(
      byName.VersionId,
    );
  });

  it('answers ResourceNotFoundException for an unknown secret and for a label no version has (API_GetSecretValue)', async () => {
    const operator = client();
    expect(
      await errorNameOf(operator.send(new GetSecretValueCommand({ SecretId: 'sidestep-local-none' }))),
    ).toBe('ResourceNotFoundException');
    // AWSPREVIOUS before the first rotation: the export-finalizer takes this for "no previous key yet".
    const previous = operator.send(
      new GetSecretValueCommand({ SecretId: OTHER, VersionStage: 'AWSPREVIOUS' }),
    );
    await expect(previous).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
      $metadata: { httpStatusCode: 400 },
    });
  });

  // https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html: the new
  // version takes AWSCURRENT, the version that had it gets AWSPREVIOUS.
  it('moves AWSCURRENT to the new version and AWSPREVIOUS to the old current one (API_PutSecretValue)', async () => {
    const operator = client();
    const before = await operator.send(new GetSecretValueCommand({ SecretId: KEY }));
    const put = await operator.send(
      new PutSecretValueCommand({ SecretId: KEY, SecretString: 'second-key'.repeat(4) }),
    );
    expect(put).toMatchObject({ ARN: localSecretArn(KEY), Name: KEY, VersionStages: ['AWSCURRENT'] });
    const current = await operator.send(new GetSecretValueCommand({ SecretId: KEY }));
    expect(current).toMatchObject({ SecretString: 'second-key'.repeat(4), VersionId: put.VersionId });
    const previous = await operator.send(
      new GetSecretValueCommand({ SecretId: KEY, VersionStage: 'AWSPREVIOUS' }),
    );
    expect(previous).toMatchObject({ SecretString: 'first-key'.repeat(4), VersionId: before.VersionId });
    // A third value: the first version loses its label and is no longer listed (API_DescribeSecret's
    // VersionIdsToStages lists the versions with labels), but VersionId still finds it.
    const third = await operator.send(
      new PutSecretValueCommand({ SecretId: KEY, SecretString: 'third-key!'.repeat(4) }),
    );
    const described = await operator.send(new DescribeSecretCommand({ SecretId: KEY }));
    expect(described.VersionIdsToStages).toEqual({
      [put.VersionId as string]: ['AWSPREVIOUS'],
      [third.VersionId as string]: ['AWSCURRENT'],
    });
    const first = await operator.send(
      new GetSecretValueCommand({ SecretId: KEY, VersionId: before.VersionId }),
    );
    expect(first).toMatchObject({ SecretString: 'first-key'.repeat(4), VersionStages: [] });
    expect(
      await errorNameOf(
        operator.send(
          new GetSecretValueCommand({
            SecretId: KEY,
            VersionId: before.VersionId,
            VersionStage: 'AWSCURRENT',
          }),
        ),
      ),
    ).toBe('ResourceNotFoundException');
  });

  it('ignores a PutSecretValue repeated with its ClientRequestToken and refuses another value under it', async () => {
    const operator = client();
    const token = '11111111-2222-3333-4444-555555555555';
    const put = () =>
      operator.send(
        new PutSecretValueCommand({
          SecretId: OTHER,
          SecretString: 'a'.repeat(32),
          ClientRequestToken: token,
        }),
      );
    await put();
    await put();
    const described = await operator.send(new DescribeSecretCommand({ SecretId: OTHER }));
    expect(described.VersionIdsToStages?.[token]).toEqual(['AWSCURRENT']);
    expect(Object.values(described.VersionIdsToStages ?? {})).toContainEqual(['AWSPREVIOUS']);
    expect(Object.keys(described.VersionIdsToStages ?? {})).toHaveLength(2);
    expect(
      await errorNameOf(
        operator.send(
          new PutSecretValueCommand({
            SecretId: OTHER,
            SecretString: 'b'.repeat(32),
            ClientRequestToken: token,
          }),
        ),
      ),
    ).toBe('ResourceExistsException');
  });

  it('creates a secret, without a value until one is put, and refuses a second of the same name (API_CreateSecret)', async () => {
    const operator = client();
    const created = await operator.send(new CreateSecretCommand({ Name: 'sidestep-local-made' }));
    expect(created).toEqual(expect.objectContaining({ ARN: localSecretArn('sidestep-local-made') }));
    expect(created.VersionId).toBeUndefined();
    expect(
      await errorNameOf(operator.send(new GetSecretValueCommand({ SecretId: 'sidestep-local-made' }))),
    ).toBe('ResourceNotFoundException');
    expect(
      await errorNameOf(
        operator.send(new CreateSecretCommand({ Name: 'sidestep-local-made', SecretString: 'x' })),
      ),
    ).toBe('ResourceExistsException');
  });

  it('refuses with AccessDeniedException what the role may not do on the secret’s ARN, however the call names it', async () => {
    const reader = client('reader');
    await expect(reader.send(new GetSecretValueCommand({ SecretId: KEY }))).resolves.toMatchObject({
      Name: KEY,
    });
    await expect(
      reader.send(new GetSecretValueCommand({ SecretId: localSecretArn(KEY), VersionStage: 'AWSPREVIOUS' })),
    ).resolves.toMatchObject({ Name: KEY });
    const refused = [
      reader.send(new GetSecretValueCommand({ SecretId: OTHER })),
      reader.send(new PutSecretValueCommand({ SecretId: KEY, SecretString: 'x'.repeat(32) })),
      reader.send(new DescribeSecretCommand({ SecretId: KEY })),
      // A secret that does not exist: AccessDeniedException, not ResourceNotFoundException.
      reader.send(new GetSecretValueCommand({ SecretId: 'sidestep-local-none' })),
    ];
    for (const call of refused) expect(await errorNameOf(call)).toBe('AccessDeniedException');
    await expect(
      client('current-reader').send(new GetSecretValueCommand({ SecretId: KEY, VersionStage: 'AWSCURRENT' })),
    ).resolves.toMatchObject({ Name: KEY });
    await expect(
      client('current-reader').send(
        new GetSecretValueCommand({ SecretId: KEY, VersionStage: 'AWSPREVIOUS' }),
      ),
    ).rejects.toMatchObject({
      name: 'AccessDeniedException',
      message: expect.stringContaining('secretsmanager:GetSecretValue'),
    });
  });

  it('keeps every secret and version across a restart on the same data directory, owner-only', async () => {
    const operator = client();
    const before = await operator.send(new DescribeSecretCommand({ SecretId: KEY }));
    await endpoint.stop();
    endpoint = await start();
    // Created again at start, as the local cloud does: the kept versions stay.
    expect(endpoint.createSecret(KEY, () => 'ignored'.repeat(5))).toBe(localSecretArn(KEY));
    const after = client();
    expect((await after.send(new DescribeSecretCommand({ SecretId: KEY }))).VersionIdsToStages).toEqual(
      before.VersionIdsToStages,
    );
    expect((await after.send(new GetSecretValueCommand({ SecretId: KEY }))).SecretString).toBe(
      'third-key!'.repeat(4),
    );
    expect((await stat(join(dataDir, 'secrets-manager.json'))).mode & 0o777).toBe(0o600);
  });
});
