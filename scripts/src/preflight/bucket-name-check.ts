import { GetBucketTaggingCommand, HeadBucketCommand } from '@aws-sdk/client-s3';
import { describeError, errorName, httpStatus } from './aws-error.ts';
import {
  type CheckResult,
  type PreflightCheck,
  type PreflightContext,
  resultsFor,
} from './preflight-check.ts';
import { bucketNames } from './synthesized-stack.ts';

/** The stack's default tags (`SidestepStack`'s provider): how an existing bucket is known to be ours. */
const OWN_TAGS = (environment: string) => ({ project: 'sidestep', environment });

async function checkBucket({ config, clients }: PreflightContext, bucket: string): Promise<CheckResult> {
  const result = resultsFor('bucket-names', bucket);
  if (bucket.includes('${')) return result('warn', 'the name is only known at apply time: unchecked');
  try {
    await clients.s3.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch (error) {
    const status = httpStatus(error);
    if (status === 404 || errorName(error) === 'NotFound') return result('pass', 'available');
    if (status === 403 || status === 301) {
      return result(
        'fail',
        status === 403
          ? 'taken: it exists and belongs to another account (S3 names are global)'
          : 'taken: it exists in another region',
        'give the environment another bucket name (a name suffix or the account id in the name) and synthesize again',
      );
    }
    throw error;
  }
  // It exists and this caller may read it: the stack's own (after a first apply) or a stranger in this account.
  let tags: Record<string, string | undefined> = {};
  try {
    const tagging = await clients.s3.send(new GetBucketTaggingCommand({ Bucket: bucket }));
    tags = Object.fromEntries((tagging.TagSet ?? []).map((tag) => [tag.Key, tag.Value]));
  } catch (error) {
    if (errorName(error) !== 'NoSuchTagSet')
      return result('warn', `exists; its tags are unreadable (${describeError(error)})`);
  }
  const own = Object.entries(OWN_TAGS(config.name)).every(([key, value]) => tags[key] === value);
  return own
    ? result('pass', `exists, tagged as sidestep ${config.name}'s (in the state after the first apply)`)
    : result(
        'fail',
        `exists in this account without the tags project=sidestep, environment=${config.name}: the apply cannot create it`,
        'delete or rename that bucket, `terraform import` it into the stack, or give the environment another bucket name',
      );
}

/** Each bucket the stack creates: free, or already this environment's. */
export const bucketNameCheck: PreflightCheck = {
  id: 'bucket-names',
  actions: ['s3:ListBucket', 's3:GetBucketTagging'],
  run: async (context) => {
    const names = bucketNames(context.stack());
    const results: CheckResult[] = [];
    for (const name of names) results.push(await checkBucket(context, name));
    return results;
  },
};
