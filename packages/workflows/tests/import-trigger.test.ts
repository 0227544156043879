import { describe, expect, it } from '@jest/globals';
import { bucketName } from '@sidestep/manifest';
import { InvalidWorkflowPropsError, importTrigger } from '../src/index.ts';

describe('importTrigger', () => {
  it('names the bucket per environment and matches S3 Object Created events for imports/*.csv in it', () => {
    expect(importTrigger('staging', { bucketSuffix: '123456789012' })).toEqual({
      bucketName: 'sidestep-staging-imports-123456789012',
      keyPrefix: 'imports/',
      eventPattern: {
        source: ['aws.s3'],
        'detail-type': ['Object Created'],
        detail: {
          bucket: { name: ['sidestep-staging-imports-123456789012'] },
          object: { key: [{ wildcard: 'imports/*.csv' }] },
        },
      },
    });
  });

  it('gives the local cloud its own bucket, named by the same function infra uses', () => {
    expect(importTrigger('local').bucketName).toBe('sidestep-local-imports');
    expect(importTrigger('local').bucketName).toBe(bucketName('local', 'imports'));
  });

  it('refuses a bucket suffix S3 would refuse, naming the field', () => {
    expect(() => importTrigger('production', { bucketSuffix: 'Acme' })).toThrow(InvalidWorkflowPropsError);
    expect(() => importTrigger('production', { bucketSuffix: 'a'.repeat(40) })).toThrow(/^bucketSuffix: /);
  });

  it('refuses an environment that cannot be part of a bucket name', () => {
    for (const environment of ['', 'Prod', 'a_b', 'x'.repeat(47)]) {
      expect(() => importTrigger(environment)).toThrow(InvalidWorkflowPropsError);
    }
    expect(() => importTrigger('Prod')).toThrow(/^environment: /);
  });

  it('keeps bucket names within S3 limits for the longest environment it accepts', () => {
    expect(importTrigger('x'.repeat(46)).bucketName).toHaveLength(63);
  });
});
