import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { environmentConfigs } from '@sidestep/infra';
import { SERVICES, TASKS } from '@sidestep/registry';
import { shellQuote } from '@sidestep/runtime';
import { CommanderError } from 'commander';
import { imagePlatform, imageSources } from '../src/images/image-sources.ts';
import { type ImagesCommandDependencies, imagesCommand } from '../src/images/images-command.ts';
import { type ImageSource, inputsTag, planImages } from '../src/images/plan-images.ts';
import { turboBuildHashes } from '../src/images/turbo-build-hashes.ts';

const rootDir = join(import.meta.dirname, '..', '..');
const REGISTRY = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';
const SHA = '0123456789abcdef0123456789abcdef01234567';
const sources = imageSources();

/** Turbo's real hashes, computed once for the file (one dry run, ~0.2 s). */
let buildHashes: ReadonlyMap<string, string>;
beforeAll(async () => {
  // The variables the options fall back to; a test sets them itself.
  delete process.env.SIDESTEP_REGISTRY;
  delete process.env.SIDESTEP_ENVIRONMENT;
  buildHashes = await turboBuildHashes(
    rootDir,
    sources.map((source) => source.packageName),
  );
});

interface Run {
  readonly out: string[];
  readonly ran: (readonly string[])[];
  readonly files: Map<string, string>;
  readonly lookups: string[];
}

/** Runs the command with fakes for everything but turbo's hashing; `existing` is the registry. */
async function images(
  argv: readonly string[],
  existing: Record<string, readonly string[]> = {},
  platform?: ImagesCommandDependencies['platform'],
): Promise<Run> {
  const run: Run = { out: [], ran: [], files: new Map(), lookups: [] };
  await imagesCommand({
    rootDir,
    ...(platform ? { platform } : {}),
    sources,
    buildHashes: async () => buildHashes,
    lookup: async (repositoryName, tag) => {
      run.lookups.push(`${repositoryName}:${tag}`);
      return existing[`${repositoryName}:${tag}`];
    },
    gitHead: async () => `${SHA}\n`,
    run: async (command) => {
      run.ran.push(command);
    },
    writeFile: async (path, content) => {
      run.files.set(path, content);
    },
    out: (line) => run.out.push(line),
    err: () => {},
  })
    .exitOverride()
    .configureOutput({ writeErr: () => {}, writeOut: () => {} })
    .parseAsync([...argv], { from: 'user' });
  return run;
}

const pushes = (lines: readonly string[]) => lines.filter((line) => line.startsWith('docker buildx build '));
const pushOf = (lines: readonly string[], name: string) =>
  pushes(lines).find((line) => line.endsWith(` --push services/${name}`));

/** The error commander raised for a command line. */
async function failure(argv: readonly string[]): Promise<CommanderError> {
  const error = await images(argv).then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(CommanderError);
  return error as CommanderError;
}

