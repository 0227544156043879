import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { resourceName } from '@sidestep/manifest';
import type { ImageLookup } from './ecr-image-lookup.ts';

/**
 * Images are built for arm64: infra runs the Lambda functions with `architectures: ['arm64']`
 * (ServiceFunction, ExportDownload) and the Fargate task with `cpuArchitecture: 'ARM64'`, except where
 * the environment runs it on FARGATE_SPOT, which takes no ARM64 task: X86_64 there (`imagePlatform`).
 * An image of another platform fails to start.
 */
export const IMAGE_PLATFORM = 'linux/arm64';

/** The OCI label carrying an image's inputs hash, so a pulled image says what it was built from. */
export const INPUTS_HASH_LABEL = 'sidestep.inputs-hash';

/** One program with an image: a Lambda service or the Fargate task. */
export interface ImageSource {
  /** The manifest name (`mail-dispatcher`): the repository is `sidestep-<env>-<name>`. */
  readonly name: string;
  /** The workspace package, for `pnpm --filter <name> run build`. */
  readonly packageName: string;
  /** The package directory, relative to the repository root: the Docker build context. */
  readonly packageDir: string;
}

/** Options of {@link planImages}. */
export interface PlanImagesOptions {
  readonly rootDir: string;
  readonly sources: readonly ImageSource[];
  /** `<account>.dkr.ecr.<region>.amazonaws.com`. */
  readonly registry: string;
  /** `staging` or `production`. */
  readonly environment: string;
  /** The tag new images get: the commit SHA. */
  readonly tag: string;
  /**
   * `all` builds every image the repository has no `tag` of yet; `changed` also skips those it holds
   * an image of the same inputs for (keeping that image's tag).
   */
  readonly only: 'all' | 'changed';
  /** Each package's turbo build hash (`turboBuildHashes`). */
  readonly buildHashes: ReadonlyMap<string, string>;
  /** Finds an existing image by tag: `tag` (both modes), then the inputs tag (`changed`). */
  readonly lookup: ImageLookup;
  /** The platform each image is built for. @default {@link IMAGE_PLATFORM} for every image */
  readonly platform?: (source: ImageSource) => string;
}

/** One image of the plan. */
export interface PlannedImage {
  readonly name: string;
  readonly repositoryUrl: string;
  /** sha256 over the turbo build hash, the Dockerfile and the .dockerignore (32 hex digits). */
  readonly inputsHash: string;
  /** The tag the deploy sets `image_tag_<name_snake>` to: the new SHA, or the existing image's. */
  readonly tag: string;
  /** False when the repository already has this tag, or (`changed`) an image of the same inputs. */
  readonly build: boolean;
  /** The Terraform variable infra reads this image's tag from. */
  readonly terraformVariable: string;
}

/** What {@link planImages} decided: the images and the commands building and pushing them, in order. */
export interface ImagePlan {
  readonly images: readonly PlannedImage[];
  readonly commands: readonly (readonly string[])[];
}

/** A package of the plan has no turbo build hash. */
export class MissingInputsHashError extends Error {
  override readonly name = 'MissingInputsHashError';
  readonly packageName: string;
  constructor(packageName: string) {
    super(`no build hash for ${packageName}`);
    this.packageName = packageName;
  }
}

/** The tag an image's inputs hash is also pushed under, so it can be found without reading labels. */
export function inputsTag(inputsHash: string): string {
  return `inputs-${inputsHash}`;
}

/**
 * The image's inputs: turbo's build hash covers the bundle (turbo.json's build inputs: src/, every
 * .ts file at the package root, which is where build.ts and what it imports, such as the
 * mail-dispatcher's bundle-options.ts, live, package.json and tsconfig.json, which esbuild reads;
 * plus the dependencies), but turbo's build inputs do not include the Dockerfile or .dockerignore,
 * which change the image too; so they are hashed in here.
 */
