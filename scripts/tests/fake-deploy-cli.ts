// Stand-ins for the CLIs the deploy job calls (`terraform`, `aws`, `node`, `pnpm`, `docker`), for
// github-workflows.test.ts: each call is appended to $FAKE_DIR/calls.jsonl, and the fakes keep a small
// model of the AWS side in $FAKE_DIR/state.json (repositories, pushed tags, task definition revisions,
// the image the functions run, the migrated revision, the state's outputs), refusing what AWS would
// refuse: a push to a repository that does not exist. Run as `node fake-deploy-cli.ts <tool> <args...>`.
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface FakeState {
  repositories: boolean;
  pushed: string[];
  /** Registered task definition revisions, each with the batch-worker image tag it runs. */
  revisions: string[];
  /** The image tags the functions run (after a full apply). */
  functions: Record<string, string> | null;
  /** The revision whose migration task exited 0. */
  migratedRevision: number | null;
  /** The root outputs the applies wrote into the state, by name. */
  outputs?: Record<string, { value: unknown }>;
}

const dir = process.env.FAKE_DIR ?? '';
const stateFile = join(dir, 'state.json');
const [tool = '', ...args] = process.argv.slice(2);
appendFileSync(join(dir, 'calls.jsonl'), `${JSON.stringify({ tool, args })}\n`);

const state: FakeState = existsSync(stateFile)
  ? (JSON.parse(readFileSync(stateFile, 'utf8')) as FakeState)
  : { repositories: false, pushed: [], revisions: [], functions: null, migratedRevision: null };
const save = () => writeFileSync(stateFile, JSON.stringify(state));
const flag = (name: string) => args.find((arg) => arg.startsWith(`${name}=`))?.slice(name.length + 1);
const option = (name: string) => {
  const index = args.indexOf(name);
  return index < 0 ? undefined : args[index + 1];
};
const fail = (message: string): never => {
  process.stderr.write(`${message}\n`);
  process.exit(1);
};
const taskDefinitionArn = (revision: number) =>
  `arn:aws:ecs:eu-west-1:123456789012:task-definition/sidestep-staging-batch-worker:${revision}`;
const tags = (): Record<string, string> => {
  const file = flag('-var-file');
  return file ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>) : {};
};

/**
 * What an apply writes into the state's outputs, as Terraform does: a full apply writes every output; a
 * `-target` apply only those that reference at least one resource, all of them targeted. A literal
 * output is never written by a targeted apply. References resolve to this fake account's values.
 */
function writeOutputs(targets: readonly string[]): void {
  const chdir = flag('-chdir') ?? '.';
  const stack = JSON.parse(readFileSync(join(chdir, 'cdk.tf.json'), 'utf8')) as {
    output?: Record<string, { value: unknown }>;
  };
  const resolve: Record<string, unknown> = {
    batch_worker_cluster_arn: 'arn:aws:ecs:eu-west-1:123456789012:cluster/sidestep-staging-batch-worker',
    batch_worker_task_definition_arn: taskDefinitionArn(state.revisions.length),
    job_sweeper_function_name: 'sidestep-staging-job-sweeper',
  };
  state.outputs ??= {};
  for (const [name, output] of Object.entries(stack.output ?? {})) {
    const references = [...JSON.stringify(output.value).matchAll(/\$\{([a-z0-9_]+\.[^.}]+)/g)].map(
      (match) => match[1],
    );
    const written =
      targets.length === 0 ||
      (references.length > 0 && references.every((address) => targets.includes(address ?? '')));
    if (!written) continue;
    state.outputs[name] = {
      value: references.length > 0 ? (resolve[name] ?? fail(`no value for ${name}`)) : output.value,
    };
  }
}

