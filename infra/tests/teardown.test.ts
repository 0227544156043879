import { describe, expect, it } from '@jest/globals';
import { SERVICES, TASKS } from '@sidestep/registry';
import { DATA_RESOURCE_TYPES, environmentConfigs, InfraConfigError } from '../src/index.ts';
import { STAGING, synthStack } from './environment-fixture.ts';
import { all, type Json, one, ref } from './terraform-json.ts';

/** Every resource of the stack, `[address, body]`. */
function resources(tf: Json): [string, Json][] {
  return Object.keys(tf.resource ?? {}).flatMap((type) => all(tf, type));
}

const PROTECTED = { prevent_destroy: true };
const protectedStack = synthStack(STAGING);
const teardownStack = synthStack({ ...STAGING, teardown: true });

// Terraform refuses a plan that would destroy (or replace) a resource with prevent_destroy, before
// anything is deleted: https://developer.hashicorp.com/terraform/language/meta-arguments/lifecycle
describe('an environment stack by default (deletion protection)', () => {
  it('protects the three buckets and everything that guards their objects', () => {
    const buckets = all(protectedStack, 'aws_s3_bucket');
    expect(buckets.map(([, body]) => body.bucket).sort()).toEqual([
      'sidestep-staging-claims-123456789012',
      'sidestep-staging-exports-123456789012',
      'sidestep-staging-imports-123456789012',
    ]);
    for (const [address, bucket] of buckets) {
      expect([address, bucket.lifecycle]).toEqual([address, PROTECTED]);
      // Public access block, TLS-only policy, encryption, versioning, lifecycle: a surviving bucket
      // without them holds personal data unprotected, or keeps it longer than promised.
      const guards = Object.keys(protectedStack.resource)
        .filter((type) => type.startsWith('aws_s3_bucket_') && type !== 'aws_s3_bucket_notification')
        .flatMap((type) => all(protectedStack, type))
        .filter(([, body]) => body.bucket === ref(address, 'id'));
      expect(guards).toHaveLength(5);
      for (const [guard, body] of guards) expect([guard, body.lifecycle]).toEqual([guard, PROTECTED]);
    }
  });

  it('protects every queue (jobs waiting, dead letters waiting for a redrive), the event archive and the state machines', () => {
    const queues = all(protectedStack, 'aws_sqs_queue');
    expect(queues.filter(([, body]) => /-dlq$/.test(body.name)).length).toBeGreaterThan(3);
    const [, archive] = one(protectedStack, 'aws_cloudwatch_event_archive', {
      name: 'sidestep-staging-events',
    });
    const machines = all(protectedStack, 'aws_sfn_state_machine');
    expect(machines.map(([, body]) => body.name).sort()).toEqual([
      'sidestep-staging-export',
      'sidestep-staging-import',
    ]);
    for (const [address, body] of [...queues, ['archive', archive] as [string, Json], ...machines]) {
      expect([address, body.lifecycle]).toEqual([address, PROTECTED]);
    }
  });

  it('protects exactly the resource types DATA_RESOURCE_TYPES names', () => {
    for (const [address, body] of resources(protectedStack)) {
      const type = address.split('.')[0] ?? '';
      expect([address, body.lifecycle?.prevent_destroy === true]).toEqual([
        address,
        DATA_RESOURCE_TYPES.has(type),
      ]);
    }
  });

  it('keeps force_destroy and force_delete off, so no apply can empty a bucket or a repository', () => {
    for (const [, body] of all(protectedStack, 'aws_s3_bucket')) expect(body.force_destroy).toBe(false);
    const repositories = all(protectedStack, 'aws_ecr_repository');
    expect(repositories).toHaveLength(SERVICES.length + TASKS.length);
    for (const [, body] of repositories) expect(body.force_delete).toBe(false);
  });
});

describe('an environment stack with SIDESTEP_<ENV>_TEARDOWN=true', () => {
  it('lifts every prevent_destroy of the stack', () => {
    for (const [address, body] of resources(teardownStack)) {
      expect([address, body.lifecycle?.prevent_destroy]).toEqual([address, undefined]);
    }
  });

  it('lets destroy delete non-empty buckets (every version) and repositories with images', () => {
    const buckets = all(teardownStack, 'aws_s3_bucket');
    expect(buckets).toHaveLength(3);
    for (const [, body] of buckets) expect(body.force_destroy).toBe(true);
    const repositories = all(teardownStack, 'aws_ecr_repository');
    expect(repositories).toHaveLength(SERVICES.length + TASKS.length);
    for (const [, body] of repositories) expect(body.force_delete).toBe(true);
  });
});

/** The InfraConfigError `environmentConfigs(env)` throws, if any. */
function refusal(env: Record<string, string>): InfraConfigError | undefined {
  try {
    environmentConfigs(env);
    return undefined;
  } catch (error) {
    if (error instanceof InfraConfigError) return error;
    throw error;
  }
}

describe('SIDESTEP_<ENV>_TEARDOWN', () => {
  it('is read per environment, off unless set', () => {
    const configs = environmentConfigs({ SIDESTEP_PRODUCTION_TEARDOWN: 'true' });
    expect(configs.production.teardown).toBe(true);
    expect(configs.staging.teardown).toBeUndefined();
    expect(environmentConfigs({ SIDESTEP_STAGING_TEARDOWN: 'false' }).staging.teardown).toBe(false);
  });

  it('refuses anything but true or false, naming the variable', () => {
    for (const value of ['yes', '1', 'TRUE', ' true']) {
      const error = refusal({ SIDESTEP_STAGING_TEARDOWN: value });
      expect([value, error?.field]).toEqual([value, 'staging.teardown']);
      expect(error?.message).toContain(`SIDESTEP_STAGING_TEARDOWN must be true or false, not "${value}"`);
    }
  });

  it('is refused by the deploy pipeline: only an administrator lifts the protection', () => {
    const error = refusal({ SIDESTEP_DEPLOY_ENVIRONMENT: 'staging', SIDESTEP_STAGING_TEARDOWN: 'true' });
    expect(error?.field).toBe('staging.teardown');
    expect(error?.message).toContain('SIDESTEP_STAGING_TEARDOWN=true is never deployed by the pipeline');
    // Another environment's teardown is not this deploy's concern (here the placeholders stop it).
    expect(
      refusal({ SIDESTEP_DEPLOY_ENVIRONMENT: 'staging', SIDESTEP_PRODUCTION_TEARDOWN: 'true' })?.field,
    ).toBe('staging.accountId');
  });
});
