import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DescribeExecutionCommand } from '@aws-sdk/client-sfn';
import { type Database, openDatabase } from '@sidestep/db';
import { listDeadLetters, listExecutions, type OpsContext, QUEUES, queueStatuses } from '@sidestep/ops';
import type {
  AcceptedUpload,
  ChaosSnapshot,
  DeadLetteredMessage,
  RejectedMessage,
  SentMail,
} from './chaos-invariants.ts';

/** What a run did that the snapshot is read against. */
export interface ChaosRecord {
  /** Every key the run uploaded starts with it (`imports/chaos-<run>/`). */
  readonly keyPrefix: string;
  /** Every external id the run's files hold starts with it. */
  readonly rowPrefix: string;
  readonly uploads: readonly AcceptedUpload[];
  readonly rejected: readonly RejectedMessage[];
}

/** The template and job id headers the mail-dispatcher sets on each mail, from the outbox's .eml files. */
export async function sentMails(outboxDir: string): Promise<SentMail[]> {
  const files = (await readdir(outboxDir).catch(() => [])).filter((file) => file.endsWith('.eml'));
  const mails = await Promise.all(
    files.map(async (file) => {
      const source = await readFile(join(outboxDir, file), 'utf8');
      const headers = source.slice(0, source.search(/\r?\n\r?\n/));
      const template = /^X-Sidestep-Template: *(.+?)\r?$/im.exec(headers)?.[1];
      const jobId = /^X-Sidestep-Job-Id: *(.+?)\r?$/im.exec(headers)?.[1];
      return template && jobId ? [{ template, jobId, file }] : [];
    }),
  );
  return mails.flat();
}

/**
 * Reads what the invariants check: the run's import jobs and their rows from the ledger, the DLQs and
 * executions through @sidestep/ops, the mails from the outbox.
 */
export async function readChaosSnapshot(
  context: OpsContext,
  cloud: { readonly outboxDir: string; readonly databaseUrl: string },
  record: ChaosRecord,
): Promise<ChaosSnapshot> {
  // The ledger's source keys and the users table are not in the ops ledger's answers: read directly.
  const db = await openDatabase({ url: cloud.databaseUrl, max: 1 });
  try {
    return await snapshotOf(context, db, cloud.outboxDir, record);
  } finally {
    await db.close();
  }
}

async function snapshotOf(
  context: OpsContext,
  db: Database,
  outboxDir: string,
  record: ChaosRecord,
): Promise<ChaosSnapshot> {
  const jobs = await db.query<{
    id: string;
    state: string;
    source_key: string | null;
    source_version: string | null;
    rows_imported: string | null;
    rows_rejected: string | null;
    kept: string;
    execution_id: string | null;
  }>(
    `SELECT id, state, source_key, source_version, rows_imported, rows_rejected, execution_id,
            (SELECT count(*) FROM import_rejected_rows AS kept WHERE kept.job_id = jobs.id)::text AS kept
     FROM jobs WHERE kind = 'import' AND starts_with(source_key, $1)`,
    [record.keyPrefix],
  );
  const rows = await db.query<{ prefix: string; count: string }>(
    `SELECT split_part(external_id, '-', 1) AS prefix, count(*)::text AS count FROM users
     WHERE starts_with(external_id, $1) GROUP BY 1`,
    [record.rowPrefix],
  );
  const deadLetters: DeadLetteredMessage[] = (
    await Promise.all(
      QUEUES.map(async (queue) =>
        (
          await listDeadLetters(context, queue, { limit: 1000 })
        ).map((message) => ({
          queue,
          messageId: message.messageId,
          errorType: message.errorType,
          errorMessage: message.errorMessage,
          body: message.body,
        })),
      ),
    )
  ).flat();
  const executions = await listExecutions(context, 'import', { limit: 1000 });
  return {
    uploads: record.uploads,
    jobs: await Promise.all(
      jobs.rows.map(async (row) => ({
        id: row.id,
        state: row.state,
        sourceKey: row.source_key,
        sourceVersion: await registeredEtag(context, row.execution_id),
        rowsImported: row.rows_imported === null ? null : Number(row.rows_imported),
        rowsRejected: row.rows_rejected === null ? null : Number(row.rows_rejected),
        rejectedRowsKept: Number(row.kept),
        executionId: row.execution_id,
      })),
    ),
    rowsByPrefix: Object.fromEntries(rows.rows.map((row) => [row.prefix, Number(row.count)])),
    mails: await sentMails(outboxDir),
    deadLetters,
    rejected: record.rejected,
    executions: Object.fromEntries(executions.map((execution) => [execution.executionArn, execution.status])),
  };
}

/**
 * The ETag of the object the job's execution was started for. The ledger identifies an upload by its
 * S3 event (version id, else the event's sequencer), which the run cannot know; the execution's input
 * (the S3 "Object Created" event) carries the ETag S3 answered the run's PutObject with.
 */
async function registeredEtag(context: OpsContext, executionArn: string | null): Promise<string | null> {
  if (!executionArn) return null;
  const { input } = await context.clients.sfn.send(new DescribeExecutionCommand({ executionArn }));
  return /"etag"\s*:\s*"(?:\\")?([^"\\]+)/i.exec(input ?? '')?.[1] ?? null;
}

/**
 * Waits until the cloud is quiet: no import execution RUNNING and every queue empty (nothing visible,
 * in flight or delayed), twice in a row a second apart, or `timeoutMs` passed. Returns whether it got
 * quiet; the invariants are checked either way (a job still running then is a finding).
 */
export async function settle(context: OpsContext, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let quietChecks = 0;
  let busyWith = '';
  while (Date.now() < deadline) {
    const [running, queues] = await Promise.all([
      listExecutions(context, 'import', { status: 'RUNNING', limit: 1 }),
      queueStatuses(context),
    ]);
    const busy =
      running.length > 0 || queues.some((queue) => queue.visible + queue.inFlight + queue.delayed > 0);
    quietChecks = busy ? 0 : quietChecks + 1;
    if (quietChecks >= 2) return true;
    busyWith = [
      ...(running.length > 0 ? ['an import execution RUNNING'] : []),
      ...queues
        .filter((queue) => queue.visible + queue.inFlight + queue.delayed > 0)
        .map(
          (queue) =>
            `${queue.queue}: ${queue.visible} visible, ${queue.inFlight} in flight, ${queue.delayed} delayed`,
        ),
    ].join('; ');
    await sleep(1_000);
  }
  process.stderr.write(`chaos: not settled after ${timeoutMs} ms, still busy: ${busyWith}\n`);
  return false;
}
