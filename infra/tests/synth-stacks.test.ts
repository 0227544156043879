import { describe, expect, it } from '@jest/globals';
import { App } from 'cdktn';
import { environmentConfigs, InfraConfigError, synthStack } from '../src/index.ts';
import { synthStacks } from '../src/synth-stacks.ts';
import { STAGING_SETTINGS } from './environment-fixture.ts';

/**
 * README, "First deploy", step 3: with `NETWORK=create` an administrator applies the environment
 * stack's network before the database (and so its secret) exists: DATABASE_SECRET_ARN is still its
 * placeholder then, which the deploy stack of an environment given its account refuses.
 */
const STEP_3: Readonly<Record<string, string | undefined>> = {
  ...STAGING_SETTINGS,
  SIDESTEP_STAGING_DATABASE_SECRET_ARN: undefined,
  SIDESTEP_STAGING_TASK_SUBNET_IDS: undefined,
  SIDESTEP_STAGING_TASK_SECURITY_GROUP_IDS: undefined,
  SIDESTEP_STAGING_NETWORK: 'create',
};

const ids = (names: readonly string[], env: Record<string, string | undefined> = {}) =>
  synthStacks(new App(), Object.values(environmentConfigs(env)), names).map((stack) => stack.node.id);

describe('synthStacks (`pnpm --filter @sidestep/infra run synth [stack ...]`)', () => {
  it('makes every environment stack and each AWS environment’s deploy stack when no stack is named', () => {
    expect(ids([])).toEqual([
      'sidestep-local',
      'sidestep-staging',
      'sidestep-production',
      'sidestep-staging-deploy',
      'sidestep-production-deploy',
    ]);
  });

  it('makes only the stacks named, in the order of all', () => {
    expect(ids(['sidestep-staging-deploy', 'sidestep-staging'])).toEqual([
      'sidestep-staging',
      'sidestep-staging-deploy',
    ]);
  });

  it('synthesizes the environment stack alone with the settings of the first deploy’s step 3, which all stacks refuse', () => {
    expect(() => ids([], STEP_3)).toThrow(
      /^staging\.databaseSecretArn: placeholder values cannot be deployed/,
    );
    expect(ids(['sidestep-staging'], STEP_3)).toEqual(['sidestep-staging']);
  });

  it('refuses a name that is no stack, naming it and the stacks there are, before making any', () => {
    const app = new App();
    let error: unknown;
    try {
      synthStacks(app, Object.values(environmentConfigs({})), ['sidestep-staging', 'sidestep-stagin']);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InfraConfigError);
    expect(error).toMatchObject({ field: 'synth.stacks' });
    expect(String((error as Error).message)).toBe(
      'synth.stacks: no stack named "sidestep-stagin": the stacks are sidestep-local, sidestep-staging, sidestep-production, sidestep-staging-deploy, sidestep-production-deploy',
    );
    expect(app.node.children).toEqual([]);
  });

  // The suites synthesize without them (jest.base.js sets CDKTN_DISABLE_CREATION_STACK unless set).
  it('writes the same stack with cdktn’s creation stacks as without them', () => {
    const setting = process.env.CDKTN_DISABLE_CREATION_STACK;
    try {
      process.env.CDKTN_DISABLE_CREATION_STACK = '1';
      const without = synthStack();
      delete process.env.CDKTN_DISABLE_CREATION_STACK;
      expect(synthStack()).toBe(without);
    } finally {
      if (setting === undefined) delete process.env.CDKTN_DISABLE_CREATION_STACK;
      else process.env.CDKTN_DISABLE_CREATION_STACK = setting;
    }
  });
});