function inputsHash(rootDir: string, source: ImageSource, buildHash: string, platform: string): string {
  const hash = createHash('sha256').update(`turbo-build:${buildHash}\n`);
  // The platform too, so `changed` never keeps an image of another one (an environment switched to
  // FARGATE_SPOT needs its task image for amd64). Only when not the default: the hashes, and with
  // them the inputs tags, of the arm64 images pushed before stay what they were.
  if (platform !== IMAGE_PLATFORM) hash.update(`platform:${platform}\n`);
  for (const file of ['Dockerfile', '.dockerignore']) {
    const path = join(rootDir, source.packageDir, file);
    hash
      .update(`${file}:`)
      .update(existsSync(path) ? readFileSync(path) : '<none>')
      .update('\n');
  }
  return hash.digest('hex').slice(0, 32);
}

/**
 * Decides which images to build and the exact commands: each package's own `build` (the esbuild
 * bundle the Dockerfile copies), then one `docker buildx build --push` per image, tagged with the
 * commit SHA (and, with `changed`, its inputs tag), labelled with the inputs hash. Runs nothing but
 * `lookup`.
 */
export async function planImages(options: PlanImagesOptions): Promise<ImagePlan> {
  const images: PlannedImage[] = [];
  const builds: string[][] = [];
  const pushes: string[][] = [];
  for (const source of options.sources) {
    const buildHash = options.buildHashes.get(source.packageName);
    if (buildHash === undefined) throw new MissingInputsHashError(source.packageName);
    const platform = options.platform?.(source) ?? IMAGE_PLATFORM;
    const hash = inputsHash(options.rootDir, source, buildHash, platform);
    const repositoryName = resourceName(options.environment, source.name);
    const repositoryUrl = `${options.registry}/${repositoryName}`;
    const terraformVariable = `image_tag_${source.name.replaceAll('-', '_')}`;
    // This commit's image is already there (a re-run, or a rollback re-running an older commit):
    // ECR tags are immutable, so pushing it again would be refused; the deploy just uses it.
    if (await options.lookup(repositoryName, options.tag)) {
      images.push({
        name: source.name,
        repositoryUrl,
        inputsHash: hash,
        tag: options.tag,
        build: false,
        terraformVariable,
      });
      continue;
    }
    if (options.only === 'changed') {
      const existing = await options.lookup(repositoryName, inputsTag(hash));
      // Keep the tag the existing image was first pushed under (a SHA), not its inputs tag, so
      // every image_tag_* variable names a commit.
      const kept = existing?.find((tag) => tag !== inputsTag(hash));
      if (kept) {
        images.push({
          name: source.name,
          repositoryUrl,
          inputsHash: hash,
          tag: kept,
          build: false,
          terraformVariable,
        });
        continue;
      }
    }
    images.push({
      name: source.name,
      repositoryUrl,
      inputsHash: hash,
      tag: options.tag,
      build: true,
      terraformVariable,
    });
    builds.push(['pnpm', '--filter', source.packageName, 'run', 'build']);
    pushes.push([
      'docker',
      'buildx',
      'build',
      '--platform',
      platform,
      // Lambda refuses an image index holding attestation manifests, which buildx adds by default
      // when pushing (https://docs.aws.amazon.com/lambda/latest/dg/images-create.html).
      '--provenance=false',
      '--label',
      `${INPUTS_HASH_LABEL}=${hash}`,
      '--label',
      `org.opencontainers.image.revision=${options.tag}`,
      '--label',
      `org.opencontainers.image.title=${source.name}`,
      '--tag',
      `${repositoryUrl}:${options.tag}`,
      // The inputs tag only where the lookup just saw it is free: ECR tags are immutable, so a forced
      // rebuild (`all`) of unchanged inputs would be refused for re-pushing it.
      ...(options.only === 'changed' ? ['--tag', `${repositoryUrl}:${inputsTag(hash)}`] : []),
      '--push',
      source.packageDir,
    ]);
  }
  return { images, commands: [...builds, ...pushes] };
}
