// `npm run new-service -- <name> [--queue <queue> --job-type <type>]`: a new service, registered,
// ready to build and test (README, "Services"). `--help` for the options.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { NewServiceError, newService, REFERENCE_SERVICE } from './src/new-service/new-service.ts';

const program = new Command('new-service')
  .description(
    `a new service under services/<name>, registered: with --queue and --job-type a queue consumer, without them a task function (a workflow step's or a schedule's); its Dockerfile and settings copied from ${REFERENCE_SERVICE}`,
  )
  .argument('<name>', 'kebab-case: its folder, package @sidestep/<name> and function sidestep-<env>-<name>')
  .option('--queue <queue>', 'the queue it consumes, kebab-case (sidestep-<env>-<queue>)')
  .option(
    '--job-type <type>',
    "its queue's job type (webhook.notify): a new contract unless the contracts have it",
  )
  .option('--root <dir>', 'the repository', join(import.meta.dirname, '..'))
  .exitOverride();

try {
  program.parse();
  const [name = ''] = program.args;
  const options = program.opts<{ queue?: string; jobType?: string; root: string }>();
  const result = await newService({
    rootDir: options.root,
    name,
    ...(options.queue === undefined ? {} : { queue: options.queue }),
    ...(options.jobType === undefined ? {} : { jobType: options.jobType }),
  });
  // As the house formats them (biome's imports in order, its line widths): the templates stay readable.
  const files = [...result.created, ...result.modified].filter((file) => /\.(ts|json)$/.test(file));
  const formatted = spawnSync(
    join(import.meta.dirname, '..', 'node_modules', '.bin', 'biome'),
    ['check', '--write', ...files],
    { cwd: options.root, stdio: 'ignore' },
  );
  if (formatted.status !== 0) {
    process.stderr.write(
      `new-service: biome could not format the files (exit ${formatted.status}): run npm run format\n`,
    );
  }
  const lines = [
    `created ${result.created.length} files:`,
    ...result.created.map((file) => `  ${file}`),
    'changed:',
    ...result.modified.map((file) => `  ${file}`),
    '',
    'next:',
    '  npx pnpm install                          # links the new package',
    `  npx pnpm --filter @sidestep/${name} build`,
    ...(result.newJobType
      ? ['  npx pnpm --filter @sidestep/contracts build   # its JSON Schema in schemas/, committed']
      : []),
    `  npx pnpm --filter @sidestep/${name} test`,
    `  git add services/${name}${result.newJobType ? ' packages/contracts' : ''}   # npm run images stages what git knows`,
    '  npm test                                  # the two records a new service updates on purpose say what to change:',
    '                                            # infra/tests/function-environment.test.ts and the README idle-cost table',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
} catch (error) {
  if (error instanceof CommanderError) process.exitCode = error.exitCode;
  else if (error instanceof NewServiceError) {
    process.stderr.write(`new-service: ${error.message}\n`);
    process.exitCode = 1;
  } else throw error;
}
