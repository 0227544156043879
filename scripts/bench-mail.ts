/**
 * `node scripts/bench-mail.ts`: mail throughput end to end through the local cloud. A burst of mail
 * jobs (2,000 by default) is sent to the mail queue at once with SendMessageBatch; the clock runs
 * from the first send until the SMTP sink stored the last mail. Afterwards the outbox must hold
 * exactly one mail per job (by the deterministic Message-ID) and the DLQ nothing: the number only
 * counts when exactly once held.
 *
 * Runs on the embedded database (PGlite) and, with TEST_DATABASE_URL, on that PostgreSQL server too.
 * Build the service bundles first (`turbo run build --filter=./services/*`). Options:
 * `--mails <n>` (default 2000), `--label <text>` (names the run in the output),
 * `--write` (adds the run to bench/mail-throughput.json and renders bench/MAIL-THROUGHPUT.md),
 * `--render` (renders bench/MAIL-THROUGHPUT.md from the JSON without measuring).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { GetQueueAttributesCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { synthStack } from '@sidestep/infra';
import { processStatFields } from '@sidestep/lambda-runtime';
import { createCollectingReporter, startLocalCloud } from '@sidestep/local-cloud';
import pLimit from 'p-limit';
import { loadAverage, machine, round } from './src/bench/measure.ts';
import { LOCAL_SERVICES } from './src/services.ts';

const rootDir = join(import.meta.dirname, '..');
const resultsFile = join(rootDir, 'bench', 'mail-throughput.json');
const reportFile = join(rootDir, 'bench', 'MAIL-THROUGHPUT.md');
const TARGET_MAILS_PER_SECOND = 200;

/** One measured burst. */
interface MailRun {
  readonly label: string;
  readonly at: string;
  readonly database: 'PGlite' | 'PostgreSQL';
  readonly mails: number;
  readonly seconds: number;
  readonly mailsPerSecond: number;
  readonly invocations: number;
  readonly meanBatchSize: number;
  /** Mean time of an invocation as the Runtime API saw it (the function's own time); not in the first baseline. */
  readonly meanInvocationMs?: number;
  /**
   * CPU time (user + system) per mail of the local cloud's process and the sandboxes, in ms: what a
   * shared machine's load affects far less than the wall time. Not the PostgreSQL server's (PGlite
   * runs inside the local cloud's process). Not in the runs before 2026-12-03 15:50.
   */
  readonly cpuMsPerMail?: number;
  readonly loadBefore: number;
  readonly loadAfter: number;
  readonly exactlyOnce: boolean;
  readonly machine: Record<string, string | number>;
}

function mailJob(run: string, index: number) {
  return {
    type: 'mail.send',
    version: 1,
    id: `${run}-${index}`,
    payload: {
      template: 'import.completed',
      to: `bench-${index}@example.com`,
      params: { jobId: `imp_${run}_${index}`, fileName: 'users.csv', rows: index },
    },
  };
}

