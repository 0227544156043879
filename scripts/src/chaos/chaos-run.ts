import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import {
  createOpsContext,
  describeExecution,
  listDeadLetters,
  listExecutions,
  type OpsContext,
  redriveDeadLetters,
  releaseMail,
  startExecution,
} from '@sidestep/ops';
import type { ChaosEvents } from './chaos-events.ts';
import {
  type AcceptedUpload,
  checkInvariants,
  type RejectedMessage,
  type Violation,
} from './chaos-invariants.ts';
import { readChaosSnapshot, sentMails, settle } from './chaos-snapshot.ts';
import { cloudProcesses, signalProcesses } from './cloud-processes.ts';
import { SeededRandom } from './seeded-random.ts';

/** The bucket S3 "Object Created" events of which start the import workflow. */
export const IMPORTS_BUCKET = 'sidestep-local-imports';

/** A running local cloud the targets inject faults into. */
export interface ChaosCloud {
  readonly endpoint: string;
  readonly databaseUrl: string;
  readonly outboxDir: string;
  readonly s3: S3Client;
  readonly sqs: SQSClient;
  /** The process whose descendants are the cloud's sandboxes and task containers. */
  readonly pid: number;
  /** The cloud's events (in-process clouds only). */
  readonly events?: ChaosEvents;
  /** The URL of queue `name` (`mail`). */
  queueUrl(name: string): string;
}

/** One fault the run injected: what, where, and the keys of the uploads it hit. */
export interface ChaosPoint {
  readonly target: string;
  readonly index: number;
  readonly description: string;
  readonly keys: string[];
  /** How each execution for its keys ended (`FAILED States.TaskFailed: ...`), filled in by the check. */
  outcomes?: string[];
}

/** A broken invariant, with the point that (most likely) broke it. */
export interface ChaosFinding extends Violation {
  readonly point: string | undefined;
}

/** What one target's run found. */
export interface ChaosReport {
  readonly target: string;
  readonly seed: number;
  readonly points: readonly ChaosPoint[];
  /** Whether the cloud got quiet (no execution running, queues empty) before the check. */
  readonly settled: boolean;
  readonly findings: readonly ChaosFinding[];
  /** The dead letters at the check, counted by `<queue> <sidestep.error.type>`. */
  readonly deadLetters: Readonly<Record<string, number>>;
  readonly durationMs: number;
}

/** What a target does, point by point; the run settles and checks the invariants after it. */
export interface ChaosTarget {
  readonly name: string;
  run(cloud: ChaosCloud, run: ChaosRecorder, random: SeededRandom): Promise<void>;
}

/** The uploads, rejected messages and points of one run, for the snapshot and the report. */
export class ChaosRecorder {
  readonly target: string;
  /** Unique per run (not from the seed), so runs against the same PostgreSQL never share keys or rows. */
  readonly tag = randomBytes(4).toString('hex');
  readonly keyPrefix: string;
  readonly rowPrefix: string;
  readonly uploads: AcceptedUpload[] = [];
  readonly rejected: RejectedMessage[] = [];
  readonly points: ChaosPoint[] = [];
  /** Files made so far: numbers each file's row prefix and key before its upload starts. */
  #files = 0;
  readonly context: () => OpsContext;

  constructor(target: string, context: () => OpsContext) {
    this.target = target;
    this.keyPrefix = `imports/chaos-${target}-${this.tag}/`;
    this.rowPrefix = `c${this.tag}`;
    this.context = context;
  }

  /** Records point `index` and returns it, to add keys to. */
  point(description: string): ChaosPoint {
    const point: ChaosPoint = { target: this.target, index: this.points.length, description, keys: [] };
    this.points.push(point);
    return point;
  }

