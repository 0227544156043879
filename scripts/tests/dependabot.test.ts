import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';

// Dependabot cannot run here (no GitHub): its configuration is checked against the repository it
// updates. Options: https://docs.github.com/en/code-security/dependabot/working-with-dependabot/dependabot-options-reference
const rootDir = join(import.meta.dirname, '..', '..');

interface Update {
  readonly 'package-ecosystem': string;
  readonly directory: string;
  readonly schedule: { readonly interval: string };
  readonly cooldown?: Record<string, unknown>;
  readonly groups?: Record<string, { readonly patterns?: readonly string[] }>;
  readonly ignore?: readonly { readonly 'dependency-name': string }[];
}

const config = parse(readFileSync(join(rootDir, '.github', 'dependabot.yml'), 'utf8')) as {
  version: number;
  updates: Update[];
};
const workspace = parse(readFileSync(join(rootDir, 'pnpm-workspace.yaml'), 'utf8')) as {
  catalog: Record<string, string>;
  patchedDependencies?: Record<string, string>;
};

function update(ecosystem: string): Update {
  const found = config.updates.find((u) => u['package-ecosystem'] === ecosystem && u.directory === '/');
  if (!found) throw new Error(`no ${ecosystem} update for /`);
  return found;
}

/** Dependabot's group patterns: `*` matches any run of characters. */
function matches(pattern: string, name: string): boolean {
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${source}$`).test(name);
}

/** The group each catalog package falls in (Dependabot puts a dependency in its first matching group). */
function groupOf(groups: Update['groups'], name: string): string | undefined {
  return Object.entries(groups ?? {}).find(([, group]) =>
    (group.patterns ?? []).some((pattern) => matches(pattern, name)),
  )?.[0];
}

/** The package name of a pnpm `name@version` key (`@scope/name@1.0.0` too). */
function packageName(key: string): string {
  return key.slice(0, key.lastIndexOf('@'));
}

describe('.github/dependabot.yml', () => {
  it('is a version 2 configuration whose every entry has an ecosystem, a directory and a schedule', () => {
    expect(config.version).toBe(2);
    expect(config.updates.length).toBeGreaterThan(0);
    for (const entry of config.updates) {
      expect(entry['package-ecosystem']).toEqual(expect.any(String));
      expect(entry.directory).toMatch(/^\//);
      expect(['daily', 'weekly', 'monthly']).toContain(entry.schedule.interval);
    }
  });

  it('updates the pnpm workspace from its root, where its one lockfile is', () => {
    expect(existsSync(join(rootDir, 'pnpm-lock.yaml'))).toBe(true);
    expect(update('npm').directory).toBe('/');
  });

  it('updates the actions the workflows pin by commit SHA', () => {
    const workflows = readdirSync(join(rootDir, '.github', 'workflows'));
    const pinned = workflows.some((file) =>
      /uses: [\w.-]+\/[\w./-]+@[0-9a-f]{40}/.test(
        readFileSync(join(rootDir, '.github', 'workflows', file), 'utf8'),
      ),
    );
    expect(pinned).toBe(true);
    expect(update('github-actions').directory).toBe('/');
  });

  // A version a week old has had time to be found out (a hijacked maintainer account, a broken
  // release) and pulled. Security updates are not delayed: cooldown applies to version updates only.
  // github-actions takes only `default-days` (semver-*-days stop Dependabot with a configuration error).
  it.each(config.updates.map((u) => [u['package-ecosystem'], u] as const))(
    '%s waits 7 days or more before taking a release',
    (_ecosystem, entry) => {
      expect(Object.keys(entry.cooldown ?? {})).toEqual(['default-days']);
      expect(entry.cooldown?.['default-days']).toBeGreaterThanOrEqual(7);
    },
  );

  it('ignores exactly the dependencies pnpm patches (a patch is keyed by the exact version it fits)', () => {
    const patched = Object.keys(workspace.patchedDependencies ?? {}).map(packageName);
    expect(patched.length).toBeGreaterThan(0);
    const ignored = (update('npm').ignore ?? []).map((rule) => rule['dependency-name']);
    expect(ignored.sort()).toEqual([...new Set(patched)].sort());
  });

  it.each([
    ['the AWS SDK clients and the Smithy core they share', /^@(aws-sdk|smithy)\//],
    ['the Powertools packages, each pinned to the same commons', /^@aws-lambda-powertools\//],
    ['CDK Terrain and its provider', /^(cdktn|cdktn-cli|@cdktn\/.*)$/],
  ])('moves %s in one pull request', (_what, family) => {
    const names = Object.keys(workspace.catalog).filter((name) => family.test(name));
    expect(names.length).toBeGreaterThan(1);
    const groups = new Set(names.map((name) => groupOf(update('npm').groups, name)));
    expect([...groups]).toHaveLength(1);
    expect([...groups][0]).toEqual(expect.any(String));
  });

  it('matches group patterns as Dependabot does (the check above can fail)', () => {
    expect(matches('@aws-sdk/*', '@aws-sdk/client-s3')).toBe(true);
    expect(matches('@aws-sdk/*', '@aws-sdkx/client-s3')).toBe(false);
    expect(matches('cdktn', 'cdktn-cli')).toBe(false);
    expect(packageName('@scope/name@1.2.3')).toBe('@scope/name');
    expect(groupOf({ a: { patterns: ['x*'] }, b: { patterns: ['*'] } }, 'xy')).toBe('a');
  });
});