describe('images --dry-run', () => {
  it('prints a build and a pushed arm64 image tagged with the commit SHA for every service and task, and runs nothing', async () => {
    const { out, ran, lookups } = await images(['--registry', REGISTRY, '--env', 'staging', '--dry-run']);
    expect(ran).toEqual([]);
    // The one read it makes: is this commit's image already pushed (immutable tags)?
    expect(lookups).toEqual(sources.map((source) => `sidestep-staging-${source.name}:${SHA}`));
    expect(sources.map((source) => source.name).sort()).toEqual(
      [...SERVICES, ...TASKS].map((entry) => entry.manifest.name).sort(),
    );
    expect(out).toHaveLength(sources.length * 2);
    // Every bundle is built before the first image, which copies it.
    expect(out.slice(0, sources.length)).toEqual(
      sources.map((source) => `pnpm --filter ${source.packageName} run build`),
    );
    for (const source of sources) {
      const hash = (
        await planImages({
          rootDir,
          sources: [source],
          registry: REGISTRY,
          environment: 'staging',
          tag: SHA,
          only: 'all',
          buildHashes,
          lookup: async () => undefined,
        })
      ).images[0]?.inputsHash;
      expect(pushOf(out, source.name)).toBe(
        `docker buildx build --platform linux/arm64 --provenance=false --label sidestep.inputs-hash=${hash} --label org.opencontainers.image.revision=${SHA} --label org.opencontainers.image.title=${source.name} --tag ${REGISTRY}/sidestep-staging-${source.name}:${SHA} --push ${source.packageDir}`,
      );
    }
  });

  // Fargate Spot runs no ARM64 Linux task, so infra registers the batch task as X86_64 there
  // (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-capacity-providers.html).
  it('builds the task image for linux/amd64 where the environment runs it on FARGATE_SPOT, under its own inputs hash', async () => {
    const spot = environmentConfigs({ SIDESTEP_STAGING_BATCH_CAPACITY: 'FARGATE_SPOT' });
    const platform = (environment: 'staging' | 'production', source: ImageSource) =>
      imagePlatform(spot[environment], source);
    const { out } = await images(['--registry', REGISTRY, '--env', 'staging', '--dry-run'], {}, platform);
    const arm = await images(['--registry', REGISTRY, '--env', 'staging', '--dry-run']);
    const tasks = new Set(TASKS.map((entry) => entry.manifest.name));
    expect(tasks.size).toBeGreaterThan(0);
    for (const source of sources) {
      const expected = tasks.has(source.name) ? 'linux/amd64' : 'linux/arm64';
      expect([source.name, pushOf(out, source.name)]).toEqual([
        source.name,
        expect.stringContaining(`--platform ${expected} `),
      ]);
      // An arm64 image of the same sources must not be found by `--only changed` and kept.
      const hash = (line = '') => /sidestep\.inputs-hash=(\S+)/.exec(line)?.[1];
      const same = hash(pushOf(out, source.name)) === hash(pushOf(arm.out, source.name));
      expect([source.name, same]).toEqual([source.name, !tasks.has(source.name)]);
    }
    // Production keeps FARGATE: arm64 there.
    const production = await images(
      ['--registry', REGISTRY, '--env', 'production', '--dry-run'],
      {},
      platform,
    );
    for (const name of tasks) expect(pushOf(production.out, name)).toContain('--platform linux/arm64 ');
  });

  it('tags with --tag and pushes to the environment named by --env', async () => {
    const { out } = await images([
      '--registry',
      REGISTRY,
      '--env',
      'production',
      '--tag',
      'v1.2.3',
      '--dry-run',
    ]);
    for (const line of pushes(out)) expect(line).toMatch(/ --tag \S+\/sidestep-production-[a-z-]+:v1\.2\.3 /);
    expect(pushes(out)).toHaveLength(sources.length);
  });

  it('skips an image the repository already holds under the tag: a re-run or a rollback to an older commit', async () => {
    const existing = { [`sidestep-staging-job-sweeper:${SHA}`]: [SHA] };
    const { out, ran, files } = await images(
      ['--registry', REGISTRY, '--env', 'staging', '--tfvars-file', 'images.tfvars.json'],
      existing,
    );
    expect(out).toEqual([]);
    expect(ran).toHaveLength((sources.length - 1) * 2);
    expect(ran.map((command) => shellQuote(command)).join('\n')).not.toContain('job-sweeper');
    expect(JSON.parse(files.get('images.tfvars.json') ?? '{}')).toMatchObject({ image_tag_job_sweeper: SHA });
  });

  it('reads --registry and --env from SIDESTEP_REGISTRY and SIDESTEP_ENVIRONMENT', async () => {
    process.env.SIDESTEP_REGISTRY = REGISTRY;
    process.env.SIDESTEP_ENVIRONMENT = 'production';
    try {
      const { out } = await images(['--dry-run']);
      expect(pushOf(out, 'batch-worker')).toContain(
        ` --tag ${REGISTRY}/sidestep-production-batch-worker:${SHA} `,
      );
    } finally {
      delete process.env.SIDESTEP_REGISTRY;
      delete process.env.SIDESTEP_ENVIRONMENT;
    }
  });

  it('with --only changed skips an image whose inputs the registry already has and keeps its tag', async () => {
    const changedOnly = ['--registry', REGISTRY, '--env', 'staging', '--only', 'changed'];
    const first = await images([...changedOnly, '--dry-run']);
    const mailHash = /sidestep\.inputs-hash=(\w+)/.exec(pushOf(first.out, 'mail-dispatcher') ?? '')?.[1];
    expect(mailHash).toMatch(/^[0-9a-f]{32}$/);
    const pushed = `sidestep-staging-mail-dispatcher:${inputsTag(mailHash as string)}`;
    const existing = {
      [pushed]: ['feedfacefeedfacefeedfacefeedfacefeedface', inputsTag(mailHash as string)],
    };

    const { out } = await images([...changedOnly, '--dry-run'], existing);
    expect(out).not.toContain('pnpm --filter @sidestep/mail-dispatcher run build');
    expect(pushOf(out, 'mail-dispatcher')).toBeUndefined();
    expect(pushes(out)).toHaveLength(sources.length - 1);
    // The images it does build also get their inputs tag, so the next run finds them.
    expect(pushOf(out, 'batch-worker')).toMatch(
      / --tag \S+\/sidestep-staging-batch-worker:inputs-[0-9a-f]{32} --push /,
    );

    const { ran, files } = await images([...changedOnly, '--tfvars-file', 'images.tfvars.json'], existing);
    expect(ran.map((command) => shellQuote(command))).toEqual(out);
    // Every registered service and task: the commit's tag, but the mail-dispatcher's existing image.
    expect(JSON.parse(files.get('images.tfvars.json') ?? '{}')).toEqual({
      ...Object.fromEntries(
        [...SERVICES, ...TASKS].map(({ manifest }) => [
          `image_tag_${manifest.name.replaceAll('-', '_')}`,
          SHA,
        ]),
      ),
      image_tag_mail_dispatcher: 'feedfacefeedfacefeedfacefeedfacefeedface',
    });
  });

  it('fails on an unknown flag, naming it', async () => {
    const error = await failure([
      '--registry',
      REGISTRY,
      '--env',
      'staging',
      '--dry-run',
      '--push-everything',
    ]);
    expect(error.code).toBe('commander.unknownOption');
    expect(error.message).toContain('--push-everything');
  });

  it('fails without --registry or with a registry that is not ECR, naming --registry', async () => {
    const missing = await failure(['--env', 'staging', '--dry-run']);
    expect(missing.code).toBe('commander.missingMandatoryOptionValue');
    expect(missing.message).toContain('--registry');
    const invalid = await failure(['--registry', 'docker.io', '--env', 'staging', '--dry-run']);
    expect(invalid.message).toContain('--registry');
  });

  it('fails without --env or with an environment that has no repositories, naming --env', async () => {
    expect((await failure(['--registry', REGISTRY, '--dry-run'])).message).toContain('--env');
    expect((await failure(['--registry', REGISTRY, '--env', 'local', '--dry-run'])).message).toContain(
      '--env',
    );
  });
});

