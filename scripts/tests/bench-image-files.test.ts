import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { imageTaskRoot } from '../src/bench/image-files.ts';

const made: string[] = [];
/** The Dockerfile's own variable, not a template placeholder. */
const TASK_ROOT = '$' + '{LAMBDA_TASK_ROOT}';

afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A service package with a Dockerfile and a built dist/ (entry, a chunk, maps, the metafile). */
function servicePackage(dockerfile: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'bench-image-files-'));
  made.push(dir);
  mkdirSync(join(dir, 'dist'));
  const files: Record<string, string> = {
    'dist/index.mjs': 'export const handler = async () => (await import("./chunk-A.mjs")).x;',
    'dist/index.mjs.map': '{}',
    'dist/chunk-A.mjs': 'export const x = 1;',
    'dist/chunk-A.mjs.map': '{}',
    'dist/meta.json': '{}',
    Dockerfile: dockerfile,
  };
  for (const [file, content] of Object.entries(files)) writeFileSync(join(dir, file), content);
  return dir;
}

describe('imageTaskRoot', () => {
  it('copies exactly what the COPY globs match, read-only, with the ENV lines', () => {
    const root = imageTaskRoot(
      servicePackage(
        [
          'FROM public.ecr.aws/lambda/nodejs:24',
          'ENV NODE_OPTIONS=--enable-source-maps',
          'ENV NODE_EXTRA_CA_CERTS=/var/runtime/ca-cert.pem',
          `COPY dist/*.mjs dist/*.mjs.map ${TASK_ROOT}/`,
          'CMD ["index.handler"]',
        ].join('\n'),
      ),
    );
    made.push(root.dir);
    expect(root.files).toEqual([
      'dist/chunk-A.mjs',
      'dist/chunk-A.mjs.map',
      'dist/index.mjs',
      'dist/index.mjs.map',
    ]);
    expect(readdirSync(root.dir).sort()).toEqual([
      'chunk-A.mjs',
      'chunk-A.mjs.map',
      'index.mjs',
      'index.mjs.map',
    ]);
    expect(statSync(join(root.dir, 'index.mjs')).mode & 0o222).toBe(0);
    expect(readFileSync(join(root.dir, 'chunk-A.mjs'), 'utf8')).toBe('export const x = 1;');
    expect(root.javascriptBytes).toBe(
      statSync(join(root.dir, 'index.mjs')).size + statSync(join(root.dir, 'chunk-A.mjs')).size,
    );
    expect(root.environment).toEqual({ NODE_OPTIONS: '--enable-source-maps' });
    expect(Object.keys(root.leftOut)).toEqual(['NODE_EXTRA_CA_CERTS']);
  });

  it('copies only the files named when the COPY names files', () => {
    const root = imageTaskRoot(
      servicePackage(`FROM x\nCOPY dist/index.mjs ${TASK_ROOT}/\nCMD ["index.handler"]\n`),
    );
    made.push(root.dir);
    expect(readdirSync(root.dir)).toEqual(['index.mjs']);
  });

  it('refuses a Dockerfile without a COPY into the task root', () => {
    expect(() => imageTaskRoot(servicePackage('FROM x\nCOPY dist/ /app/\n'))).toThrow(/LAMBDA_TASK_ROOT/);
  });
});
