import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'cdktn';
import { type EnvironmentConfig, environmentConfigs } from './config.ts';
import { SidestepStack, type SidestepStackProps } from './stacks/sidestep-stack.ts';

/**
 * Synthesizes the `sidestep-local` stack in-process, as `pnpm --filter @sidestep/infra run synth`
 * does (same App, same stack id, same writer), and returns the text of its `cdk.tf.json`: what the
 * local cloud enforces IAM from. `props` replaces the services or tasks (a test dropping one
 * permission from a manifest); `config` another environment's (`sidestep-<name>`: what a deployed
 * function is given, for the cold-start bench).
 */
export function synthStack(
  props: Omit<SidestepStackProps, 'config'> = {},
  config: EnvironmentConfig = environmentConfigs().local,
): string {
  const outdir = mkdtempSync(join(tmpdir(), 'sidestep-synth-'));
  const id = `sidestep-${config.name}`;
  try {
    const app = new App({ outdir });
    new SidestepStack(app, id, { ...props, config });
    app.synth();
    return readFileSync(join(outdir, 'stacks', id, 'cdk.tf.json'), 'utf8');
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
