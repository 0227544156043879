import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import {
  registeredService,
  registeredTask,
  SERVICES,
  TASKS,
  UnregisteredServiceError,
  WORKSPACE_ROOT,
} from '../src/index.ts';

/** Every `services/<name>/<file>` in the workspace, with the value it exports as `exportName`. */
async function discover(file: 'service.ts' | 'task.ts', exportName: 'service' | 'task') {
  const servicesDir = join(WORKSPACE_ROOT, 'services');
  const folders = readdirSync(servicesDir).filter((name) => existsSync(join(servicesDir, name, file)));
  return Promise.all(
    folders.map(async (folder) => {
      const module = (await import(pathToFileURL(join(servicesDir, folder, file)).href)) as Record<
        string,
        unknown
      >;
      return { folder, manifest: module[exportName] };
    }),
  );
}

const ownDependencies = Object.keys(
  (
    JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    }
  ).dependencies,
);

describe('the registry', () => {
  it.each([
    { file: 'service.ts', exportName: 'service', registered: SERVICES, lookUp: registeredService },
    { file: 'task.ts', exportName: 'task', registered: TASKS, lookUp: registeredTask },
  ] as const)(
    'holds every services/*/$file manifest, and nothing else',
    async ({ file, exportName, registered, lookUp }) => {
      const found = await discover(file, exportName);
      expect(found.length).toBeGreaterThan(0);
      expect(registered.map((entry) => entry.manifest).sort(byName)).toEqual(
        found.map((entry) => entry.manifest).sort(byName),
      );
      for (const { folder, manifest } of found) expect(lookUp(folder).manifest).toBe(manifest);
    },
  );

  it.each([...SERVICES, ...TASKS].map((entry) => [entry.manifest.name, entry] as const))(
    'locates the %s package, its bundle and depends on it (the build order of infra and scripts)',
    (name, entry) => {
      expect(entry.packageDir).toBe(`services/${name}`);
      expect(entry.bundleDir).toBe(`services/${name}/dist`);
      const packageJson = JSON.parse(
        readFileSync(join(WORKSPACE_ROOT, entry.packageDir, 'package.json'), 'utf8'),
      );
      expect(entry.packageName).toBe(packageJson.name);
      expect(ownDependencies).toContain(entry.packageName);
    },
  );

  it('refuses a name nothing registered has, naming it', () => {
    expect(() => registeredService('mail-dispatchr')).toThrow(UnregisteredServiceError);
    expect(() => registeredService('mail-dispatchr')).toThrow(/mail-dispatchr/);
    expect(() => registeredTask('mail-dispatcher')).toThrow(UnregisteredServiceError);
    expect(registeredService('mail-dispatcher').packageName).toBe('@sidestep/mail-dispatcher');
  });
});

function byName(a: unknown, b: unknown): number {
  return String((a as { name: string }).name).localeCompare(String((b as { name: string }).name));
}
