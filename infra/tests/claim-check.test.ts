import { describe, expect, it } from '@jest/globals';
import { TerraformStack, Testing } from 'cdktn';
import { ClaimCheckBucket, GrantableRole, SidestepStack } from '../src/index.ts';
import { STAGING } from './environment-fixture.ts';
import { type Json, one, statements } from './terraform-json.ts';

const tf: Json = JSON.parse(
  Testing.synth(new SidestepStack(Testing.app(), 'sidestep-staging', { config: STAGING }), true),
);
const [bucketAddress, bucket] = one(tf, 'aws_s3_bucket', { bucket: 'sidestep-staging-claims-123456789012' });
const arn = `\${${bucketAddress}.arn}`;

/** The body of the resource of `type` configuring this bucket. */
function setting(type: string): Json {
  return one(tf, type, { bucket: `\${${bucketAddress}.id}` })[1];
}

describe('ClaimCheckBucket (staging)', () => {
  it('keeps claim-check bodies private, encrypted and TLS-only', () => {
    expect(bucket.force_destroy).toBe(false);
    expect(setting('aws_s3_bucket_public_access_block')).toMatchObject({
      block_public_acls: true,
      block_public_policy: true,
      ignore_public_acls: true,
      restrict_public_buckets: true,
    });
    expect(setting('aws_s3_bucket_server_side_encryption_configuration').rule).toEqual([
      { apply_server_side_encryption_by_default: { sse_algorithm: 'AES256' } },
    ]);
    const policy = JSON.parse(setting('aws_s3_bucket_policy').policy);
    expect(JSON.stringify(policy)).toContain('aws:SecureTransport');
  });

  it('expires every body after 14 days, the longest a pointer can stay in a queue', () => {
    const rules = setting('aws_s3_bucket_lifecycle_configuration').rule as Json[];
    expect(rules.find((rule) => rule.id === 'expire-claim-checks')).toMatchObject({
      status: 'Enabled',
      filter: [{}],
      expiration: [{ days: 14 }],
    });
  });

  it('lets the mail queue consumer read pointers and store only dead letters', () => {
    const granted = statements(tf, 'sidestep-staging-mail-dispatcher').filter((s) =>
      String(s.Resource).includes(bucketAddress),
    );
    expect(granted).toEqual([
      expect.objectContaining({ Action: ['s3:GetObject'], Resource: `${arn}/*` }),
      expect.objectContaining({ Action: ['s3:ListBucket'], Resource: arn }),
      expect.objectContaining({ Action: ['s3:PutObject'], Resource: `${arn}/dead-letters/*` }),
    ]);
    const [, fn] = one(tf, 'aws_lambda_function', { function_name: 'sidestep-staging-mail-dispatcher' });
    expect(fn.environment.variables.CLAIM_CHECK_BUCKET).toBe('sidestep-staging-claims-123456789012');
  });

  it('lets a producer store bodies under payloads/ and nothing else', () => {
    const stack = new TerraformStack(Testing.app(), 'claims');
    const claims = new ClaimCheckBucket(stack, 'claims', {
      bucketName: 'sidestep-staging-claims-123456789012',
    });
    const producer = new GrantableRole(stack, 'producer', {
      roleName: 'producer',
      assumedBy: 'lambda.amazonaws.com',
    });
    claims.grantPutPayloads(producer);
    const out = JSON.parse(Testing.synth(stack));
    const [address] = one(out, 'aws_s3_bucket');
    expect(statements(out, 'producer')).toEqual([
      expect.objectContaining({
        Effect: 'Allow',
        Action: ['s3:PutObject'],
        Resource: `\${${address}.arn}/payloads/*`,
      }),
    ]);
  });

  it('refuses an expiration that is not a whole number of days, naming it', () => {
    const stack = new TerraformStack(Testing.app(), 'claims-bad');
    expect(
      () => new ClaimCheckBucket(stack, 'claims', { bucketName: 'sidestep-x-claims', expirationDays: 0.5 }),
    ).toThrow(
      expect.objectContaining({ name: 'InfraConfigError', field: 'claim-check-bucket.expirationDays' }),
    );
  });
});
