import { AwsProvider } from '@cdktn/provider-aws/lib/provider/index.js';
import { describe, expect, it } from '@jest/globals';
import { TerraformStack, Testing } from 'cdktn';
import { ClaimCheckBucket, GrantableRole, SERVICES, SidestepStack } from '../src/index.ts';
import { STAGING } from './environment-fixture.ts';
import { type Json, one, statements } from './terraform-json.ts';

const DAY = 24 * 60 * 60;
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

  it('keeps every body a day longer than a pointer can live: the queue retention (stated) plus the DLQ retention', () => {
    // A pointer waits up to the queue's retention; its last receive is dead-lettered by the runtime
    // as a new message, which the DLQ keeps 14 more days. A redrive starts a message's retention
    // again, so a pointer redriven later finds its body gone (ClaimCheckMissingError).
    // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-configure-dead-letter-queue-redrive.html
    const [, queue] = one(tf, 'aws_sqs_queue', { name: 'sidestep-staging-mail' });
    const [, dlq] = one(tf, 'aws_sqs_queue', { name: 'sidestep-staging-mail-dlq' });
    expect(queue.message_retention_seconds).toBe(4 * DAY);
    const rules = setting('aws_s3_bucket_lifecycle_configuration').rule as Json[];
    const rule = rules.find((r) => r.id === 'expire-claim-checks');
    expect(rule).toMatchObject({ status: 'Enabled', filter: [{}], expiration: [{ days: 19 }] });
    expect(rule?.expiration[0].days * DAY).toBeGreaterThanOrEqual(
      queue.message_retention_seconds + dlq.message_retention_seconds + DAY,
    );
  });

  it('keeps bodies longer when a queue that resolves pointers keeps its messages longer', () => {
    const long = SERVICES.map((service) =>
      service.queue
        ? { ...service, queue: { ...service.queue, messageRetentionSeconds: 10 * DAY } }
        : service,
    );
    const out: Json = JSON.parse(
      Testing.synth(
        new SidestepStack(Testing.app(), 'sidestep-staging', { config: STAGING, services: long }),
      ),
    );
    const [address] = one(out, 'aws_s3_bucket', { bucket: 'sidestep-staging-claims-123456789012' });
    const [, lifecycle] = one(out, 'aws_s3_bucket_lifecycle_configuration', { bucket: `\${${address}.id}` });
    const rule = (lifecycle.rule as Json[]).find((r) => r.id === 'expire-claim-checks');
    expect(rule?.expiration).toEqual([{ days: 10 + 14 + 1 }]);
  });

  it('refuses an expiration shorter than a pointer can live, naming it', () => {
    const stack = new TerraformStack(Testing.app(), 'claims-short');
    new AwsProvider(stack, 'aws', { region: 'eu-west-1' });
    const claims = new ClaimCheckBucket(stack, 'claims', {
      bucketName: 'sidestep-staging-claims-short',
      expirationDays: 14,
    });
    claims.addPointerQueue({ name: 'mail' });
    expect(() => Testing.synth(stack, true)).toThrow(
      'claim-check-bucket.expirationDays: 14 days is shorter than a pointer can live (19: mail keeps messages 4 days, its DLQ 14, and a day)',
    );
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
