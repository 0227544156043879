import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { InvalidFunctionOptionError } from '../src/index.ts';
import { expectThirdPartyNotices, readLambdaDockerfile, stageLambdaImage } from '../src/testing.ts';

const packageDir = mkdtempSync(join(tmpdir(), 'lambda-image-package-'));
mkdirSync(join(packageDir, 'dist'));
// A split bundle: the entry imports a chunk, and the Dockerfile copies both with a glob.
writeFileSync(join(packageDir, 'dist/chunk-a.mjs'), "export const from = 'chunk';\n");
writeFileSync(
  join(packageDir, 'dist/index.mjs'),
  "import { from } from './chunk-a.mjs';\nexport const handler = async (event) => ({ event, from, service: process.env.POWERTOOLS_SERVICE_NAME, cwd: process.cwd() });\n",
);
writeFileSync(
  join(packageDir, 'Dockerfile'),
  `FROM public.ecr.aws/lambda/nodejs:24\nCOPY dist/*.mjs \${LAMBDA_TASK_ROOT}/\nCMD ["index.handler"]\n`,
);

afterAll(() => rmSync(packageDir, { recursive: true, force: true }));

describe('readLambdaDockerfile', () => {
  it('reads the base image, the files copied into the task root and the CMD handler', () => {
    expect(readLambdaDockerfile(packageDir)).toMatchObject({
      from: 'public.ecr.aws/lambda/nodejs:24',
      copiedFiles: ['dist/*.mjs'],
      cmd: 'index.handler',
    });
  });

  it('rejects a Dockerfile that copies nothing into the task root', () => {
    const other = mkdtempSync(join(tmpdir(), 'lambda-image-nocopy-'));
    writeFileSync(join(other, 'Dockerfile'), 'FROM public.ecr.aws/lambda/nodejs:24\nCOPY dist /app/\n');
    try {
      expect(() => readLambdaDockerfile(other)).toThrow(InvalidFunctionOptionError);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});

describe('stageLambdaImage', () => {
  it('runs the copied files (globs expanded as Docker does) from their own task root with the service name, and removes it on close', async () => {
    const image = stageLambdaImage(packageDir, { name: 'probe', handler: 'index.handler' });
    try {
      const fn = await image.start({ environment: {} });
      const result = await fn.invoke({ n: 1 });
      expect(result.ok && result.payload).toMatchObject({ event: { n: 1 }, from: 'chunk', service: 'probe' });
      expect(fn.name).toBe('sidestep-test-probe');
      expect(existsSync(join(image.taskRoot, 'index.mjs'))).toBe(true);
      expect(existsSync(join(image.taskRoot, 'chunk-a.mjs'))).toBe(true);
    } finally {
      await image.close();
    }
    expect(existsSync(image.taskRoot)).toBe(false);
  }, 30_000);
});

describe('expectThirdPartyNotices', () => {
  // A bundle's package whose metafile shows code of two packages (one scoped, both installed the
  // pnpm way) in the copied index.mjs, one more in a chunk left out of the image, and a task root
  // holding index.mjs and a notices file.
  const servicePackage = mkdtempSync(join(tmpdir(), 'lambda-image-notices-'));
  const store = 'node_modules/.pnpm/x@1/node_modules';
  for (const [name, version] of [
    ['plain-dep', '1.0.0'],
    ['@scope/scoped-dep', '2.3.4'],
  ]) {
    mkdirSync(join(servicePackage, store, name as string), { recursive: true });
    writeFileSync(
      join(servicePackage, store, name as string, 'package.json'),
      JSON.stringify({ name, version }),
    );
  }
  mkdirSync(join(servicePackage, 'dist'));
  writeFileSync(
    join(servicePackage, 'dist/meta.json'),
    JSON.stringify({
      outputs: {
        'dist/index.mjs': {
          inputs: {
            [`${store}/plain-dep/lib/a.js`]: { bytesInOutput: 10 },
            [`${store}/@scope/scoped-dep/index.js`]: { bytesInOutput: 20 },
            // Tree-shaken to nothing: no code of it in the image.
            [`${store}/shaken-away/index.js`]: { bytesInOutput: 0 },
            'src/handler.ts': { bytesInOutput: 30 },
          },
        },
        'dist/chunk-NOT-COPIED.mjs': { inputs: { [`${store}/not-copied/index.js`]: { bytesInOutput: 5 } } },
      },
    }),
  );
  const taskRoot = mkdtempSync(join(tmpdir(), 'lambda-image-notices-task-'));
  writeFileSync(join(taskRoot, 'index.mjs'), 'export const handler = async () => 1;\n');
  const notices = (...names: string[]) =>
    writeFileSync(
      join(taskRoot, 'THIRD-PARTY-NOTICES.txt'),
      names.map((name) => `${'='.repeat(80)}\n${name}\nLicence: MIT\n`).join('\n'),
    );
  afterAll(() => {
    for (const dir of [servicePackage, taskRoot]) rmSync(dir, { recursive: true, force: true });
  });

  it('passes when the notices name every package whose code is in the copied .mjs files', () => {
    notices('@scope/scoped-dep@2.3.4', 'plain-dep@1.0.0');
    expect(() => expectThirdPartyNotices(taskRoot, servicePackage)).not.toThrow();
  });

  it('fails naming a package the notices leave out, or name at another version', () => {
    notices('plain-dep@1.0.0');
    expect(() => expectThirdPartyNotices(taskRoot, servicePackage)).toThrow(/@scope\/scoped-dep@2\.3\.4/);
    notices('@scope/scoped-dep@2.3.3', 'plain-dep@1.0.0');
    expect(() => expectThirdPartyNotices(taskRoot, servicePackage)).toThrow(/@scope\/scoped-dep@2\.3\.4/);
  });

  it('fails when the task root has no notices file', () => {
    rmSync(join(taskRoot, 'THIRD-PARTY-NOTICES.txt'), { force: true });
    expect(() => expectThirdPartyNotices(taskRoot, servicePackage)).toThrow(/THIRD-PARTY-NOTICES\.txt/);
  });
});
