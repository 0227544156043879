/**
 * The invariants a chaos run checks after its faults, on a snapshot of what the local cloud holds
 * (see `readChaosSnapshot`). Pure: data in, violations out, so each invariant is unit-tested on a
 * fabricated state.
 */

/** An object the run uploaded and S3 accepted (a 200 to PutObject): an import job must exist for it. */
export interface AcceptedUpload {
  readonly key: string;
  /** The ETag S3 answered, quotes removed: with an unversioned bucket it is the object's identity. */
  readonly etag: string;
  /** The external ids of its rows start with `<prefix>-`, no other upload's do. */
  readonly prefix: string;
  /** Rows the file holds; a file with a bad header imports none. */
  readonly rows: number;
  /** Of those, the rows the import must reject (a bad email), so must not import and must keep listed. */
  readonly rejected: number;
  /** False for a file the import must reject (bad header). */
  readonly valid: boolean;
}

/** A job of the ledger, as far as the invariants need it. */
export interface LedgerJob {
  readonly id: string;
  readonly state: string;
  readonly sourceKey: string | null;
  /** The ETag of the object the job's execution was started for (from the execution's input). */
  readonly sourceVersion: string | null;
  readonly rowsImported: number | null;
  readonly rowsRejected: number | null;
  /** Rows the ledger keeps for the job in `import_rejected_rows`. */
  readonly rejectedRowsKept: number;
  readonly executionId: string | null;
}

/** A mail in the SMTP sink's outbox. */
export interface SentMail {
  readonly template: string;
  readonly jobId: string;
  readonly file: string;
}

/** A message in a dead-letter queue. */
export interface DeadLetteredMessage {
  readonly queue: string;
  readonly messageId: string;
  readonly errorType: string | null;
  readonly errorMessage: string | null;
  readonly body: string;
}

/** A message the run sent that the consumer must reject: it must end in `queue`'s DLQ with a reason. */
export interface RejectedMessage {
  readonly queue: string;
  readonly body: string;
}

/** Everything the invariants look at, read after a run has settled. */
export interface ChaosSnapshot {
  readonly uploads: readonly AcceptedUpload[];
  readonly jobs: readonly LedgerJob[];
  /** Rows in `users` per upload prefix. */
  readonly rowsByPrefix: Readonly<Record<string, number>>;
  readonly mails: readonly SentMail[];
  readonly deadLetters: readonly DeadLetteredMessage[];
  readonly rejected: readonly RejectedMessage[];
  /** Every execution's status by ARN (`RUNNING` means its task may still be alive). */
  readonly executions: Readonly<Record<string, string>>;
}

/** The invariants, by name. */
export type InvariantName =
  | 'one-job-per-upload'
  | 'terminal-state'
  | 'rows-match-state'
  | 'rejected-rows-kept'
  | 'mail-once-per-key'
  | 'mail-for-terminal-job'
  | 'dead-letter-reason'
  | 'rejected-in-dead-letter'
  | 'running-without-task';

/** One broken invariant, with what broke it. */
export interface Violation {
  readonly invariant: InvariantName;
  readonly subject: string;
  readonly detail: string;
}

const TERMINAL = new Set(['succeeded', 'failed']);
const MAIL_OF_STATE: Readonly<Record<string, string>> = {
  succeeded: 'import.completed',
  failed: 'import.failed',
};

const unquoted = (etag: string | null) => (etag ?? '').replace(/^"|"$/g, '');

/** The upload a job was registered for (same key and ETag), if the run made it. */
function uploadOf(snapshot: ChaosSnapshot, job: LedgerJob): AcceptedUpload | undefined {
  return snapshot.uploads.find(
    (upload) => upload.key === job.sourceKey && upload.etag === unquoted(job.sourceVersion),
  );
}

/**
 * The violations in `snapshot`, empty when every invariant holds:
 *
 * - `one-job-per-upload`: every accepted upload (key + ETag) has exactly one job.
 * - `terminal-state`: every job whose execution ended is `succeeded` or `failed`.
 * - `rows-match-state`: a succeeded job's file rows are in `users` (as many as it says it imported,
 *   and all but the rejected ones for a valid file); a failed job left none.
 * - `rejected-rows-kept`: a succeeded job counted its file's rejected rows and the ledger lists each
 *   of them once (`import_rejected_rows`); a failed job lists none.
 * - `mail-once-per-key`: no mail key (`<template>:<jobId>`) was sent twice.
 * - `mail-for-terminal-job`: a succeeded job got exactly one `import.completed` mail, a failed one
 *   exactly one `import.failed` mail, and neither got the other's.
 * - `dead-letter-reason`: every dead-lettered message says why (`sidestep.error.type` and `.message`).
 * - `rejected-in-dead-letter`: every message the run sent to be rejected is in its queue's DLQ.
 * - `running-without-task`: no job is `registered` or `running` without a RUNNING execution.
 */
