/**
 * A Lambda service image without Docker: what its Dockerfile copies into ${LAMBDA_TASK_ROOT} and what
 * its `RUN` steps make there, staged in a directory that a sandbox then runs read-only. The image
 * tests and the cold-start benchmark run the same staging, so both run the files an image would hold.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  globSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { InvalidFunctionOptionError } from './errors.ts';

/** The Dockerfile's variable for the task root (/var/task), as its COPY and `RUN` lines write it. */
const TASK_ROOT_VARIABLE = `${'$'}{LAMBDA_TASK_ROOT}`;

/** One instruction of a Dockerfile: its keyword in upper case, its arguments, its line as written. */
export interface DockerfileInstruction {
  readonly keyword: string;
  readonly args: string;
  readonly line: string;
  /** An `ENV <name>=<value>` line's name and value (undefined for any other form). */
  readonly assignment?: readonly [name: string, value: string];
}

/** A service's Dockerfile, as the image tests and the benchmark read it. */
export interface LambdaDockerfile {
  readonly text: string;
  /** Its instructions in order (comments and blank lines left out). */
  readonly instructions: readonly DockerfileInstruction[];
  /** The base image of the `FROM` line. */
  readonly from: string | undefined;
  /** The sources of the COPY into `${LAMBDA_TASK_ROOT}`, relative to the package. */
  readonly copiedFiles: readonly string[];
  /** The commands of its `RUN` lines (shell form), in order. */
  readonly run: readonly string[];
  /** The handler the exec-form `CMD` names. */
  readonly cmd: string | undefined;
  /** The variables its `ENV <name>=<value>` lines set. */
  readonly environment: Readonly<Record<string, string>>;
}

/** The `<name>=<value>` of an ENV instruction's arguments. */
const ENV_ASSIGNMENT = /^([A-Za-z_][A-Za-z0-9_]*)=(\S+)$/;

/** Reads `<packageDir>/Dockerfile`; one without a COPY into the task root fails here. */
export function readLambdaDockerfile(packageDir: string): LambdaDockerfile {
  const text = readFileSync(join(packageDir, 'Dockerfile'), 'utf8');
  // Instructions are case-insensitive, as Docker reads them.
  const instructions = text.split('\n').flatMap((raw): DockerfileInstruction[] => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return [];
    const [word = '', ...rest] = line.split(/\s+/);
    const keyword = word.toUpperCase();
    const args = rest.join(' ');
    const [, name, value] = (keyword === 'ENV' && ENV_ASSIGNMENT.exec(args)) || [];
    return [
      {
        keyword,
        args,
        line,
        ...(name === undefined || value === undefined ? {} : { assignment: [name, value] as const }),
      },
    ];
  });
  const argsOf = (keyword: string) => instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
  const copy = argsOf('COPY').find((args) => args.includes(TASK_ROOT_VARIABLE));
  if (!copy)
    throw new InvalidFunctionOptionError(
      'bundleDir',
      `${packageDir}/Dockerfile has no COPY into the Lambda task root (${TASK_ROOT_VARIABLE})`,
    );
  return {
    text,
    instructions,
    from: argsOf('FROM')[0]?.split(' ')[0],
    copiedFiles: copy.split(' ').slice(0, -1),
    run: argsOf('RUN'),
    cmd: argsOf('CMD').flatMap((args) => /^\["([^"]+)"\]$/.exec(args)?.[1] ?? [])[0],
    environment: Object.fromEntries(instructions.flatMap((i) => (i.assignment ? [i.assignment] : []))),
  };
}

/**
 * The base image's own files: variables pointing at them name files this machine does not have, so
 * they are left out of a local run (Node would only warn that it cannot read them).
 */
const BASE_IMAGE_PATHS = /^\/var\/runtime\//;

/** A task root staged by {@link stageTaskRoot}. */
export interface StagedTaskRoot {
  /** A fresh directory outside the workspace, as /var/task in the image. */
  readonly dir: string;
  /** The copied files, as the build context names them (`dist/index.mjs`, `dist/chunk-*.mjs`, ...). */
  readonly files: readonly string[];
  /** The Dockerfile's `ENV` variables that mean something outside the base image. */
  readonly environment: Record<string, string>;
  /** `ENV` variables left out, with the reason. */
  readonly leftOut: Record<string, string>;
}