async function burst(
  label: string,
  database: MailRun['database'],
  mails: number,
  databaseUrl: string | undefined,
): Promise<MailRun> {
  const stateDir = mkdtempSync(join(tmpdir(), 'bench-mail-'));
  const collecting = createCollectingReporter();
  const services = LOCAL_SERVICES.filter((service) => service.manifest.name === 'mail-dispatcher');
  const trigger = services[0]?.manifest.queue;
  if (!trigger) throw new Error('the mail-dispatcher has no queue trigger');
  const warmMails = trigger.batchSize * trigger.maximumConcurrency;
  const cloud = await startLocalCloud({
    rootDir,
    stateDir,
    port: 0,
    smtpPort: 0,
    databasePort: 0,
    reporter: collecting.reporter,
    services,
    stack: JSON.parse(synthStack()),
    ...(databaseUrl ? { databaseUrl } : {}),
  });
  const sqs = new SQSClient({
    endpoint: cloud.endpoint,
    region: cloud.region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    // Warm every sandbox (and its database pool) outside the clock: a full batch for each poller of
    // the mapping, so each runs an invocation at the same time and the function host starts its
    // every sandbox now rather than on the clock.
    const run = `${Date.now().toString(36)}`;
    const warm = await sendAll(sqs, cloud.queueUrl('mail'), `${run}w`, warmMails);
    await waitForMails(collecting, warm, 60_000);
    const firstEvent = collecting.events.length;

    const loadBefore = loadAverage();
    const cpuBefore = cpuMs();
    const started = performance.now();
    const sent = await sendAll(sqs, cloud.queueUrl('mail'), run, mails);
    await waitForMails(collecting, sent, 600_000);
    const seconds = (performance.now() - started) / 1000;
    const cpuPerMail = (cpuMs() - cpuBefore) / mails;
    const loadAfter = loadAverage();

    // Exactly once: one stored mail per job, nothing dead-lettered.
    const ids = readdirSync(cloud.outboxDir)
      .filter((file) => file.endsWith('.eml'))
      .map((file) => /^Message-ID: (.*)$/im.exec(readFileSync(join(cloud.outboxDir, file), 'utf8'))?.[1]);
    const distinct = new Set(ids);
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: cloud.queueUrl('sidestep-local-mail-dlq'),
        AttributeNames: ['ApproximateNumberOfMessages'],
      }),
    );
    const exactlyOnce =
      ids.length === mails + warmMails &&
      distinct.size === ids.length &&
      Attributes?.ApproximateNumberOfMessages === '0';
    const invocations = collecting.events.slice(firstEvent).filter((event) => event.type === 'invocation');
    const records = invocations.reduce(
      (sum, event) => sum + (event.type === 'invocation' ? event.batchSize : 0),
      0,
    );
    const invocationMs = invocations.reduce(
      (sum, event) => sum + (event.type === 'invocation' ? event.durationMs : 0),
      0,
    );
    return {
      label,
      at: new Date().toISOString(),
      database,
      mails,
      seconds: round(seconds),
      mailsPerSecond: round(mails / seconds),
      invocations: invocations.length,
      meanBatchSize: round(records / Math.max(1, invocations.length)),
      meanInvocationMs: round(invocationMs / Math.max(1, invocations.length)),
      cpuMsPerMail: round(cpuPerMail),
      loadBefore,
      loadAfter,
      exactlyOnce,
      machine: machine(),
    };
  } finally {
    sqs.destroy();
    await cloud.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

/** Clock ticks per second of /proc's CPU times (USER_HZ: 100 on Linux). */
const USER_HZ = 100;

/**
 * CPU time (user + system, ms) used so far by this process and its live child processes (the
 * sandboxes), from /proc: Linux only, as the bench machine is. A child that exited is not counted,
 * so the sandboxes must live through the measurement (they do: warm ones are kept).
 */
function cpuMs(): number {
  const own = process.cpuUsage();
  let children = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    // state, ppid, ... utime (14th field of the line), stime (15th); undefined: exited meanwhile.
    const fields = processStatFields(entry);
    if (fields === undefined || Number(fields[1]) !== process.pid) continue;
    children += ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ;
  }
  return (own.user + own.system) / 1000 + children;
}

/** Sends `count` mail jobs in batches of 10 (20 requests in flight); returns the recipients. */
async function sendAll(sqs: SQSClient, queueUrl: string, run: string, count: number): Promise<Set<string>> {
  const limit = pLimit(20);
  const jobs = Array.from({ length: count }, (_, index) => mailJob(run, index));
  const requests = [];
  for (let start = 0; start < jobs.length; start += 10) {
    const chunk = jobs.slice(start, start + 10);
    requests.push(
      limit(async () => {
        const output = await sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: chunk.map((job, index) => ({ Id: String(index), MessageBody: JSON.stringify(job) })),
          }),
        );
        if (output.Failed?.length)
          throw new Error(`SendMessageBatch failed: ${JSON.stringify(output.Failed)}`);
      }),
    );
  }
  await Promise.all(requests);
  return new Set(jobs.map((job) => job.payload.to));
}

