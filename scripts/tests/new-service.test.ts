import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { runScript } from './start-path-cloud.ts';

// `npm run new-service` as a developer runs it, in a clone of the repository (its registry, contracts
// and reference service as committed). With SIDESTEP_NEW_SERVICE_BUILD=1 (`npm run test:new-service`),
// the clone is then installed and the new services built, tested, type-checked and linted with the
// registry and the contracts: what "a new service is a folder" promises, end to end, and what keeps
// the templates in step with the packages they use (20-40 s: outside `npm test`'s five minutes).

const run = promisify(execFile);
const repository = join(import.meta.dirname, '..', '..');
let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'sidestep-new-service-'));
  await run('git', ['clone', '-q', '--depth', '1', `file://${repository}`, root]);
}, 60_000);

afterAll(() => rm(root, { recursive: true, force: true }));

const newService = (...args: string[]) => runScript('scripts/new-service.ts', ...args, '--root', root);
const read = (path: string) => readFile(join(root, path), 'utf8');

describe('npm run new-service', () => {
  it('writes a queue consumer of a new job type, its contract, and registers it', async () => {
    const made = await newService('webhook-notifier', '--queue', 'webhooks', '--job-type', 'webhook.notify');
    expect([made.code, made.stderr]).toEqual([0, '']);
    for (const file of [
      'services/webhook-notifier/package.json',
      'services/webhook-notifier/service.ts',
      'services/webhook-notifier/src/handler.ts',
      'services/webhook-notifier/src/domain/webhook-notifier.ts',
      'services/webhook-notifier/src/errors.ts',
      'services/webhook-notifier/tests/handler.test.ts',
      'services/webhook-notifier/tests/image.test.ts',
      'services/webhook-notifier/Dockerfile',
      'services/webhook-notifier/build.ts',
      'packages/contracts/src/webhook-notify.ts',
    ]) {
      expect([file, made.stdout.includes(`  ${file}\n`), existsSync(join(root, file))]).toEqual([
        file,
        true,
        true,
      ]);
    }
    const manifest = await read('services/webhook-notifier/service.ts');
    expect(manifest).toContain("name: 'webhook-notifier'");
    expect(manifest).toMatch(/queue: \{\s+name: 'webhooks',\s+jobTypes: \['webhook\.notify'\]/);
    // The reference service's boilerplate, its name replaced everywhere.
    const dockerfile = await read('services/webhook-notifier/Dockerfile');
    expect(dockerfile).toContain('pnpm --filter @sidestep/webhook-notifier build');
    expect(dockerfile).not.toContain('status-updater');
    // Registered: one import, one entry (last in the deploy order), its workspace dependency.
    const registry = await read('packages/registry/src/registry.ts');
    expect(registry).toContain(
      "import { service as webhookNotifier } from '@sidestep/webhook-notifier/service';",
    );
    expect(registry).toMatch(/opsLedger,\n {2}webhookNotifier,\n\]\.map\(/);
    expect(
      JSON.parse(await read('packages/registry/package.json')).dependencies['@sidestep/webhook-notifier'],
    ).toBe('workspace:*');
    // Its contract, in the registry every producer and handler reads.
    expect(await read('packages/contracts/src/jobs.ts')).toContain(
      "'webhook.notify': { 1: WebhookNotifyJob },",
    );
    expect(await read('packages/contracts/src/index.ts')).toContain(
      "export { WebhookNotifyJob, WebhookNotifyPayload } from './webhook-notify.ts';",
    );
  });

  it('writes a task function with its input schema, no contract', async () => {
    const jobs = await read('packages/contracts/src/jobs.ts');
    const made = await newService('report-builder');
    expect(made.code).toBe(0);
    expect(existsSync(join(root, 'services/report-builder/src/input.ts'))).toBe(true);
    expect(await read('services/report-builder/service.ts')).not.toContain('queue:');
    expect(await read('packages/contracts/src/jobs.ts')).toBe(jobs);
    expect(await read('packages/registry/src/registry.ts')).toMatch(
      /webhookNotifier,\n {2}reportBuilder,\n\]\.map\(/,
    );
  });

  it('refuses, naming the option, a name taken or not kebab-case, and a queue without its job type', async () => {
    for (const [args, field] of [
      [['webhook-notifier'], 'name: services/webhook-notifier exists already'],
      [['Report_Builder'], 'name: "Report_Builder" is not kebab-case'],
      // The manifest's rule: 2 to 41 characters.
      [['a'], 'name: "a" is not kebab-case of 2 to 41 characters'],
      // Its registry identifier would be one the registry has.
      [['service'], 'name: the registry names service'],
      [['audit-writer', '--queue', 'audits'], 'jobType: a queue consumer needs both --queue and --job-type'],
      [['audit-writer', '--queue', 'audits', '--job-type', 'Audit'], 'jobType: "Audit" is not a dotted'],
    ] as const) {
      const refused = await newService(...args);
      expect([refused.code, refused.stderr]).toEqual([1, expect.stringContaining(`new-service: ${field}`)]);
    }
    expect(existsSync(join(root, 'services/audit-writer'))).toBe(false);
  });

  // A registry whose shape changed is not left half-changed, nor the service left unregistered.
  it('refuses, naming the file, a registry it cannot find its place in, and writes nothing', async () => {
    const file = join(root, 'packages/registry/src/registry.ts');
    const registry = await read('packages/registry/src/registry.ts');
    await writeFile(
      file,
      registry.replace(
        '\n].map((manifest) => ({ manifest, ...builtPackage(manifest) }));',
        '\n].flatMap((manifest) => [{ manifest, ...builtPackage(manifest) }]);',
      ),
    );
    try {
      const refused = await newService('audit-writer');
      expect([refused.code, refused.stderr]).toEqual([
        1,
        expect.stringContaining('new-service: packages/registry/src/registry.ts: no '),
      ]);
      expect(existsSync(join(root, 'services/audit-writer'))).toBe(false);
      expect(await read('packages/registry/src/registry.ts')).not.toContain('audit-writer');
    } finally {
      await writeFile(file, registry);
    }
  });

  // The new services as a developer then builds and tests them (not registered otherwise).
  if (process.env.SIDESTEP_NEW_SERVICE_BUILD !== '1') return;
  it('builds both, whose handler and image tests pass, with the type check, lint and registry test', async () => {
    // Without the variables of the pnpm (or npm) running this test, which would configure the clone's.
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([key]) => !/^(npm|pnpm)_/i.test(key) && key !== 'NODE_OPTIONS'),
    );
    const inRoot = (command: string, ...args: string[]) =>
      run(command, args, { cwd: root, env, maxBuffer: 64 * 1024 * 1024 });
    const bin = (name: string) => join(root, 'node_modules', '.bin', name);
    // The lockfile gains the new packages: installed as a developer does, from the machine's store.
    // (not frozen: on CI, where CI=true, pnpm would refuse the lockfile the new packages change)
    await inRoot(
      join(repository, 'node_modules', '.bin', 'pnpm'),
      'install',
      '--prefer-offline',
      '--no-frozen-lockfile',
    );
    await inRoot(
      bin('turbo'),
      'run',
      'build',
      '--filter=@sidestep/webhook-notifier',
      '--filter=@sidestep/report-builder',
      '--filter=@sidestep/contracts',
      '--output-logs=errors-only',
    );
    for (const pkg of ['services/webhook-notifier', 'services/report-builder', 'packages/registry']) {
      const tested = await run(bin('jest'), [], {
        cwd: join(root, pkg),
        env: { ...env, NODE_OPTIONS: '--experimental-vm-modules' },
      });
      expect([pkg, tested.stderr]).toEqual([pkg, expect.stringMatching(/Tests: +\d+ passed, \d+ total/)]);
    }
    // The repository's own type check (its ambient declarations are in tsconfig.all.json) and lint.
    await inRoot(bin('tsc'), '-p', 'tsconfig.all.json');
    await inRoot(bin('biome'), 'check', '.');
    expect(await read('packages/contracts/schemas/webhook.notify.v1.json')).toContain('webhook.notify');
  }, 600_000);
});
