import { existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { TerraformOutput, TerraformStack, Testing } from 'cdktn';
import { removeOwnTmpdir, useOwnTmpdir } from '../jest.tmpdir.ts';
import { withTestingApp } from '../src/synth-stack.ts';

describe("the infra suite's temporary directory", () => {
  it("is the suite's own, so the directory cdktn's Testing.app() makes for each app goes with it", () => {
    const own = process.env.SIDESTEP_INFRA_TEST_TMPDIR;
    expect(own).toMatch(/sidestep-infra-tests-/);
    expect(tmpdir()).toBe(own);
    expect(Testing.app().outdir.startsWith(`${own}/cdktf.outdir.`)).toBe(true);
  });

  it("is made by jest's global setup and removed, with what was left in it, by its global teardown", async () => {
    const { default: jestConfig } = (await import(join(import.meta.dirname, '..', 'jest.config.js'))) as {
      default: unknown;
    };
    expect(jestConfig).toMatchObject({
      globalSetup: '<rootDir>/jest.tmpdir.ts',
      globalTeardown: '<rootDir>/jest.tmpdir-teardown.ts',
    });
    const saved = { ...process.env };
    try {
      const dir = useOwnTmpdir();
      expect(process.env.TMPDIR).toBe(dir);
      writeFileSync(join(dir, 'left-behind'), 'x');
      removeOwnTmpdir();
      expect(existsSync(dir)).toBe(false);
      expect(process.env.TMPDIR).toBe(saved.TMPDIR);
    } finally {
      process.env = saved;
    }
  });

  it("removes a testing app's output directory once withTestingApp's callback is done, the constructs still usable", () => {
    let outdir = '';
    const synthesized = withTestingApp((app) => {
      outdir = app.outdir;
      expect(existsSync(outdir)).toBe(true);
      const stack = new TerraformStack(app, 'probe');
      new TerraformOutput(stack, 'answer', { value: 42 });
      return stack;
    });
    expect(existsSync(outdir)).toBe(false);
    expect(synthesized.node.id).toBe('probe');
    expect(JSON.parse(Testing.synth(synthesized))).toMatchObject({ output: { answer: { value: 42 } } });
  });
});
