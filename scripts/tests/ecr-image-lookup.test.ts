import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ecrImageLookup } from '../src/images/ecr-image-lookup.ts';

// A stand-in `aws` answers as the AWS CLI does: JSON on success, exit 254 with the
// service error on stderr. It records its arguments so the call itself is checked too.
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ecr-lookup-'));
  writeFileSync(
    join(dir, 'aws'),
    `#!/bin/sh
printf '%s\\n' "$@" > "${dir}/args"
case "$6" in
  imageTag=present) echo '{"imageDetails":[{"imageTags":["0123abc","present"]}]}' ;;
  imageTag=absent) echo 'An error occurred (ImageNotFoundException) when calling the DescribeImages operation: The image with imageId {imageDigest:null, imageTag:absent} does not exist' >&2; exit 254 ;;
  *) echo 'An error occurred (RepositoryNotFoundException) when calling the DescribeImages operation: no repository' >&2; exit 254 ;;
esac
`,
  );
  chmodSync(join(dir, 'aws'), 0o755);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('ecrImageLookup', () => {
  it("returns the tags of the image found by tag, asking ECR's describe-images for that tag", async () => {
    await expect(
      ecrImageLookup(join(dir, 'aws'))('sidestep-staging-mail-dispatcher', 'present'),
    ).resolves.toEqual(['0123abc', 'present']);
    expect(readFileSync(join(dir, 'args'), 'utf8').trim().split('\n')).toEqual([
      'ecr',
      'describe-images',
      '--repository-name',
      'sidestep-staging-mail-dispatcher',
      '--image-ids',
      'imageTag=present',
      '--output',
      'json',
    ]);
  });

  it('returns undefined when the repository has no image with that tag', async () => {
    await expect(
      ecrImageLookup(join(dir, 'aws'))('sidestep-staging-mail-dispatcher', 'absent'),
    ).resolves.toBeUndefined();
  });

  it('fails on any other error, so a missing repository or credentials stop the build', async () => {
    await expect(
      ecrImageLookup(join(dir, 'aws'))('sidestep-staging-mail-dispatcher', 'other'),
    ).rejects.toThrow(/RepositoryNotFoundException/);
  });
});