  /**
   * Uploads a users CSV of `rows` rows (a bad header when `valid` is false) to `key` (a fresh one by
   * default) and records it as accepted once S3 answers. Every {@link REJECTED_EVERY}th row has an
   * email the import must reject, so every import also leaves rows out and lists them.
   */
  async upload(
    cloud: ChaosCloud,
    point: ChaosPoint,
    rows: number,
    { valid = true, key }: { readonly valid?: boolean; readonly key?: string } = {},
  ): Promise<AcceptedUpload> {
    const file = this.#files++;
    const prefix = `${this.rowPrefix}x${file}`;
    const lines = [valid ? 'external_id,email,name' : 'id,mail,name'];
    let rejected = 0;
    for (let i = 1; i <= rows; i++) {
      const bad = i % REJECTED_EVERY === 0;
      if (bad) rejected++;
      lines.push(`${prefix}-${i},${bad ? `not-an-address-${i}` : `${prefix}.${i}@example.com`},User ${i}`);
    }
    const body = `${lines.join('\n')}\n`;
    const uploadKey = key ?? `${this.keyPrefix}p${point.index}-${file}.csv`;
    const answer = await cloud.s3.send(
      new PutObjectCommand({ Bucket: IMPORTS_BUCKET, Key: uploadKey, Body: body, ContentType: 'text/csv' }),
    );
    const etag = (answer.ETag ?? createHash('md5').update(body).digest('hex')).replace(/^"|"$/g, '');
    const upload = { key: uploadKey, etag, prefix, rows, rejected, valid };
    this.uploads.push(upload);
    if (!point.keys.includes(uploadKey)) point.keys.push(uploadKey);
    return upload;
  }
}

/**
 * One row in this many of a valid upload is rejected (a bad email): 51 of a 5,000-row file, under the
 * batch-worker's default `MAX_REJECTED_ROWS` (1000) at every size the suite runs.
 */
const REJECTED_EVERY = 97;

/** Polls `find` every 10 ms until it returns something or `timeoutMs` passed. */
async function poll<T>(find: () => T | undefined, timeoutMs: number): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = find();
    if (found !== undefined || Date.now() > deadline) return found;
    await sleep(10);
  }
}

/** Waits until no import execution is RUNNING (the point's work ended, one way or another). */
export async function executionsEnded(context: OpsContext, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await listExecutions(context, 'import', { status: 'RUNNING', limit: 1 })).length === 0) return true;
    await sleep(200);
  }
  return false;
}

/** The batch-worker's task container: killed with SIGKILL or SIGTERM as its import starts, during it, or right after its commit. */
export function workerKill(options: {
  readonly points: number;
  readonly rows: number;
  readonly phases?: readonly ('start' | 'during' | 'after-commit')[];
  /** The latest a `during` kill comes after the task started. @default 1500 */
  readonly duringMaxMs?: number;
}): ChaosTarget {
  const phases = options.phases ?? ['start', 'during', 'after-commit'];
  return {
    name: 'worker-kill',
    async run(cloud, run, random) {
      for (let index = 0; index < options.points; index++) {
        const phase = random.pick(phases);
        const signal = random.pick(['SIGKILL', 'SIGKILL', 'SIGTERM'] as const);
        const delayMs =
          phase === 'start'
            ? random.int(0, 50)
            : phase === 'during'
              ? random.int(50, options.duringMaxMs ?? 1_500)
              : 0;
        const point = run.point(`${signal} ${phase}${phase === 'after-commit' ? '' : ` +${delayMs} ms`}`);
        const finished = cloud.events?.next(
          'log',
          (event) => event.service === 'batch-worker' && event.line.includes('import finished'),
          60_000,
        );
        await run.upload(cloud, point, options.rows);
        const task = await poll(() => {
          const found = cloudProcesses(cloud.pid).filter((process) => process.fargateTask);
          return found.length > 0 ? found : undefined;
        }, 30_000);
        if (task) {
          if (phase === 'after-commit') await finished;
          else await sleep(delayMs);
          const hit = signalProcesses(task, signal);
          if (hit.length === 0)
            run.points[index] = { ...point, description: `${point.description} (task had exited)` };
        } else {
          run.points[index] = { ...point, description: `${point.description} (no task started)` };
        }
        await executionsEnded(run.context(), 60_000);
      }
    },
  };
}

