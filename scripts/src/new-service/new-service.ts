import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { JOB_CONTRACTS } from '@sidestep/contracts';
import nodePlop, { type ActionType } from 'node-plop';

/** The service whose boilerplate (Dockerfile, build, test and TypeScript settings) a new one copies. */
export const REFERENCE_SERVICE = 'status-updater';

/** Files copied from the reference service, its name replaced: identical in every service but for it. */
const BOILERPLATE = ['Dockerfile', '.dockerignore', 'build.ts', 'jest.config.js', 'tsconfig.json'];

const TEMPLATES = join(import.meta.dirname, '..', '..', 'templates', 'new-service');

/** A name the generator refuses, naming the option. */
export class NewServiceError extends Error {
  override readonly name = 'NewServiceError';
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}

/** What to generate: a queue consumer (`queue` and `jobType`) or a task function (neither). */
export interface NewServiceOptions {
  /** The repository root. */
  readonly rootDir: string;
  /** Kebab-case, as its folder, package and function are named: `webhook-notifier`. */
  readonly name: string;
  /** The queue it consumes, kebab-case (`sidestep-<env>-<queue>`). */
  readonly queue?: string;
  /** The job type on that queue (`webhook.notify`): a contract of its own unless the contracts have it. */
  readonly jobType?: string;
}

/** What the generator wrote, relative to the root. */
export interface NewServiceResult {
  readonly created: readonly string[];
  readonly modified: readonly string[];
  /** Whether it wrote a contract for a job type the contracts did not have. */
  readonly newJobType: boolean;
}

const KEBAB = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const JOB_TYPE = /^[a-z][a-z0-9]*(\.[a-z][a-z0-9]*)+$/;
/** `sidestep-production-<name>-async-failures` is the longest name a service gets: SQS allows 80. */
const MAX_NAME_LENGTH = 40;

const pascal = (words: string) =>
  words
    .split(/[-.]/)
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('');

/**
 * Writes a new service under `services/<name>` and registers it: its manifest, handler, domain,
 * errors, README and tests (the handler's, delivering twice, and the image's through the Lambda
 * Runtime API) from the templates in `scripts/templates/new-service`, its Dockerfile, build, jest
 * and TypeScript settings copied from {@link REFERENCE_SERVICE}, one import and one entry in the
 * registry (and its workspace dependency), and, for a job type the contracts do not have, its
 * contract (`packages/contracts/src/<type>.ts`, a line in `JOB_CONTRACTS`, an export).
 *
 * Written with node-plop (Plop's engine: Handlebars templates, `add` and `modify` actions) rather
 * than by hand: the templates stay files a reader can open.
 *
 * @throws {NewServiceError} naming `name`, `queue` or `jobType`
 */