describe('planImages inputs hash', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'images-plan-'));
    mkdirSync(join(dir, 'services', 'x'), { recursive: true });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const hashOf = async (buildHash: string) =>
    (
      await planImages({
        rootDir: dir,
        sources: [{ name: 'x', packageName: '@sidestep/x', packageDir: 'services/x' }],
        registry: REGISTRY,
        environment: 'staging',
        tag: SHA,
        only: 'all',
        buildHashes: new Map([['@sidestep/x', buildHash]]),
        lookup: async () => undefined,
      })
    ).images[0]?.inputsHash;

  it('changes with the turbo build hash and with the Dockerfile, which turbo does not hash', async () => {
    writeFileSync(join(dir, 'services', 'x', 'Dockerfile'), 'FROM public.ecr.aws/lambda/nodejs:24\n');
    const before = await hashOf('aaaa');
    expect(await hashOf('aaaa')).toBe(before);
    expect(await hashOf('bbbb')).not.toBe(before);
    writeFileSync(join(dir, 'services', 'x', 'Dockerfile'), 'FROM public.ecr.aws/lambda/nodejs:24.1\n');
    expect(await hashOf('aaaa')).not.toBe(before);
  });
});

/**
 * A workspace of the repository's turbo.json and the image packages' own root-level files (git's
 * tracked ones, `src/` left out; package.json without its dependencies, which the copy lacks), so a
 * test can change one of them and ask turbo for the build hashes again.
 */