/** The steps of the import workflow that invoke the status-updater. */
const STATUS_STEPS = ['RegisterJob', 'StartJob', 'FinishJob'] as const;

/**
 * A service's sandbox process, SIGKILLed in the middle of an invocation: the status-updater while a
 * workflow step runs it, or the mail-dispatcher while it holds a mail (each point picks one of `services`).
 */
export function serviceKill(options: {
  readonly points: number;
  readonly rows: number;
  /** @default ['status-updater'] */
  readonly services?: readonly ('mail-dispatcher' | 'status-updater')[];
  /** The status-updater steps to kill it in. @default RegisterJob, StartJob, FinishJob */
  readonly steps?: readonly (typeof STATUS_STEPS)[number][];
  /** The latest a status-updater kill comes after its step started. @default 30 */
  readonly statusDelayMaxMs?: number;
}): ChaosTarget {
  const steps = options.steps ?? STATUS_STEPS;
  const services = options.services ?? ['status-updater'];
  const statusDelayMs = options.statusDelayMaxMs ?? 30;
  return {
    name: 'service-kill',
    async run(cloud, run, random) {
      for (let index = 0; index < options.points; index++) {
        const victim = services.length > 1 ? random.pick(services) : (services[0] ?? 'status-updater');
        const step = random.pick(steps);
        // A status-updater invocation takes tens of milliseconds, sending a mail a few hundred.
        const delayMs = random.int(0, victim === 'status-updater' ? statusDelayMs : 150);
        const point = run.point(
          victim === 'status-updater'
            ? `status-updater killed in ${step} +${delayMs} ms`
            : `mail-dispatcher killed +${delayMs} ms after receiving the mail`,
        );
        const reached =
          victim === 'status-updater'
            ? cloud.events?.next('state-entered', (event) => event.state === step, 60_000)
            : cloud.events?.next('message-received', (event) => event.queue.endsWith('-mail'), 60_000);
        await run.upload(cloud, point, options.rows);
        if (!(await reached)) {
          run.points[index] = { ...point, description: `${point.description} (never reached)` };
        } else {
          await sleep(delayMs);
          signalProcesses(
            cloudProcesses(cloud.pid).filter(
              (process) => process.functionName === `sidestep-local-${victim}`,
            ),
            'SIGKILL',
          );
        }
        await executionsEnded(run.context(), 60_000);
        // The sandboxes that replace the killed ones finish their init before the next point, so a
        // kill hits the point's own invocation (a sandbox dying in init fails whichever invocation
        // waits for it, as on Lambda: that is a finding of its own, not this point's).
        await sleep(1_000);
      }
    },
  };
}

/** Two different files PUT to the same key at once, `points` times (each on its own key). */
export function uploadRace(options: { readonly points: number; readonly rows: number }): ChaosTarget {
  return {
    name: 'upload-race',
    async run(cloud, run, random) {
      for (let index = 0; index < options.points; index++) {
        const gapMs = random.int(0, 30);
        const point = run.point(`two uploads to one key, ${gapMs} ms apart`);
        const key = `${run.keyPrefix}race-${index}.csv`;
        await Promise.all([
          run.upload(cloud, point, options.rows, { key }),
          sleep(gapMs).then(() => run.upload(cloud, point, options.rows + random.int(1, 5), { key })),
        ]);
      }
      await executionsEnded(run.context(), 120_000);
    },
  };
}

/** `count` imports uploaded at once (a few with a bad header, chosen by the seed). */
export function concurrentImports(options: { readonly count: number; readonly rows: number }): ChaosTarget {
  return {
    name: 'concurrent-imports',
    async run(cloud, run, random) {
      const point = run.point(`${options.count} imports at once`);
      await Promise.all(
        Array.from({ length: options.count }, () =>
          run.upload(cloud, point, options.rows, { valid: random.next() > 0.15 }),
        ),
      );
      await executionsEnded(run.context(), 300_000);
    },
  };
}

