import { describe, expect, it } from '@jest/globals';
import { BucketNameError, bucketName, ENVIRONMENTS } from '../src/index.ts';

/** S3's rules for a general purpose bucket name that sidestep's names could break. */
function isS3BucketName(name: string): boolean {
  return (
    name.length >= 3 &&
    name.length <= 63 &&
    /^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(name) &&
    !name.includes('..') &&
    !/-s3alias$|--ol-s3$|--x-s3$|--table-s3$/.test(name)
  );
}

describe('bucketName', () => {
  it('ends an environment bucket with its suffix (the account id by default), as S3 names are global', () => {
    expect(bucketName('staging', 'imports', '123456789012')).toBe('sidestep-staging-imports-123456789012');
    expect(bucketName('production', 'exports', 'acme')).toBe('sidestep-production-exports-acme');
  });

  it('names the local cloud’s buckets without a suffix: no other account shares its names', () => {
    expect(bucketName('local', 'imports')).toBe('sidestep-local-imports');
    expect(bucketName('local', 'exports')).toBe('sidestep-local-exports');
  });

  it('keeps the longest environment with a 12-digit account id within S3’s rules', () => {
    const longest = [...ENVIRONMENTS].sort((a, b) => b.length - a.length)[0] as string;
    for (const purpose of ['imports', 'exports'] as const) {
      const name = bucketName(longest, purpose, '999999999999');
      expect(isS3BucketName(name)).toBe(true);
    }
    // The longest suffix that still fits the longest environment: 63 characters exactly.
    const room = 63 - 'sidestep-production-imports-'.length;
    expect(bucketName('production', 'imports', 'a'.repeat(room))).toHaveLength(63);
    expect(() => bucketName('production', 'imports', 'a'.repeat(room + 1))).toThrow(
      expect.objectContaining({ name: 'BucketNameError', field: 'suffix' }) as unknown as Error,
    );
  });

  // The endings S3 keeps for access point aliases (-s3alias), Object Lambda access point aliases
  // (--ol-s3), directory buckets (--x-s3) and table buckets (--table-s3).
  // https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
  it('refuses a suffix S3 would refuse, naming the field', () => {
    for (const suffix of [
      '',
      'Acme',
      'acme_co',
      '-acme',
      'acme-',
      'a.b',
      's3alias',
      'acme--ol-s3',
      'acme--x-s3',
      'acme--table-s3',
    ]) {
      expect(() => bucketName('staging', 'exports', suffix)).toThrow(BucketNameError);
      expect(() => bucketName('staging', 'exports', suffix)).toThrow(/^suffix: /);
    }
  });

  it('refuses an environment that cannot be part of a bucket name, naming the field', () => {
    for (const environment of ['', 'Prod', 'a_b', '9x']) {
      expect(() => bucketName(environment, 'imports')).toThrow(/^environment: /);
    }
  });
});
