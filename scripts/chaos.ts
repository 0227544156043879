// `pnpm chaos`: the whole fault-injection suite against the local cloud (bundles built first by the
// root script). Every target gets --points seeded fault points, on embedded PGlite and, when
// TEST_DATABASE_URL or DATABASE_URL names one, on that PostgreSQL server too (in a schema of the run's
// own, dropped at its end). The seed is printed:
// `pnpm chaos --seed <n>` (or CHAOS_SEED=<n>) repeats the same points. Exits 1 when an invariant broke.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPostgresSchema } from '@sidestep/db';
import { createVirtualClock } from '@sidestep/local-cloud';
import { Command, InvalidArgumentError } from 'commander';
import { ChaosEvents } from './src/chaos/chaos-events.ts';
import {
  type ChaosReport,
  type ChaosTarget,
  concurrentImports,
  formatReport,
  replay,
  runChaosTarget,
  serviceKill,
  uploadRace,
  workerKill,
} from './src/chaos/chaos-run.ts';
import { runCloudKill } from './src/chaos/cloud-kill.ts';
import { chaosSeed, InvalidSeedError } from './src/chaos/seeded-random.ts';
import { LOCAL_CLOUD } from './src/services.ts';
import { startPathCloud } from './tests/start-path-cloud.ts';

const rootDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const TARGETS = ['worker-kill', 'service-kill', 'cloud-kill', 'upload-race', 'concurrent-imports', 'replay'];

function positive(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError('must be a positive integer');
  return parsed;
}

function targetList(value: string): string[] {
  const names = value.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !TARGETS.includes(name));
  if (unknown.length > 0)
    throw new InvalidArgumentError(`unknown ${unknown.join(', ')}; one of ${TARGETS.join(', ')}`);
  return names;
}

function serviceList(value: string): ('mail-dispatcher' | 'status-updater')[] {
  const names = value.split(',').map((name) => name.trim());
  const known = ['mail-dispatcher', 'status-updater'] as const;
  const found = names.flatMap((name) => known.filter((service) => service === name));
  if (found.length !== names.length) throw new InvalidArgumentError(`one or more of ${known.join(', ')}`);
  return found;
}

const options = new Command('chaos')
  .description(
    'Kill the batch-worker, services and the whole local cloud at seeded points, race and replay requests, then check the invariants',
  )
  .option('--seed <n>', 'repeat a run (default: $CHAOS_SEED, else a fresh seed, printed)')
  .option('--points <n>', 'fault points per target', positive, 20)
  .option('--rows <n>', 'rows per imported file', positive, 5_000)
  .option('--targets <list>', `comma-separated, of ${TARGETS.join(', ')}`, targetList, TARGETS)
  .option('--services <list>', 'the services service-kill kills (comma-separated)', serviceList, [
    'mail-dispatcher',
    'status-updater',
  ] as const)
  .option('--postgres-only', 'skip the embedded PGlite run (needs TEST_DATABASE_URL or DATABASE_URL)')
  .option(
    '--settle <seconds>',
    'how long a run may take to get quiet before the check (a mail whose sandbox was killed comes back after the 180 s visibility timeout)',
    positive,
    240,
  )
  .parse()
  .opts<{
    seed?: string;
    points: number;
    rows: number;
    targets: string[];
    services: readonly ('mail-dispatcher' | 'status-updater')[];
    settle: number;
    postgresOnly?: boolean;
  }>();

let seed: number;
try {
  seed = chaosSeed(options.seed, process.env);
} catch (error) {
  if (!(error instanceof InvalidSeedError)) throw error;
  console.error(error.message);
  process.exit(2);
}
const postgres = process.env.TEST_DATABASE_URL || process.env.DATABASE_URL || undefined;
if (options.postgresOnly && !postgres) {
  console.error('--postgres-only: set TEST_DATABASE_URL or DATABASE_URL to a PostgreSQL server');
  process.exit(2);
}
const databases: { readonly name: string; readonly url: string | undefined }[] = [
  ...(options.postgresOnly ? [] : [{ name: 'PGlite', url: undefined }]),
  ...(postgres ? [{ name: 'PostgreSQL', url: postgres }] : []),
];
console.log(
  `chaos: seed ${seed} (repeat with --seed ${seed}), ${options.points} points per target, on ${databases.map((db) => db.name).join(' and ')}`,
);

const points = options.points;
const rows = options.rows;
const inCloud: Record<string, () => ChaosTarget> = {
  'worker-kill': () => workerKill({ points, rows }),
  'service-kill': () => serviceKill({ points, rows: 100, services: options.services }),
  'upload-race': () => uploadRace({ points, rows: 100 }),
  'concurrent-imports': () => concurrentImports({ count: Math.max(points, 20), rows: 500 }),
  replay: () => replay({ points, rows: 100 }),
};

const reports: ChaosReport[] = [];
const show = (database: string, report: ChaosReport) => {
  reports.push(report);
  console.log(`[${database}] ${formatReport(report)}`);
};
for (const database of databases) {
  const wanted = options.targets.filter((target) => target in inCloud);
  if (wanted.length > 0) {
    const events = new ChaosEvents();
    const schedules = { ...LOCAL_CLOUD.schedules, clock: createVirtualClock(new Date()) };
    const path = await startPathCloud(
      'chaos',
      { ...LOCAL_CLOUD, schedules, ...(database.url ? { databaseUrl: database.url } : {}) },
      events.reporter,
    );
    try {
      for (const name of wanted) {
        const target = inCloud[name]?.();
        if (!target) continue;
        const report = await runChaosTarget(
          {
            endpoint: path.cloud.endpoint,
            databaseUrl: path.cloud.databaseUrl ?? '',
            outboxDir: path.cloud.outboxDir,
            s3: path.s3,
            sqs: path.sqs,
            pid: process.pid,
            events,
            queueUrl: (queue) => path.cloud.queueUrl(queue),
          },
          target,
          seed,
          { settleMs: options.settle * 1000 },
        );
        show(database.name, report);
      }
    } finally {
      await path.stop();
    }
  }
  if (options.targets.includes('cloud-kill')) {
    // The restarted clouds share one schema of the run's own on a server (the in-cloud targets' is
    // startPathCloud's): the run's rows go with it.
    const schema = database.url ? await createPostgresSchema(database.url, 'chaos') : undefined;
    try {
      show(
        database.name,
        await runCloudKill({
          rootDir,
          seed,
          points,
          rows,
          databaseUrl: schema?.url,
          settleMs: options.settle * 1000,
          log: (line) => console.log(line),
        }),
      );
    } finally {
      await schema?.drop();
    }
  }
}

const broken = reports.reduce((sum, report) => sum + report.findings.length, 0);
console.log(
  broken === 0
    ? `chaos: every invariant held (seed ${seed})`
    : `chaos: ${broken} violations (seed ${seed}); re-run with --seed ${seed}`,
);
process.exit(broken === 0 ? 0 : 1);