/** How long one `RUN` step may take locally before staging fails. */
const RUN_TIMEOUT_MS = 120_000;

/**
 * Stages the image's task root: copies what the Dockerfile's COPY into ${LAMBDA_TASK_ROOT} names
 * (globs, expanded against the build context as Docker does), then runs its `RUN` steps there as the
 * image build does (`node` being this Node, `${LAMBDA_TASK_ROOT}` the staged directory, the working
 * directory the task root as the base image's WORKDIR, the environment the image's), then makes
 * every file read-only. A `RUN` step other than `node ...`, and any instruction other than FROM, ENV,
 * COPY, RUN and CMD, is refused: this machine has no base image to run it in.
 */
export function stageTaskRoot(
  packageDir: string,
  dockerfile = readLambdaDockerfile(packageDir),
): StagedTaskRoot {
  const dir = mkdtempSync(join(tmpdir(), `${basename(packageDir)}-task-`));
  try {
    const files = dockerfile.copiedFiles.flatMap((pattern) => globSync(pattern, { cwd: packageDir })).sort();
    for (const file of files) copyFileSync(join(packageDir, file), join(dir, basename(file)));
    const environment: Record<string, string> = {};
    const leftOut: Record<string, string> = {};
    // In the Dockerfile's order: a RUN step sees the ENV lines above it, as in a build.
    const seen = { COPY: 0, FROM: 0 };
    for (const { keyword, args, line, assignment } of dockerfile.instructions) {
      if ((keyword === 'COPY' || keyword === 'FROM') && ++seen[keyword] > 1) {
        throw refused(line, `one ${keyword} (one stage, one COPY into the task root)`);
      }
      if (['FROM', 'COPY', 'CMD'].includes(keyword)) continue;
      if (keyword === 'RUN') runStep(args, dir, environment);
      else if (keyword === 'ENV') {
        // A value as written, with nothing for a shell to expand or unquote.
        if (assignment === undefined || /["'$\\`]/.test(assignment[1])) {
          throw refused(line, 'only `ENV <name>=<value>` with a value free of quotes, `$` and `\\`');
        }
        const [name, value] = assignment;
        if (BASE_IMAGE_PATHS.test(value)) leftOut[name] = `${value} is a file of the base image`;
        else environment[name] = value;
      } else throw refused(line, 'FROM, ENV, one COPY into the task root, RUN node ... and CMD');
    }
    // Read-only, each file keeping who may read it (a step's file readable by its writer only stays
    // unreadable to the sandbox user on Lambda, and the image tests must see that too).
    for (const file of readdirSync(dir, { recursive: true, withFileTypes: true })) {
      const path = join(file.parentPath, file.name);
      if (file.isFile()) chmodSync(path, statSync(path).mode & 0o7555);
    }
    // As /var/task in the image: anyone may enter it (mkdtemp made it its owner's only).
    chmodSync(dir, 0o755);
    return { dir, files, environment, leftOut };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** A Dockerfile line the local image path cannot build as Docker would. */
function refused(line: string, what: string): InvalidFunctionOptionError {
  return new InvalidFunctionOptionError(
    'bundleDir',
    `the Dockerfile's ${line} cannot be built without Docker: the local image path takes ${what}`,
  );
}

function runStep(step: string, taskRoot: string, environment: Record<string, string>): void {
  const [command, ...args] = step.replaceAll(TASK_ROOT_VARIABLE, taskRoot).split(/\s+/);
  if (command !== 'node' || args.some((arg) => /[$"'`\\|&;<>#]/.test(arg))) {
    throw refused(`RUN ${step}`, 'only a plain `RUN node ...` step');
  }
  // Nothing of this machine's environment: a build step sees the image's.
  const result = spawnSync(process.execPath, args, {
    cwd: taskRoot,
    env: { PATH: process.env.PATH ?? '', LAMBDA_TASK_ROOT: taskRoot, ...environment },
    encoding: 'utf8',
    timeout: RUN_TIMEOUT_MS,
  });
  if (result.status !== 0) {
    throw new InvalidFunctionOptionError(
      'bundleDir',
      `the Dockerfile's RUN ${step} failed (${result.error?.message ?? `exit ${result.status ?? result.signal}`}): ${result.stderr}`,
    );
  }
}