export async function newService(options: NewServiceOptions): Promise<NewServiceResult> {
  const { rootDir, name, queue, jobType } = options;
  if (!KEBAB.test(name) || name.length > MAX_NAME_LENGTH) {
    throw new NewServiceError('name', `"${name}" is not kebab-case of at most ${MAX_NAME_LENGTH} characters`);
  }
  if (existsSync(join(rootDir, 'services', name))) {
    throw new NewServiceError('name', `services/${name} exists already`);
  }
  if ((queue === undefined) !== (jobType === undefined)) {
    throw new NewServiceError(
      queue === undefined ? 'queue' : 'jobType',
      'a queue consumer needs both --queue and --job-type (neither makes a task function)',
    );
  }
  if (queue !== undefined && !KEBAB.test(queue))
    throw new NewServiceError('queue', `"${queue}" is not kebab-case`);
  if (jobType !== undefined && !JOB_TYPE.test(jobType)) {
    throw new NewServiceError(
      'jobType',
      `"${jobType}" is not a dotted lower-case job type such as webhook.notify`,
    );
  }
  const newJobType = jobType !== undefined && !Object.hasOwn(JOB_CONTRACTS, jobType);
  const data = {
    name,
    camel: pascal(name).charAt(0).toLowerCase() + pascal(name).slice(1),
    pascal: pascal(name),
    queue,
    jobType,
    jobPascal: jobType === undefined ? undefined : pascal(jobType),
    jobKebab: jobType?.replaceAll('.', '-'),
  };
  const service = `services/${name}`;
  const template = (file: string) => join(TEMPLATES, file);
  const add = (path: string, file: string): ActionType => ({
    type: 'add',
    path: `${service}/${path}`,
    templateFile: template(file),
    abortOnFail: true,
  });
  const kind = queue === undefined ? 'task' : 'queue';
  const actions: ActionType[] = [
    add('package.json', 'package.json.hbs'),
    add('README.md', 'README.md.hbs'),
    add('service.ts', `${kind}-service.ts.hbs`),
    add('src/handler.ts', `${kind}-handler.ts.hbs`),
    add(`src/domain/${name}.ts`, `${kind}-domain.ts.hbs`),
    add('src/errors.ts', 'errors.ts.hbs'),
    add('tests/handler.test.ts', `${kind}-handler.test.ts.hbs`),
    add('tests/image.test.ts', 'image.test.ts.hbs'),
    ...(kind === 'task' ? [add('src/input.ts', 'task-input.ts.hbs')] : []),
    ...BOILERPLATE.map(
      (file): ActionType =>
        async () => {
          const text = await readFile(join(rootDir, 'services', REFERENCE_SERVICE, file), 'utf8');
          await writeNew(join(rootDir, service, file), text.replaceAll(REFERENCE_SERVICE, name));
          return `${service}/${file}`;
        },
    ),
    {
      type: 'modify',
      path: 'packages/registry/src/registry.ts',
      // Before the registry's own module's import; biome puts it in order afterwards.
      pattern: /(\nimport \{ UnregisteredServiceError \})/,
      template: `\nimport { service as {{camel}} } from '@sidestep/{{name}}/service';$1`,
      abortOnFail: true,
    },
    {
      type: 'modify',
      path: 'packages/registry/src/registry.ts',
      // Last in the deploy order.
      pattern: /(export const SERVICES: readonly RegisteredService\[\] = \[[\s\S]*?)(\n\]\.map\()/,
      template: '$1\n  {{camel}},$2',
      abortOnFail: true,
    },
    async () => {
      const file = join(rootDir, 'packages/registry/package.json');
      const manifest = JSON.parse(await readFile(file, 'utf8')) as { dependencies: Record<string, string> };
      manifest.dependencies = Object.fromEntries(
        Object.entries({ ...manifest.dependencies, [`@sidestep/${name}`]: 'workspace:*' }).sort(([a], [b]) =>
          a.localeCompare(b),
        ),
      );
      await writeFile(file, `${JSON.stringify(manifest, null, 2)}\n`);
      return 'packages/registry/package.json';
    },
    ...(newJobType
      ? ([
          {
            type: 'add',
            path: 'packages/contracts/src/{{jobKebab}}.ts',
            templateFile: template('contract.ts.hbs'),
            abortOnFail: true,
          },
          {
            type: 'modify',
            path: 'packages/contracts/src/jobs.ts',
            pattern: /(\nimport \{ lazySchema \})/,
            template: `\nimport { {{jobPascal}}Job } from './{{jobKebab}}.ts';$1`,
            abortOnFail: true,
          },
          {
            type: 'modify',
            path: 'packages/contracts/src/jobs.ts',
            pattern: /(export const JOB_CONTRACTS = \{[\s\S]*?)(\n\} as const;)/,
            template: `$1\n  '{{jobType}}': { 1: {{jobPascal}}Job },$2`,
            abortOnFail: true,
          },
          {
            type: 'append',
            path: 'packages/contracts/src/index.ts',
            separator: '',
            template: `export { {{jobPascal}}Job, {{jobPascal}}Payload } from './{{jobKebab}}.ts';`,
            abortOnFail: true,
          },
        ] satisfies ActionType[])
      : []),
  ];
  const plop = await nodePlop(undefined, { destBasePath: rootDir, force: false });
  plop.setGenerator('service', { description: 'a sidestep service', prompts: [], actions });
  const { changes, failures } = await plop.getGenerator('service').runActions(data);
  if (failures.length > 0) {
    throw new Error(
      `new-service stopped: ${failures.map((failure) => `${failure.path}: ${failure.error}`).join('; ')}`,
    );
  }
  // node-plop names a file it added or changed by its path under the root, with a leading `/`.
  const written = changes.map((change) =>
    (change.path.startsWith(rootDir) ? change.path.slice(rootDir.length) : change.path).replace(/^\//, ''),
  );
  const modified = [
    'packages/registry/src/registry.ts',
    'packages/registry/package.json',
    ...(newJobType ? ['packages/contracts/src/jobs.ts', 'packages/contracts/src/index.ts'] : []),
  ];
  return {
    created: [...new Set(written.filter((path) => !modified.includes(path)))].sort(),
    modified,
    newJobType,
  };
}

/** Writes `text` to a file that must not exist yet. */
async function writeNew(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, text, { flag: 'wx' });
}
