// `pnpm images`: builds every service image (or only the changed ones), tags it with the commit SHA
// and pushes it to the service's ECR repository. `pnpm images --help` for the options.
import { execFile, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { environmentConfigs } from '@sidestep/infra';
import { ecrImageLookup } from './src/images/ecr-image-lookup.ts';
import { imagePlatform, imageSources } from './src/images/image-sources.ts';
import { imagesCommand } from './src/images/images-command.ts';
import { turboBuildHashes } from './src/images/turbo-build-hashes.ts';
import { runCommand } from './src/run-command.ts';

const rootDir = join(import.meta.dirname, '..');
// `pnpm` and `turbo` resolve to the workspace's own (and so Node 24), as the printed commands say.
const env = {
  ...process.env,
  PATH: `${join(rootDir, 'node_modules', '.bin')}${delimiter}${process.env.PATH ?? ''}`,
};

/** A command the script ran exited non-zero; its output is already on the terminal. */
class CommandFailedError extends Error {
  override readonly name = 'CommandFailedError';
  readonly command: readonly string[];
  constructor(command: readonly string[], exitCode: number | null) {
    super(`${command.slice(0, 3).join(' ')} ... failed (exit code ${exitCode})`);
    this.command = command;
  }
}

// The environments' settings (SIDESTEP_<ENV>_BATCH_CAPACITY) decide the task image's platform, as they
// decide its task definition's architecture in the synth.
let configs: ReturnType<typeof environmentConfigs> | undefined;
const command = imagesCommand({
  rootDir,
  platform: (environment, source) => {
    configs ??= environmentConfigs();
    return imagePlatform(configs[environment], source);
  },
  sources: imageSources(),
  buildHashes: (packageNames) => turboBuildHashes(rootDir, packageNames),
  lookup: ecrImageLookup(),
  gitHead: async () => (await promisify(execFile)('git', ['rev-parse', 'HEAD'], { cwd: rootDir })).stdout,
  run: (argv) =>
    new Promise((resolve, reject) => {
      const [file = '', ...args] = argv;
      const child = spawn(file, args, { cwd: rootDir, env, stdio: 'inherit' });
      child.once('error', reject);
      child.once('exit', (code) => (code === 0 ? resolve() : reject(new CommandFailedError(argv, code))));
    }),
  writeFile: (path, content) => writeFile(path, content),
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
});

await runCommand(command);