export function checkInvariants(snapshot: ChaosSnapshot): Violation[] {
  const violations: Violation[] = [];
  const fail = (invariant: InvariantName, subject: string, detail: string) =>
    violations.push({ invariant, subject, detail });

  for (const upload of snapshot.uploads) {
    const jobs = snapshot.jobs.filter((job) => uploadOf(snapshot, job) === upload);
    if (jobs.length !== 1) {
      fail(
        'one-job-per-upload',
        `${upload.key} (${upload.etag})`,
        `${jobs.length} jobs: ${jobs.map((job) => job.id).join(', ')}`,
      );
    }
  }

  const mailsByKey = new Map<string, SentMail[]>();
  for (const mail of snapshot.mails) {
    const key = `${mail.template}:${mail.jobId}`;
    mailsByKey.set(key, [...(mailsByKey.get(key) ?? []), mail]);
  }
  for (const [key, mails] of mailsByKey) {
    if (mails.length > 1)
      fail(
        'mail-once-per-key',
        key,
        `sent ${mails.length} times: ${mails.map((mail) => mail.file).join(', ')}`,
      );
  }

  for (const job of snapshot.jobs) {
    const live = job.executionId !== null && snapshot.executions[job.executionId] === 'RUNNING';
    if (!TERMINAL.has(job.state)) {
      if (!live) {
        fail(
          'running-without-task',
          job.id,
          `${job.state}, execution ${job.executionId ?? '(none)'} is ${job.executionId ? (snapshot.executions[job.executionId] ?? 'unknown') : 'missing'}`,
        );
        fail('terminal-state', job.id, `${job.state} after its execution ended`);
      }
      continue;
    }

    const upload = uploadOf(snapshot, job);
    if (upload) {
      const present = snapshot.rowsByPrefix[upload.prefix] ?? 0;
      const importable = upload.rows - upload.rejected;
      if (
        job.state === 'succeeded' &&
        (present !== (job.rowsImported ?? 0) || (upload.valid && present !== importable))
      ) {
        fail(
          'rows-match-state',
          job.id,
          `succeeded with rows_imported ${job.rowsImported ?? 'null'}, but ${present} of its file's ${importable} valid rows are in users`,
        );
      }
      if (
        job.state === 'succeeded' &&
        upload.valid &&
        (job.rowsRejected !== upload.rejected || job.rejectedRowsKept !== upload.rejected)
      ) {
        fail(
          'rejected-rows-kept',
          job.id,
          `succeeded with rows_rejected ${job.rowsRejected ?? 'null'} and ${job.rejectedRowsKept} rejected rows kept, but its file has ${upload.rejected}`,
        );
      }
      if (job.state === 'failed' && present > 0) {
        fail('rows-match-state', job.id, `failed, but ${present} of its file's rows are in users`);
      }
      if (job.state === 'failed' && job.rejectedRowsKept > 0) {
        fail(
          'rejected-rows-kept',
          job.id,
          `failed, but ${job.rejectedRowsKept} rejected rows are kept for it`,
        );
      }
    }

    const expected = MAIL_OF_STATE[job.state] ?? '';
    const other = job.state === 'succeeded' ? MAIL_OF_STATE.failed : MAIL_OF_STATE.succeeded;
    const sent = mailsByKey.get(`${expected}:${job.id}`)?.length ?? 0;
    if (sent !== 1) fail('mail-for-terminal-job', job.id, `${job.state}, ${sent} ${expected} mails`);
    if (mailsByKey.has(`${other}:${job.id}`))
      fail('mail-for-terminal-job', job.id, `${job.state}, but an ${other} mail was sent`);
  }

  for (const message of snapshot.deadLetters) {
    if (!message.errorType || !message.errorMessage) {
      fail(
        'dead-letter-reason',
        `${message.queue} ${message.messageId}`,
        'no sidestep.error.type/.message attribute',
      );
    }
  }
  for (const rejected of snapshot.rejected) {
    const found = snapshot.deadLetters.some(
      (message) => message.queue === rejected.queue && message.body === rejected.body,
    );
    if (!found)
      fail('rejected-in-dead-letter', rejected.queue, `not dead-lettered: ${rejected.body.slice(0, 80)}`);
  }
  return violations;
}
