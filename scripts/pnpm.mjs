#!/usr/bin/env node
// Entry point for `npm start` / `npm test` on a machine that has only Node and npm.
// It installs the workspace (which brings pnpm and Node 24 as devDependencies) when the install
// is missing or older than the lockfile, then runs the requested pnpm script with the project's
// own pnpm (`npm test`), or with `node <script>` that script on the project's Node 24 (`npm start`),
// so every later step runs on Node 24 from node_modules/.bin.
// Plain JavaScript on purpose: it runs on whatever system Node is present (20 here).
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pnpmVersion = '10.34.9';
const localPnpm = join(root, 'node_modules', '.bin', 'pnpm');
const modulesState = join(root, 'node_modules', '.modules.yaml');
const lockfile = join(root, 'pnpm-lock.yaml');

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env: process.env });
  if (result.error) throw result.error;
  if (result.status !== 0) process.exit(result.status ?? 1);
}

// Ctrl-C reaches the whole process group: the child (the local cloud) handles it and exits cleanly;
// this wrapper only waits for it instead of dying first and making npm report a failure.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});

const stale =
  !existsSync(localPnpm) ||
  !existsSync(modulesState) ||
  (existsSync(lockfile) && statSync(lockfile).mtimeMs > statSync(modulesState).mtimeMs);

if (stale) {
  const frozen = process.env.CI ? ['--frozen-lockfile'] : [];
  run('npx', ['-y', `pnpm@${pnpmVersion}`, 'install', ...frozen]);
}

const args = process.argv.slice(2);
if (args[0] === 'node') {
  // `node <script> ...` (`npm start`): the script runs as this process's own child on the workspace's
  // Node 24 binary itself, not through pnpm and node_modules/.bin/node, a shell script that runs node
  // as its child: Ctrl-C (SIGINT to the whole group) ends that shell at once, so pnpm reported
  // "ELIFECYCLE Command failed." while the local cloud was still stopping cleanly. node_modules/.bin
  // stays first on PATH for whatever the script starts, as under pnpm.
  const bin = join(root, 'node_modules', '.bin');
  const env = { ...process.env, PATH: `${bin}${delimiter}${process.env.PATH ?? ''}` };
  const node = join(root, 'node_modules', 'node', 'bin', 'node');
  const result = spawnSync(node, args.slice(1), { cwd: root, stdio: 'inherit', env });
  if (result.error) throw result.error;
  process.exit(result.status ?? 1);
}
run(localPnpm, args);