async function waitForMails(
  collecting: ReturnType<typeof createCollectingReporter>,
  recipients: Set<string>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const seen = new Set<string>();
  let read = 0;
  while (seen.size < recipients.size) {
    for (; read < collecting.events.length; read++) {
      const event = collecting.events[read];
      if (event?.type === 'mail-delivered') for (const to of event.to) if (recipients.has(to)) seen.add(to);
    }
    if (seen.size >= recipients.size) break;
    if (Date.now() > deadline)
      throw new Error(`only ${seen.size} of ${recipients.size} mails arrived in time`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function render(runs: readonly MailRun[]): string {
  const rows = runs.map(
    (run) =>
      `| ${run.at.slice(0, 16).replace('T', ' ')} | ${run.label} | ${run.database} | ${run.mails} | ${run.seconds} s | **${run.mailsPerSecond}** (${run.mailsPerSecond >= TARGET_MAILS_PER_SECOND ? 'meets' : 'MISSES'} target) | ${run.invocations} / ${run.meanBatchSize} / ${run.meanInvocationMs === undefined ? 'not measured' : `${run.meanInvocationMs} ms`} | ${run.cpuMsPerMail === undefined ? 'not measured' : `${run.cpuMsPerMail} ms`} | ${run.exactlyOnce ? 'yes' : 'NO'} | ${run.loadBefore} → ${run.loadAfter} |`,
  );
  const first = runs[0]?.machine;
  return [
    '# Mail throughput',
    '',
    `Measured by \`node scripts/bench-mail.ts --write\`${
      first
        ? ` on ${Object.entries(first)
            .map(([key, value]) => `${key}: ${value}`)
            .join(', ')}`
        : ''
    }.`,
    `A burst of mail jobs is sent to the local cloud's mail queue at once (SendMessageBatch, 20 requests in flight); the time runs from the first send until the SMTP sink stored the last mail, through the real mail-dispatcher bundle (its event source mapping, Lambda Runtime API sandboxes, idempotency store, SMTP). Every sandbox is warmed first: a full batch for each of the mapping's pollers, so that all sandboxes start before the clock (runs before 2026-12-03 15:45 warmed with 10 mails, i.e. one sandbox, and started the others on the clock). Exactly once is checked after each run: one stored mail per job by its deterministic Message-ID, nothing in the DLQ. Target: >= ${TARGET_MAILS_PER_SECOND} mails/s. The machine is shared (2 cores): the load average is recorded before and after each run, and so is the CPU time per mail of the local cloud's process (with PGlite in it) and the sandboxes, which the load affects much less than the wall time (not the PostgreSQL server's CPU).`,
    '',
    '| when (UTC) | code | database | mails | time | mails/s | invocations / mean batch / mean invocation | CPU per mail | exactly once | load average |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}

const { values } = parseArgs({
  options: {
    mails: { type: 'string', default: '2000' },
    label: { type: 'string', default: 'current' },
    write: { type: 'boolean', default: false },
    render: { type: 'boolean', default: false },
  },
});
const previous: MailRun[] = (() => {
  try {
    return JSON.parse(readFileSync(resultsFile, 'utf8')) as MailRun[];
  } catch {
    return [];
  }
})();
if (values.render) {
  writeFileSync(reportFile, render(previous));
} else {
  const mails = Number(values.mails);
  const runs = [await burst(values.label, 'PGlite', mails, undefined)];
  console.log(JSON.stringify(runs.at(-1)));
  if (process.env.TEST_DATABASE_URL) {
    runs.push(await burst(values.label, 'PostgreSQL', mails, process.env.TEST_DATABASE_URL));
    console.log(JSON.stringify(runs.at(-1)));
  }
  if (values.write) {
    const all = [...previous, ...runs];
    writeFileSync(resultsFile, `${JSON.stringify(all, null, 2)}\n`);
    writeFileSync(reportFile, render(all));
  }
}
