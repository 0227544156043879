import type { S3Client } from '@aws-sdk/client-s3';
import { writeExport } from '@sidestep/export-finalizer/testing';
import { toSqsEvent } from '@sidestep/local-cloud';

/** What a first job may need from the bench: S3 with the exports bucket, and a name unique to it. */
export interface FirstJobContext {
  /** Unique per job: a fresh id, so each cold start does the work anew (no idempotent replay). */
  readonly id: string;
  readonly s3: S3Client;
  /** The bucket the export-finalizer's function is configured with. */
  readonly exportsBucket: string;
}

/** One service's first job: its event, and whether the handler's answer says it did the work. */
export interface FirstJob {
  /** What the job is, for the report. */
  readonly description: string;
  /** Writes what the job reads (before the process is spawned: not timed) and returns the event. */
  event(context: FirstJobContext): Promise<unknown>;
  /** Why the answer is not that of the job done, or undefined when it is. */
  failure(result: unknown): string | undefined;
}

/** One SQS message as Lambda's event source mapping delivers it from the mail queue. */
function sqsEvent(body: string) {
  return toSqsEvent([{ MessageId: 'm-0', ReceiptHandle: 'r-0', Body: body }], {
    arn: 'arn:aws:sqs:us-east-1:000000000000:sidestep-local-mail',
    region: 'us-east-1',
  });
}

const has = (result: unknown, key: string): boolean =>
  typeof result === 'object' && result !== null && key in result;

/**
 * A valid first job per Lambda service of the registry, each the work its trigger brings most often
 * (the same events as the services' image tests): a mail to send, a job to register, an export of
 * one part to complete, a sweep, a ledger query.
 */
export const FIRST_JOBS: Readonly<Record<string, FirstJob>> = {
  'mail-dispatcher': {
    description: 'one mail.send job (an export.ready mail) in an SQS batch',
    event: async ({ id }) =>
      sqsEvent(
        JSON.stringify({
          type: 'mail.send',
          version: 1,
          id,
          payload: {
            template: 'export.ready',
            to: 'bench@example.com',
            params: { jobId: 'exp_bench', rows: 3, downloadUrl: 'https://example.com/x' },
          },
        }),
      ),
    failure: (result) => {
      const failures = (result as { batchItemFailures?: unknown[] } | null)?.batchItemFailures;
      return Array.isArray(failures) && failures.length === 0
        ? undefined
        : `batchItemFailures ${JSON.stringify(failures)}`;
    },
  },
  'status-updater': {
    description: "an import's register event",
    event: async ({ id }) => ({
      event: 'register',
      kind: 'import',
      expectedState: 'registered',
      executionId: `arn:aws:states:us-east-1:000000000000:execution:sidestep-local-import:${id}`,
      source: { bucket: 'sidestep-local-imports', key: `imports/${id}.csv`, etag: `"${id}"`, size: 10 },
    }),
    failure: (result) =>
      (result as { state?: unknown } | null)?.state === 'registered' ? undefined : 'no registered job',
  },
  'export-finalizer': {
    description: 'an export of one part to check, complete and sign a link for',
    event: async ({ id, s3, exportsBucket }) => {
      const jobId = `exp_${id.replaceAll('-', '_')}`;
      const fileName = 'users';
      // The export-finalizer's own test fixture writes the part and the manifest as the batch-worker does.
      const { manifestKey } = await writeExport(s3, exportsBucket, jobId, [{ rows: 2 }], fileName);
      return { jobId, bucket: exportsBucket, manifestKey, fileName };
    },
    failure: (result) => (has(result, 'downloadUrl') ? undefined : 'no download link'),
  },
  'job-sweeper': {
    description: 'one scheduled sweep (nothing stale: no mail queued)',
    event: async () => ({}),
    failure: (result) => (has(result, 'failed') ? undefined : 'no sweep report'),
  },
  'ops-ledger': {
    description: "an operator's jobs.list query",
    event: async () => ({ op: 'jobs.list', status: 'failed' }),
    failure: (result) => ((result as { ok?: unknown } | null)?.ok === true ? undefined : 'no answer'),
  },
};

/** The first job of `service`; a service without one is named. */
export function firstJob(service: string): FirstJob {
  const job = FIRST_JOBS[service];
  if (!job)
    throw new Error(`FIRST_JOBS: no first job for ${service} (add one in scripts/src/bench/first-jobs.ts)`);
  return job;
}