/**
 * Every request replayed: imports run, then each one's S3 event delivered again (a StartExecution
 * with the same input: the execution's input is the event, as EventBridge's at-least-once delivery
 * would start it twice), and its mail job delivered again (the envelope its execution sent); plus
 * messages the mail-dispatcher must reject, which must land in the DLQ with
 * their reason.
 */
export function replay(options: { readonly points: number; readonly rows: number }): ChaosTarget {
  return {
    name: 'replay',
    async run(cloud, run, random) {
      const context = run.context();
      for (let index = 0; index < options.points; index++) {
        const valid = random.next() > 0.25;
        const point = run.point(`import (${valid ? 'valid' : 'bad header'}) replayed`);
        const upload = await run.upload(cloud, point, options.rows, { valid });
        await executionsEnded(context, 60_000);
        // Replays come after the originals were handled (their mails sent): a copy that races its
        // original finds the key in progress and, as on AWS, waits out the visibility timeout.
        await settle(context, 60_000);
        const executions = await listExecutions(context, 'import', { limit: 1000 });
        let mailsResent = 0;
        for (const summary of executions) {
          const execution = await describeExecution(context, summary.executionArn);
          if (!execution.input?.includes(upload.key)) continue;
          await startExecution(context, 'import', JSON.parse(execution.input));
          for (const step of execution.steps) {
            const mail = (JSON.parse(step.input ?? '{}') as { mail?: { type?: string } }).mail;
            if (mail?.type === 'mail.send' && /^Notify/.test(step.name)) {
              await cloud.sqs.send(
                new SendMessageCommand({
                  QueueUrl: cloud.queueUrl('mail'),
                  MessageBody: JSON.stringify(mail),
                }),
              );
              mailsResent++;
            }
          }
        }
        run.points[index] = {
          ...point,
          description: `${point.description}: its S3 event (StartExecution, same input), ${mailsResent} mail`,
        };
        const rejectedBody = random.pick([
          '{not json',
          JSON.stringify({ type: 'mail.send', version: 1, id: `bad-${index}` }),
        ]);
        await cloud.sqs.send(
          new SendMessageCommand({ QueueUrl: cloud.queueUrl('mail'), MessageBody: rejectedBody }),
        );
        run.rejected.push({ queue: 'mail', body: rejectedBody });
      }
      await executionsEnded(context, 60_000);
    },
  };
}

/**
 * Runs `target` on `cloud` with `random`, waits for the cloud to settle (up to `settleMs`), checks the
 * invariants and maps each violation to the point whose upload it concerns.
 */
export async function runChaosTarget(
  cloud: ChaosCloud,
  target: ChaosTarget,
  seed: number,
  { settleMs = 60_000 }: { readonly settleMs?: number } = {},
): Promise<ChaosReport> {
  const random = new SeededRandom(seed).fork(target.name);
  const started = Date.now();
  let context: OpsContext | undefined;
  const contextOf = () => {
    context ??= createOpsContext({
      endpoint: cloud.endpoint,
      databaseUrl: cloud.databaseUrl,
      env: {},
      warn: () => {},
    });
    return context;
  };
  const run = new ChaosRecorder(target.name, contextOf);
  try {
    await target.run(cloud, run, random);
    return await checkRun(cloud, run, seed, settleMs, started);
  } finally {
    await context?.close();
  }
}