function imagePackagesWorkspace(): string {
  const dir = mkdtempSync(join(tmpdir(), 'images-turbo-'));
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'w', private: true, packageManager: 'pnpm@10.34.9' }),
  );
  writeFileSync(join(dir, 'pnpm-workspace.yaml'), 'packages:\n  - services/*\n');
  copyFileSync(join(rootDir, 'turbo.json'), join(dir, 'turbo.json'));
  // turboBuildHashes runs <root>/node_modules/.bin/turbo.
  symlinkSync(join(rootDir, 'node_modules'), join(dir, 'node_modules'));
  for (const source of sources) {
    mkdirSync(join(dir, source.packageDir, 'src'), { recursive: true });
    writeFileSync(join(dir, source.packageDir, 'src', 'handler.ts'), 'export const handler = 1;\n');
    for (const file of rootFiles(source)) {
      if (file === 'package.json') {
        const manifest = JSON.parse(readFileSync(join(rootDir, source.packageDir, file), 'utf8'));
        const { name, scripts } = manifest as { name: string; scripts: unknown };
        writeFileSync(join(dir, source.packageDir, file), JSON.stringify({ name, scripts }));
      } else {
        copyFileSync(join(rootDir, source.packageDir, file), join(dir, source.packageDir, file));
      }
    }
  }
  return dir;
}

/** The files git tracks at the root of a package (not in a folder of it). */
function rootFiles(source: ImageSource): string[] {
  return execFileSync('git', ['ls-files', '--', source.packageDir], { cwd: rootDir, encoding: 'utf8' })
    .split('\n')
    .filter((path) => path !== '' && !path.slice(source.packageDir.length + 1).includes('/'))
    .map((path) => path.slice(source.packageDir.length + 1));
}

describe('planImages with turbo build hashes', () => {
  let dir: string;
  beforeAll(() => {
    dir = imagePackagesWorkspace();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** The plan `--only changed` makes in the workspace, the registry holding `existing`. */
  const planChanged = async (existing: Record<string, readonly string[]>) =>
    planImages({
      rootDir: dir,
      sources,
      registry: REGISTRY,
      environment: 'staging',
      tag: SHA,
      only: 'changed',
      buildHashes: await turboBuildHashes(
        dir,
        sources.map((source) => source.packageName),
      ),
      lookup: async (repositoryName, tag) => existing[`${repositoryName}:${tag}`],
    });

  // mail-dispatcher/build.ts imports ./bundle-options.ts: a change there alone must not deploy the
  // image of the sources before it (turbo's build inputs once listed build.ts but not it).
  it('builds the mail-dispatcher again when only its bundle-options.ts changes, where the inputs tag kept the old image', async () => {
    const mail = sources.find((source) => source.name === 'mail-dispatcher') as ImageSource;
    const before = (await planChanged({})).images.find((image) => image.name === 'mail-dispatcher');
    const old = 'feedfacefeedfacefeedfacefeedfacefeedface';
    const registry = {
      [`sidestep-staging-mail-dispatcher:${inputsTag(before?.inputsHash ?? '')}`]: [old],
    };
    expect((await planChanged(registry)).images.find((image) => image.name === 'mail-dispatcher')?.tag).toBe(
      old,
    );

    const options = join(dir, mail.packageDir, 'bundle-options.ts');
    writeFileSync(options, `${readFileSync(options, 'utf8')}export const changed = true;\n`);
    const after = (await planChanged(registry)).images.find((image) => image.name === 'mail-dispatcher');
    expect(after).toMatchObject({ tag: SHA, build: true });
    expect(after?.inputsHash).not.toBe(before?.inputsHash);
  });

  // A turbo dry run per change: 7 s on two cores, 16 s on one.
  it('changes an image inputs hash with every root-level .ts file and the tsconfig.json of its package, which the build reads', async () => {
    const hashes = async () =>
      new Map((await planChanged({})).images.map((image) => [image.name, image.inputsHash]));
    for (const source of sources) {
      const read = rootFiles(source).filter((file) => file.endsWith('.ts') || file === 'tsconfig.json');
      expect([source.name, read]).toEqual([
        source.name,
        expect.arrayContaining(['build.ts', 'tsconfig.json']),
      ]);
      for (const file of read) {
        const before = await hashes();
        writeFileSync(
          join(dir, source.packageDir, file),
          `${readFileSync(join(dir, source.packageDir, file), 'utf8')}\n`,
        );
        const after = await hashes();
        expect([source.name, file, after.get(source.name) === before.get(source.name)]).toEqual([
          source.name,
          file,
          false,
        ]);
      }
    }
  }, 60_000);
});

describe('shellQuote', () => {
  it('quotes words a shell would split or expand', () => {
    expect(shellQuote(['echo', 'a b', "it's", '$HOME', 'plain-word=1'])).toBe(
      `echo 'a b' 'it'\\''s' '$HOME' plain-word=1`,
    );
  });
});
