import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { licenceVerdict } from '../src/index.ts';

// What users run is more than the images: the CLI, the console and the local cloud run on their
// laptops from the workspace's production dependencies. The project's rule: no copyleft (GPL, AGPL,
// LGPL, SSPL, ...) and no package without a licence there, by the same policy as the bundles.
const rootDir = join(import.meta.dirname, '..', '..', '..');

interface ListedPackage {
  readonly name: string;
  readonly versions: readonly string[];
  readonly license: string;
}

/**
 * `pnpm licenses list --prod --json` over the whole workspace: every package in the production
 * dependency closure (dependencies, not devDependencies) of every workspace package, keyed by the
 * licence its package.json declares (pnpm reads the licence file when it declares none, else
 * `Unknown`). Offline: it reads the installed node_modules and the lockfile.
 */
function productionPackages(): ListedPackage[] {
  const run = spawnSync(
    process.execPath,
    [join(rootDir, 'node_modules/pnpm/bin/pnpm.cjs'), 'licenses', 'list', '--prod', '--json'],
    { cwd: rootDir, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  if (run.status !== 0) throw new Error(`pnpm licenses list failed: ${run.stderr}`);
  return Object.values(JSON.parse(run.stdout) as Record<string, ListedPackage[]>).flat();
}

describe('the workspace production dependencies', () => {
  const listed = productionPackages();

  it('lists the closure of every workspace package (the services, the CLI, the console, the local cloud)', () => {
    const names = new Set(listed.map((entry) => entry.name));
    for (const name of [
      'nodemailer',
      'pg',
      'zod',
      'commander',
      '@electric-sql/pglite',
      'fauxqs',
      '@aws-sdk/client-sqs',
    ])
      expect(names).toContain(name);
    // devDependencies are not what users run.
    expect(names).not.toContain('jest');
    expect(names).not.toContain('@biomejs/biome');
  });

  it('carry no copyleft or unknown licence', () => {
    const refused = listed.flatMap((entry) => {
      const verdict = licenceVerdict(entry.license === 'Unknown' ? undefined : entry.license);
      return verdict.allowed
        ? []
        : [`${entry.name}@${entry.versions.join(',')} (${entry.license}): ${verdict.reason}`];
    });
    expect(refused).toEqual([]);
  });
});
