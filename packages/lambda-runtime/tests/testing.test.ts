import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { InvalidFunctionOptionError } from '../src/index.ts';
import { readLambdaDockerfile, stageLambdaImage } from '../src/testing.ts';

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
