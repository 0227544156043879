import type { App, TerraformStack } from 'cdktn';
import type { EnvironmentConfig } from './config.ts';
import { InfraConfigError } from './errors.ts';
import { DeployStack } from './stacks/deploy-stack.ts';
import { SidestepStack } from './stacks/sidestep-stack.ts';

/**
 * The stacks `pnpm --filter @sidestep/infra run synth [stack ...]` makes in `app`: every environment's
 * stack (`sidestep-<env>`) and each AWS environment's deploy stack (`sidestep-<env>-deploy`, applied
 * once by an administrator: README, "Bootstrap"), or only those `names` names. A stack not named is
 * not made, so what it would refuse does not stop the others: the first deploy's step 3 applies the
 * environment stack's network before the database and its secret exist, when the deploy stack of an
 * environment given its account still refuses the placeholder secret ARN.
 *
 * @throws {InfraConfigError} (`synth.stacks`) a name that is no stack, before any stack is made; or
 *   what a stack named refuses of its config.
 */
export function synthStacks(
  app: App,
  configs: readonly EnvironmentConfig[],
  names: readonly string[] = [],
): TerraformStack[] {
  const stacks = new Map<string, (id: string) => TerraformStack>([
    ...configs.map(
      (config) =>
        [`sidestep-${config.name}`, (id: string) => new SidestepStack(app, id, { config })] as const,
    ),
    ...configs
      .filter((config) => config.name !== 'local')
      .map(
        (config) =>
          [`sidestep-${config.name}-deploy`, (id: string) => new DeployStack(app, id, { config })] as const,
      ),
  ]);
  const unknown = names.filter((name) => !stacks.has(name));
  if (unknown.length > 0) {
    throw new InfraConfigError(
      'synth.stacks',
      `no stack named ${unknown.map((name) => JSON.stringify(name)).join(', ')}: the stacks are ${[...stacks.keys()].join(', ')}`,
    );
  }
  return [...stacks].filter(([id]) => names.length === 0 || names.includes(id)).map(([id, make]) => make(id));
}
