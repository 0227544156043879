import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import {
  createOpsContext,
  describeExecution,
  listExecutions,
  type OpsContext,
  redriveExecution,
} from '@sidestep/ops';
import { type ChaosCloud, ChaosRecorder, type ChaosReport, checkRun } from './chaos-run.ts';
import { type ChildCloud, startChildCloud } from './child-cloud.ts';
import { SeededRandom } from './seeded-random.ts';

/** What a restart after a crash leaves for the operator: executions the crash cut off, redriven. */
async function redriveCutOff(context: OpsContext): Promise<string[]> {
  const failed = await listExecutions(context, 'import', { status: 'FAILED', limit: 1000 });
  const redriven: string[] = [];
  for (const summary of failed) {
    const execution = await describeExecution(context, summary.executionArn);
    // The README's "What survives a restart": a crash leaves them FAILED with States.Runtime.
    if (execution.error === 'States.Runtime') {
      await redriveExecution(context, summary.executionArn);
      redriven.push(summary.name);
    }
  }
  return redriven;
}

/**
 * The whole local cloud, killed: `node scripts/start.ts` runs as its own process group; at each
 * point one file is uploaded, and after a seeded delay (0-4 s: before the execution starts, while the
 * worker imports, while the mail goes out) the group gets SIGKILL, the cloud is started again from
 * the same state dir and, as the README tells an operator, the executions the crash cut off are
 * redriven. After the last point the cloud settles and the invariants are checked.
 */
export async function runCloudKill(options: {
  readonly rootDir: string;
  readonly seed: number;
  readonly points: number;
  readonly rows: number;
  readonly databaseUrl?: string | undefined;
  readonly settleMs: number;
  readonly log?: (line: string) => void;
}): Promise<ChaosReport> {
  const started = Date.now();
  const random = new SeededRandom(options.seed).fork('cloud-kill');
  const stateDir = await mkdtemp(join(tmpdir(), 'sidestep-chaos-cloud-'));
  let child: ChildCloud | undefined;
  let context: OpsContext | undefined;
  let clients: { s3: S3Client; sqs: SQSClient } | undefined;
  const run = new ChaosRecorder('cloud-kill', () => {
    if (!context) throw new Error('no cloud running');
    return context;
  });
  const restart = async (): Promise<ChaosCloud> => {
    await context?.close();
    for (const client of Object.values(clients ?? {})) client.destroy();
    child = await startChildCloud({ rootDir: options.rootDir, stateDir, databaseUrl: options.databaseUrl });
    const config = {
      endpoint: child.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    };
    clients = { s3: new S3Client({ ...config, forcePathStyle: true }), sqs: new SQSClient(config) };
    context = createOpsContext({
      endpoint: child.endpoint,
      databaseUrl: child.databaseUrl,
      env: {},
      warn: () => {},
    });
    const redriven = await redriveCutOff(context);
    if (redriven.length > 0) options.log?.(`  restarted, redrove ${redriven.join(', ')}`);
    const endpoint = child.endpoint;
    return {
      endpoint,
      databaseUrl: child.databaseUrl,
      outboxDir: child.outboxDir,
      s3: clients.s3,
      sqs: clients.sqs,
      pid: child.pid,
      queueUrl: (name) => `${endpoint}/000000000000/sidestep-local-${name}`,
    };
  };
  try {
    let cloud = await restart();
    for (let index = 0; index < options.points; index++) {
      const delayMs = random.int(0, 4_000);
      const point = run.point(`SIGKILL the local cloud ${delayMs} ms after an upload`);
      await run.upload(cloud, point, options.rows);
      await sleep(delayMs);
      await child?.crash();
      cloud = await restart();
    }
    return await checkRun(cloud, run, options.seed, options.settleMs, started);
  } finally {
    await context?.close();
    for (const client of Object.values(clients ?? {})) client.destroy();
    await child?.stop();
    await rm(stateDir, { recursive: true, force: true });
  }
}
