import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { NAME_PATTERN } from '@sidestep/manifest';
import { PermanentError } from '@sidestep/runtime';
import nodePlop, { type ActionType } from 'node-plop';

/** The service whose Dockerfile and jest and TypeScript settings a new one copies. */
export const REFERENCE_SERVICE = 'status-updater';

/**
 * Files copied from the reference service, its name replaced: the Lambda image's build and the test
 * and type settings a service shares with it, kept in one place (the reference's).
 */
const BOILERPLATE = ['Dockerfile', '.dockerignore', 'jest.config.js', 'tsconfig.json'];

const TEMPLATES = join(import.meta.dirname, '..', '..', 'templates', 'new-service');
const REGISTRY = 'packages/registry/src/registry.ts';
const REGISTRY_PACKAGE = 'packages/registry/package.json';
const JOBS = 'packages/contracts/src/jobs.ts';
const CONTRACTS_INDEX = 'packages/contracts/src/index.ts';

/** A name the generator refuses, or a file it cannot change as it expects, naming the option or file. */
export class NewServiceError extends PermanentError {
  override readonly name: string = 'NewServiceError';
  declare readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`, { field });
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

const JOB_TYPE = /^[a-z][a-z0-9]*(\.[a-z][a-z0-9]*)+$/;

const pascal = (words: string) =>
  words
    .split(/[-.]/)
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('');

/**
 * Writes a new service under `services/<name>` and registers it: its manifest, handler, domain,
 * errors, build, README and tests (the handler's, delivering twice, and the image's through the
 * Lambda Runtime API) from the templates in `scripts/templates/new-service`, its Dockerfile and jest
 * and TypeScript settings copied from {@link REFERENCE_SERVICE}, one import and one entry in the
 * registry (and its workspace dependency), and, for a job type the contracts do not have, its
 * contract (`packages/contracts/src/<type>.ts`, a line in `JOB_CONTRACTS`, an export).
 *
 * Written with node-plop (Plop's engine: Handlebars templates and `add` actions) rather than by
 * hand: the templates stay files a reader can open. The registry and the contracts are changed by
 * actions of its own that refuse a file whose shape they do not find (node-plop's `modify` writes
 * the file back unchanged when its pattern matches nothing), and every check is made before
 * anything is written.
 *
 * @throws {NewServiceError} naming `name`, `queue`, `jobType`, or a file not of the shape expected
 */
export async function newService(options: NewServiceOptions): Promise<NewServiceResult> {
  const { rootDir, name, queue, jobType } = options;
  // The manifest's own rule: defineService refuses any other name.
  if (!NAME_PATTERN.test(name)) {
    throw new NewServiceError('name', `"${name}" is not kebab-case of 2 to 41 characters`);
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
  if (queue !== undefined && !NAME_PATTERN.test(queue)) {
    throw new NewServiceError('queue', `"${queue}" is not kebab-case of 2 to 41 characters`);
  }
  if (jobType !== undefined && !JOB_TYPE.test(jobType)) {
    throw new NewServiceError(
      'jobType',
      `"${jobType}" is not a dotted lower-case job type such as webhook.notify`,
    );
  }
  const camel = pascal(name).charAt(0).toLowerCase() + pascal(name).slice(1);
  const jobPascal = jobType === undefined ? undefined : pascal(jobType);
  const jobKebab = jobType?.replaceAll('.', '-');

  // Every file change worked out before anything is written: a refusal leaves the root as it was.
  const registry = await readFile(join(rootDir, REGISTRY), 'utf8');
  if (registry.includes(`'@sidestep/${name}/service'`) || new RegExp(`\\b${camel}\\b`).test(registry)) {
    throw new NewServiceError('name', `the registry names ${name} (or ${camel}) already`);
  }
  const changes = new Map<string, string>();
  changes.set(
    REGISTRY,
    insert(
      insert(
        registry,
        REGISTRY,
        // Before the registry's own module's import; biome puts it in order afterwards.
        /(\nimport \{ UnregisteredServiceError \})/,
        `\nimport { service as ${camel} } from '@sidestep/${name}/service';$1`,
      ),
      REGISTRY,
      // Last in the deploy order.
      /(export const SERVICES: readonly RegisteredService\[\] = \[[\s\S]*?)(\n\]\.map\()/,
      `$1\n  ${camel},$2`,
    ),
  );
  const registryPackage = JSON.parse(await readFile(join(rootDir, REGISTRY_PACKAGE), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  registryPackage.dependencies = Object.fromEntries(
    Object.entries({ ...registryPackage.dependencies, [`@sidestep/${name}`]: 'workspace:*' }).sort(
      ([a], [b]) => a.localeCompare(b),
    ),
  );
  changes.set(REGISTRY_PACKAGE, `${JSON.stringify(registryPackage, null, 2)}\n`);
  // The root's contracts, which may be another checkout than the one running this.
  const jobs = await readFile(join(rootDir, JOBS), 'utf8');
  const newJobType = jobType !== undefined && !jobs.includes(`'${jobType}':`);
  if (newJobType) {
    changes.set(
      JOBS,
      insert(
        insert(
          jobs,
          JOBS,
          /(\nimport \{ lazySchema \})/,
          `\nimport { ${jobPascal}Job } from './${jobKebab}.ts';$1`,
        ),
        JOBS,
        /(export const JOB_CONTRACTS = \{[\s\S]*?)(\n\} as const;)/,
        `$1\n  '${jobType}': { 1: ${jobPascal}Job },$2`,
      ),
    );
    const index = await readFile(join(rootDir, CONTRACTS_INDEX), 'utf8');
    changes.set(
      CONTRACTS_INDEX,
      `${index}export { ${jobPascal}Job, ${jobPascal}Payload } from './${jobKebab}.ts';\n`,
    );
  }

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
    add('build.ts', 'build.ts.hbs'),
    add('src/handler.ts', `${kind}-handler.ts.hbs`),
    add(`src/domain/${name}.ts`, `${kind}-domain.ts.hbs`),
    add('src/errors.ts', 'errors.ts.hbs'),
    add('tests/handler.test.ts', `${kind}-handler.test.ts.hbs`),
    add('tests/image.test.ts', 'image.test.ts.hbs'),
    ...(kind === 'task' ? [add('src/input.ts', 'task-input.ts.hbs')] : []),
    ...(newJobType
      ? [
          {
            type: 'add',
            path: `packages/contracts/src/${jobKebab}.ts`,
            templateFile: template('contract.ts.hbs'),
            abortOnFail: true,
          } satisfies ActionType,
        ]
      : []),
  ];
  const plop = await nodePlop(undefined, { destBasePath: rootDir, force: false });
  plop.setGenerator('service', { description: 'a sidestep service', prompts: [], actions });
  const data = { name, camel, pascal: pascal(name), queue, jobType, jobPascal, jobKebab };
  const { changes: added, failures } = await plop.getGenerator('service').runActions(data);
  if (failures.length > 0) {
    throw new Error(
      `new-service stopped: ${failures.map((failure) => `${failure.path}: ${failure.error}`).join('; ')}`,
    );
  }
  for (const file of BOILERPLATE) {
    const text = await readFile(join(rootDir, 'services', REFERENCE_SERVICE, file), 'utf8');
    await writeNew(join(rootDir, service, file), text.replaceAll(REFERENCE_SERVICE, name));
  }
  for (const [file, text] of changes) await writeFile(join(rootDir, file), text);
  // node-plop names a file it added by its path under the root, with a leading `/`.
  const created = added.map((change) =>
    (change.path.startsWith(rootDir) ? change.path.slice(rootDir.length) : change.path).replace(/^\//, ''),
  );
  return {
    created: [...created, ...BOILERPLATE.map((file) => `${service}/${file}`)].sort(),
    modified: [...changes.keys()],
    newJobType,
  };
}

/**
 * `text` with `pattern` replaced by `replacement`; a file where the pattern is not found (its shape
 * changed) is refused, naming it, rather than left as it was.
 */
function insert(text: string, file: string, pattern: RegExp, replacement: string): string {
  if (!pattern.test(text)) {
    throw new NewServiceError(
      file,
      `no ${pattern} in it: change it by hand (README, "Services") or mend the generator`,
    );
  }
  return text.replace(pattern, replacement);
}

/** Writes `text` to a file that must not exist yet. */
async function writeNew(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, text, { flag: 'wx' });
}