function terraform(): void {
  const command = args.find((arg) => !arg.startsWith('-'));
  const targets = args.filter((arg) => arg.startsWith('-target=')).map((arg) => arg.slice('-target='.length));
  if (command === 'apply') {
    if (targets.some((target) => target.startsWith('aws_ecr_repository.'))) state.repositories = true;
    if (targets.some((target) => target.startsWith('aws_ecs_task_definition.'))) {
      const image =
        tags().image_tag_batch_worker ?? fail('no image_tag_batch_worker for the task definition');
      if (state.revisions.at(-1) !== image) state.revisions.push(image);
    }
    if (targets.length === 0) {
      state.functions = tags();
      if (state.revisions.at(-1) !== state.functions.image_tag_batch_worker) {
        state.revisions.push(state.functions.image_tag_batch_worker ?? '');
      }
    }
    writeOutputs(targets);
    save();
  } else if (command === 'output' && args.includes('-json')) {
    const outputs = process.env.FAKE_OMIT_OUTPUTS === '1' ? {} : (state.outputs ?? {});
    process.stdout.write(JSON.stringify(outputs));
  } else if (command === 'output') {
    process.stdout.write('sidestep-staging-job-sweeper');
  } else if (command === 'show') {
    const resources = state.functions
      ? ['sidestep-staging-job-sweeper', 'sidestep-staging-mail-dispatcher'].map((name) => ({
          type: 'aws_lambda_function',
          values: { function_name: name },
        }))
      : [];
    process.stdout.write(JSON.stringify({ values: { root_module: { resources } } }));
  }
}

function aws(): void {
  const [service, command] = args;
  if (service === 'ecs' && command === 'run-task') {
    const revision = Number(option('--task-definition')?.split(':').at(-1));
    writeFileSync(join(dir, 'migration-revision'), String(revision));
    process.stdout.write(
      JSON.stringify({
        tasks: [{ taskArn: 'arn:aws:ecs:eu-west-1:123456789012:task/sidestep/0f1e2d' }],
        failures: [],
      }),
    );
  } else if (service === 'ecs' && command === 'describe-tasks') {
    const exitCode = Number(process.env.FAKE_MIGRATION_EXIT_CODE ?? '0');
    if (exitCode === 0) {
      state.migratedRevision = Number(readFileSync(join(dir, 'migration-revision'), 'utf8'));
      save();
    }
    process.stdout.write(
      JSON.stringify({
        tasks: [
          {
            stoppedReason: 'Essential container in task exited',
            containers: [{ name: 'batch-worker', exitCode }],
          },
        ],
      }),
    );
  } else if (service === 'lambda' && command === 'get-function') {
    process.stdout.write('123456789012.dkr.ecr.eu-west-1.amazonaws.com/sidestep-staging-job-sweeper:tag\n');
  } else if (service === 'lambda' && command === 'invoke') {
    writeFileSync(args.at(-1) ?? '', '{"swept":0}');
    process.stdout.write('None\n');
  }
}

function node(): void {
  if (!args[0]?.endsWith('scripts/images.ts')) return;
  // `pnpm images` pushes to sidestep-<env>-<service>: ECR refuses a repository that does not exist.
  if (!state.repositories)
    fail('name unknown: The repository with name sidestep-staging-job-sweeper does not exist');
  const tag = option('--tag') ?? fail('no --tag');
  state.pushed.push(tag);
  save();
  const variables = (process.env.FAKE_IMAGE_VARIABLES ?? '').split(',');
  writeFileSync(
    option('--tfvars-file') ?? '',
    JSON.stringify(Object.fromEntries(variables.map((v) => [v, tag]))),
  );
}

function pnpm(): void {
  const realNode = process.env.FAKE_REAL_NODE ?? '';
  const root = process.env.FAKE_ROOT_DIR ?? '';
  const run = (argv: string[]) => {
    try {
      process.stdout.write(execFileSync(realNode, argv, { cwd: root, encoding: 'utf8' }));
    } catch (error) {
      const { stdout, stderr, status } = error as { stdout: string; stderr: string; status: number };
      process.stdout.write(stdout);
      process.stderr.write(stderr);
      process.exit(status);
    }
  };
  if (args[0] === 'preflight') {
    // The real command, limited to the checks that need no AWS.
    run(['scripts/preflight.ts', ...args.slice(1), '--only', 'placeholders']);
  } else if (args.join(' ') === '--filter @sidestep/infra run synth') {
    // The synth's own refusal (infra's environmentConfigs under SIDESTEP_DEPLOY_ENVIRONMENT), without the stacks.
    const config = new URL('../../infra/src/config.ts', import.meta.url).href;
    run(['--input-type=module', '-e', `(await import(${JSON.stringify(config)})).environmentConfigs();`]);
  }
}

({ terraform, aws, node, pnpm, docker: () => undefined })[tool as 'terraform']?.();
