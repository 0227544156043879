import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Testing } from 'cdktn';
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

/**
 * Runs `use` with cdktn's `Testing.app()` and removes the app's output directory after it: cdktn
 * makes one under the temporary directory for every such app (`cdktf.outdir.*`) and never removes
 * it. For the suites that synthesize stacks outside the infra package (its own suite runs in a
 * temporary directory of its own, removed after it). The constructs `use` returns stay usable.
 */
export function withTestingApp<T>(use: (app: App) => T): T {
  const app = Testing.app();
  try {
    return use(app);
  } finally {
    rmSync(app.outdir, { recursive: true, force: true });
  }
}
