import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ChaosEvents } from '../src/chaos/chaos-events.ts';
import {
  type ChaosCloud,
  type ChaosTarget,
  concurrentImports,
  formatReport,
  replay,
  runChaosTarget,
  serviceKill,
  uploadRace,
  workerKill,
} from '../src/chaos/chaos-run.ts';
import { chaosSeed } from '../src/chaos/seeded-random.ts';
import { type PathCloud, startWholePathCloud } from './start-path-cloud.ts';

// The fast subset of `pnpm chaos`: a few seeded fault points per target, small files, on the whole
// local cloud (with TEST_DATABASE_URL, on that PostgreSQL server). CHAOS_SEED repeats a run; the
// seed is printed either way. `pnpm chaos` runs every target with 20 points each (see
// scripts/chaos/FINDINGS.md for what it found and what fixed it).
const seed = chaosSeed(undefined, process.env);
const events = new ChaosEvents();
let path: PathCloud;
let cloud: ChaosCloud;

beforeAll(async () => {
  path = await startWholePathCloud('chaos-path', events.reporter);
  const url = path.cloud.databaseUrl;
  if (!url) throw new Error('the chaos suite needs the cloud’s database');
  cloud = {
    endpoint: path.cloud.endpoint,
    databaseUrl: url,
    outboxDir: path.cloud.outboxDir,
    s3: path.s3,
    sqs: path.sqs,
    pid: process.pid,
    events,
    queueUrl: (name) => path.cloud.queueUrl(name),
  };
}, 90_000);

afterAll(async () => {
  await path?.stop();
});

async function expectInvariantsHold(target: ChaosTarget): Promise<void> {
  const report = await runChaosTarget(cloud, target, seed, { settleMs: 30_000 });
  process.stdout.write(`${formatReport(report)}\n`);
  expect(report.findings).toEqual([]);
  expect(report.settled).toBe(true);
}

describe(`the chaos suite, fast subset (CHAOS_SEED=${seed})`, () => {
  it('keeps every invariant when the batch-worker is killed as its import starts, during it or right after its commit', async () => {
    await expectInvariantsHold(
      workerKill({
        points: 3,
        rows: 3_000,
        phases: ['start', 'during', 'after-commit'],
        // Well inside the ~1 s a 3,000-row import takes here.
        duringMaxMs: 400,
      }),
    );
  }, 120_000);

  it('keeps every invariant when a status-updater sandbox is killed while it starts or finishes the job', async () => {
    await expectInvariantsHold(
      serviceKill({
        points: 3,
        rows: 50,
        steps: ['StartJob', 'FinishJob'],
        // StartJob's invocation takes 5-20 ms here: a later kill would miss it.
        statusDelayMaxMs: 8,
      }),
    );
  }, 120_000);

  it('keeps every invariant when two files are uploaded to one key at once', async () => {
    await expectInvariantsHold(uploadRace({ points: 1, rows: 50 }));
  }, 120_000);

  it('keeps every invariant with imports started at once', async () => {
    await expectInvariantsHold(concurrentImports({ count: 4, rows: 100 }));
  }, 120_000);

  it('keeps every invariant when every request is replayed', async () => {
    await expectInvariantsHold(replay({ points: 2, rows: 50 }));
  }, 120_000);
});
