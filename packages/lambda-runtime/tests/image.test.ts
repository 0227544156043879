import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { InvalidFunctionOptionError, stageTaskRoot } from '../src/index.ts';

/** The Dockerfile's own variable, not a template placeholder. */
const TASK_ROOT = '$' + '{LAMBDA_TASK_ROOT}';
const made: string[] = [];

afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A service package with a built dist/ and `dockerfile`. */
function servicePackage(dockerfile: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'lambda-image-stage-'));
  made.push(dir);
  mkdirSync(join(dir, 'dist'));
  writeFileSync(join(dir, 'dist/index.mjs'), 'export const handler = async () => 1;\n');
  // What a build step of the image writes into the task root, with what it sees of its environment.
  writeFileSync(
    join(dir, 'dist/build-step.mjs'),
    [
      "import { mkdirSync, writeFileSync } from 'node:fs';",
      "mkdirSync(process.env.LAMBDA_TASK_ROOT + '/made', { recursive: true });",
      "writeFileSync(process.env.LAMBDA_TASK_ROOT + '/made/by-step.json', JSON.stringify({ argv: process.argv.slice(2), cwd: process.cwd(), gcExposed: typeof globalThis.gc === 'function', imageVariable: process.env.IMAGE_VARIABLE ?? null, hostVariable: process.env.HOST_ONLY_VARIABLE ?? null }));",
      "if (process.argv[2] === 'fail') { process.stderr.write('the step failed on purpose\\n'); process.exit(3); }",
    ].join('\n'),
  );
  writeFileSync(join(dir, 'Dockerfile'), dockerfile);
  return dir;
}

describe('stageTaskRoot', () => {
  it("runs the Dockerfile's RUN node steps in the staged task root, as the image build does, then makes every file read-only", () => {
    process.env.HOST_ONLY_VARIABLE = 'not in the image';
    try {
      const packageDir = servicePackage(
        [
          'FROM public.ecr.aws/lambda/nodejs:24',
          'ENV IMAGE_VARIABLE=from-the-image',
          `COPY dist/*.mjs ${TASK_ROOT}/`,
          `RUN node --expose-gc ${TASK_ROOT}/build-step.mjs first`,
          'CMD ["index.handler"]',
        ].join('\n'),
      );
      const root = stageTaskRoot(packageDir);
      made.push(root.dir);
      expect(root.files).toEqual(['dist/build-step.mjs', 'dist/index.mjs']);
      expect(JSON.parse(readFileSync(join(root.dir, 'made/by-step.json'), 'utf8'))).toEqual({
        argv: ['first'],
        cwd: root.dir,
        gcExposed: true,
        imageVariable: 'from-the-image',
        hostVariable: null,
      });
      for (const file of ['index.mjs', 'build-step.mjs', 'made/by-step.json'])
        expect(statSync(join(root.dir, file)).mode & 0o222).toBe(0);
    } finally {
      delete process.env.HOST_ONLY_VARIABLE;
    }
  });

  it('fails, naming the step and its output, when a RUN step fails, and leaves no task root behind', () => {
    const before = readdirSync(tmpdir()).filter((name) => name.startsWith('lambda-image-stage-'));
    const packageDir = servicePackage(
      `FROM x\nCOPY dist/*.mjs ${TASK_ROOT}/\nRUN node ${TASK_ROOT}/build-step.mjs fail\n`,
    );
    const staging = () => stageTaskRoot(packageDir);
    expect(staging).toThrow(InvalidFunctionOptionError);
    expect(staging).toThrow(/RUN node .*build-step\.mjs fail failed \(exit 3\): the step failed on purpose/);
    const after = readdirSync(tmpdir()).filter((name) => name.startsWith('lambda-image-stage-'));
    // Only the package itself (made above) is new: no staged task root is left.
    expect(after.length).toBe(before.length + 1);
  });

  it('refuses a RUN step it cannot run without Docker, and any instruction it cannot build', () => {
    const cases: Array<[string, RegExp]> = [
      [
        'RUN apt-get install -y curl',
        /RUN apt-get install -y curl cannot be built without Docker: .*only a plain `RUN node \.\.\.` step/,
      ],
      [`RUN node ${TASK_ROOT}/build-step.mjs && rm -rf /`, /only a plain `RUN node \.\.\.` step/],
      [
        'USER node',
        /USER node cannot be built without Docker: .*FROM, ENV, one COPY into the task root, RUN node \.\.\. and CMD/,
      ],
      ['workdir /elsewhere', /workdir \/elsewhere cannot be built/],
      [`COPY dist/index.mjs ${TASK_ROOT}/again/`, /one COPY \(one stage, one COPY into the task root\)/],
      ['ENV A B', /only `ENV <name>=<value>`/],
      ['ENV A="quoted"', /a value free of quotes/],
      ['ENV A=$HOME/x', /a value free of quotes, `\$`/],
      [`RUN node ${TASK_ROOT}/build-step.mjs # a note`, /only a plain `RUN node \.\.\.` step/],
      ['FROM y AS second', /one FROM \(one stage/],
    ];
    for (const [line, message] of cases) {
      const packageDir = servicePackage(`FROM x\nCOPY dist/*.mjs ${TASK_ROOT}/\n${line}\n`);
      expect(() => stageTaskRoot(packageDir)).toThrow(message);
    }
  });

  it('keeps who may read a file a step wrote: one only its writer may read stays so, as in the image', () => {
    const packageDir = servicePackage(
      `FROM x\nCOPY dist/*.mjs ${TASK_ROOT}/\nRUN node ${TASK_ROOT}/build-step.mjs private\n`,
    );
    // The step's own file is written 0600 (its writer only), the copied bundle 0644.
    writeFileSync(
      join(packageDir, 'dist/build-step.mjs'),
      "import { writeFileSync } from 'node:fs';\nwriteFileSync(process.env.LAMBDA_TASK_ROOT + '/private.bin', 'x', { mode: 0o600 });\n",
    );
    const root = stageTaskRoot(packageDir);
    made.push(root.dir);
    expect(statSync(join(root.dir, 'private.bin')).mode & 0o777).toBe(0o400);
    expect(statSync(join(root.dir, 'index.mjs')).mode & 0o777).toBe(0o444);
    expect(statSync(root.dir).mode & 0o777).toBe(0o755);
  });

  it('runs a step with the ENV lines above it only, as a build does, and a lowercase run too', () => {
    const packageDir = servicePackage(
      [
        'FROM x',
        `COPY dist/*.mjs ${TASK_ROOT}/`,
        `run node ${TASK_ROOT}/build-step.mjs`,
        'ENV IMAGE_VARIABLE=set-after-the-step',
      ].join('\n'),
    );
    const root = stageTaskRoot(packageDir);
    made.push(root.dir);
    expect(JSON.parse(readFileSync(join(root.dir, 'made/by-step.json'), 'utf8'))).toMatchObject({
      imageVariable: null,
    });
    expect(root.environment).toEqual({ IMAGE_VARIABLE: 'set-after-the-step' });
  });
});