/** Settles, reads the snapshot, checks it and maps findings to points. */
export async function checkRun(
  cloud: Pick<ChaosCloud, 'outboxDir' | 'databaseUrl'>,
  run: ChaosRecorder,
  seed: number,
  settleMs: number,
  started: number,
): Promise<ChaosReport> {
  const context = run.context();
  let settled = await settle(context, settleMs);
  // A mail-dispatcher killed mid-send leaves its mail dead-lettered as DeliveryOutcomeUnknownError:
  // at most once by design, resolved by the operator as the README says. The run does what they do.
  if ((await resolveUncertainMails(context, cloud.outboxDir)) > 0) settled = await settle(context, settleMs);
  const snapshot = await readChaosSnapshot(context, cloud, run);
  const keyOf = new Map(snapshot.jobs.map((job) => [job.id, job.sourceKey]));
  await describeOutcomes(context, run.points);
  const findings = checkInvariants(snapshot).map((violation) => {
    const key = keyOf.get(violation.subject) ?? violation.subject.split(' ')[0];
    const point = run.points.find((candidate) => candidate.keys.some((k) => k === key));
    return { ...violation, point: point ? `#${point.index} ${point.description}` : undefined };
  });
  return {
    target: run.target,
    seed,
    points: run.points,
    settled,
    findings,
    deadLetters: snapshot.deadLetters.reduce<Record<string, number>>((counts, message) => {
      const key = `${message.queue} ${message.errorType ?? '(no reason)'}`;
      counts[key] = (counts[key] ?? 0) + 1;
      return counts;
    }, {}),
    durationMs: Date.now() - started,
  };
}

/**
 * The operator's procedure for mails whose delivery outcome is unknown (README, "Failure handling"):
 * for each such dead letter, check whether the mail went out (here: the SMTP sink's outbox, the
 * local stand-in for the provider's sending log); if it did not, `mail release` its record; then
 * `dlq redrive` the mail queue so the released ones are sent. A mail that did go out is left in the
 * DLQ (its record stays INPROGRESS), so it is never sent twice.
 *
 * @returns how many records were released and redriven.
 */
export async function resolveUncertainMails(context: OpsContext, outboxDir: string): Promise<number> {
  const uncertain = (await listDeadLetters(context, 'mail', { limit: 1000 })).filter(
    (message) => message.errorType === 'DeliveryOutcomeUnknownError',
  );
  if (uncertain.length === 0) return 0;
  const sent = new Set((await sentMails(outboxDir)).map((mail) => `${mail.template}:${mail.jobId}`));
  let released = 0;
  for (const message of uncertain) {
    const job = JSON.parse(message.body) as {
      id: string;
      payload: { template: string; jobId?: string; idempotencyKey?: string };
    };
    if (job.payload.jobId && sent.has(`${job.payload.template}:${job.payload.jobId}`)) continue;
    // Locally, release searches the outbox first, as `sidestep mail release` does with the state dir.
    await releaseMail(context, job.payload.idempotencyKey ?? job.id, { outboxDir });
    released += 1;
  }
  if (released > 0) await redriveDeadLetters(context, 'mail');
  return released;
}

/** Fills in each point's execution outcomes, from the executions whose input names one of its keys. */
async function describeOutcomes(context: OpsContext, points: readonly ChaosPoint[]): Promise<void> {
  const executions = await listExecutions(context, 'import', { limit: 1000 });
  const described = await Promise.all(
    executions.map((summary) => describeExecution(context, summary.executionArn)),
  );
  for (const point of points) {
    point.outcomes = described
      .filter((execution) => point.keys.some((key) => execution.input?.includes(`"${key}"`)))
      .map((execution) =>
        [execution.status, execution.error, execution.cause?.slice(0, 160)].filter(Boolean).join(' '),
      );
  }
}

/** A report as lines for a person: the target, seed, points and each finding. */
export function formatReport(report: ChaosReport): string {
  const lines = [
    `${report.target}: seed ${report.seed}, ${report.points.length} points, ${(report.durationMs / 1000).toFixed(1)} s${report.settled ? '' : ', DID NOT SETTLE'}: ${report.findings.length === 0 ? 'all invariants hold' : `${report.findings.length} violations`}`,
  ];
  for (const point of report.points) {
    lines.push(
      `  point #${point.index} ${point.description}: ${(point.outcomes ?? []).join('; ') || 'no execution'}`,
    );
  }
  for (const [kind, count] of Object.entries(report.deadLetters))
    lines.push(`  dead letters: ${count} x ${kind}`);
  for (const finding of report.findings) {
    lines.push(
      `  ${finding.invariant}  ${finding.subject}: ${finding.detail}${finding.point ? `  [point ${finding.point}]` : ''}`,
    );
  }
  return lines.join('\n');
}
