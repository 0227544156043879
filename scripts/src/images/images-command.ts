import { shellQuote } from '@sidestep/runtime';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { ImageLookup } from './ecr-image-lookup.ts';
import { type ImageSource, planImages } from './plan-images.ts';

/** What the `images` command reaches outside itself through; tests pass fakes. */
export interface ImagesCommandDependencies {
  readonly rootDir: string;
  readonly sources: readonly ImageSource[];
  /** Each package's turbo build hash. */
  readonly buildHashes: (packageNames: readonly string[]) => Promise<ReadonlyMap<string, string>>;
  readonly lookup: ImageLookup;
  /** The commit checked out (`git rev-parse HEAD`): the default tag. */
  readonly gitHead: () => Promise<string>;
  /** Runs one command from the repository root; rejects when it fails. */
  readonly run: (argv: readonly string[]) => Promise<void>;
  /** Writes the Terraform variables file (`--tfvars-file`). */
  readonly writeFile: (path: string, content: string) => Promise<void>;
  /** Standard output: the commands (dry run) or nothing else. */
  readonly out: (line: string) => void;
  /** Standard error: progress and the summary. */
  readonly err: (line: string) => void;
  /** The platform of an image in an environment (`imagePlatform`). @default linux/arm64 for every image */
  readonly platform?: (environment: 'staging' | 'production', source: ImageSource) => string;
}

/** Options as commander parses them. */
interface ImagesOptions {
  readonly registry: string;
  readonly env: 'staging' | 'production';
  readonly tag?: string;
  readonly only: 'all' | 'changed';
  readonly dryRun: boolean;
  readonly tfvarsFile?: string;
}

function registry(value: string): string {
  if (!/^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/.test(value)) {
    throw new InvalidArgumentError('must be <account>.dkr.ecr.<region>.amazonaws.com');
  }
  return value;
}

function imageTag(value: string): string {
  // Docker's tag grammar: https://docs.docker.com/reference/cli/docker/image/tag/
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(value)) {
    throw new InvalidArgumentError('must be a Docker tag ([A-Za-z0-9_.-], at most 128 characters)');
  }
  return value;
}

/**
 * The `pnpm images` command: builds and pushes every service image (or only the changed ones) to
 * its ECR repository, tagged by commit SHA; `--dry-run` prints the commands instead of running them.
 * Call `.parseAsync(argv)` on the result.
 */
export function imagesCommand(deps: ImagesCommandDependencies): Command {
  return new Command('images')
    .description(
      'Build each service image (Lambda services on arm64, the Fargate task too, or amd64 where the environment runs it on FARGATE_SPOT) from its esbuild bundle and push it to sidestep-<env>-<service> in ECR, tagged with the commit SHA. Log in to the registry first (aws ecr get-login-password | docker login, or aws-actions/amazon-ecr-login).',
    )
    .addOption(
      new Option('--registry <host>', 'the ECR registry, <account>.dkr.ecr.<region>.amazonaws.com')
        .env('SIDESTEP_REGISTRY')
        .argParser(registry)
        .makeOptionMandatory(),
    )
    .addOption(
      new Option('--env <environment>', 'the environment whose repositories receive the images')
        .env('SIDESTEP_ENVIRONMENT')
        .choices(['staging', 'production'])
        .makeOptionMandatory(),
    )
    .option('--tag <tag>', 'the tag of new images (default: git rev-parse HEAD)', imageTag)
    .addOption(
      new Option(
        '--only <which>',
        'all: build every image the repository has no --tag of yet (a re-run or rollback reuses it); changed: also skip those whose inputs (turbo build hash, Dockerfile, .dockerignore) already have an image, keeping its tag',
      )
        .choices(['all', 'changed'])
        .default('all'),
    )
    .option(
      '--dry-run',
      'print the commands, one per line, shell-quoted, and run none (the hashing and the read-only registry lookups still run)',
      false,
    )
    .option(
      '--tfvars-file <path>',
      'write the image_tag_* Terraform variables (JSON) for every image, built or kept',
    )
    .action(async (options: ImagesOptions) => {
      const tag = options.tag ?? imageTag((await deps.gitHead()).trim());
      const { platform } = deps;
      const plan = await planImages({
        rootDir: deps.rootDir,
        sources: deps.sources,
        registry: options.registry,
        environment: options.env,
        tag,
        only: options.only,
        buildHashes: await deps.buildHashes(deps.sources.map((source) => source.packageName)),
        lookup: deps.lookup,
        ...(platform ? { platform: (source: ImageSource) => platform(options.env, source) } : {}),
      });
      for (const image of plan.images) {
        deps.err(
          `${image.name}: ${image.build ? 'build' : 'already in the repository, keep'} ${image.repositoryUrl}:${image.tag}`,
        );
      }
      if (options.dryRun) {
        for (const command of plan.commands) deps.out(shellQuote(command));
        return;
      }
      for (const command of plan.commands) {
        deps.err(`$ ${shellQuote(command)}`);
        await deps.run(command);
      }
      if (options.tfvarsFile) {
        const variables = Object.fromEntries(
          plan.images.map((image) => [image.terraformVariable, image.tag]),
        );
        await deps.writeFile(options.tfvarsFile, `${JSON.stringify(variables, null, 2)}\n`);
      }
    });
}
