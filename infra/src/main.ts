import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App } from 'cdktn';
import { environmentConfigs } from './config.ts';
import { checkSecurityPolicy } from './security-policy.ts';
import { DeployStack } from './stacks/deploy-stack.ts';
import { SidestepStack } from './stacks/sidestep-stack.ts';

// The cdktn CLI passes its output directory in CDKTF_OUTDIR; `pnpm run synth` writes to infra/cdktf.out.
const outdir = process.env.CDKTF_OUTDIR ?? fileURLToPath(new URL('../cdktf.out', import.meta.url));
const started = performance.now();
const app = new App({ outdir });
const configs = Object.values(environmentConfigs());
const stacks = [
  ...configs.map((config) => new SidestepStack(app, `sidestep-${config.name}`, { config })),
  // The deploy role of each AWS environment, applied once by an administrator (README, "Bootstrap").
  ...configs
    .filter((config) => config.name !== 'local')
    .map((config) => new DeployStack(app, `sidestep-${config.name}-deploy`, { config })),
];
app.synth();
const elapsed = performance.now() - started;

// The security policy gate: a stack that breaks a rule fails the synth, so it never reaches `apply`.
let failed = false;
for (const stack of stacks) {
  const file = join(outdir, 'stacks', stack.node.id, 'cdk.tf.json');
  for (const violation of checkSecurityPolicy(JSON.parse(readFileSync(file, 'utf8')))) {
    failed = true;
    console.error(`${stack.node.id}: ${violation.rule}: ${violation.address}: ${violation.message}`);
  }
}
console.log(
  `synthesized ${stacks.map((s) => s.node.id).join(', ')} into ${outdir} in ${elapsed.toFixed(0)} ms`,
);
if (failed) process.exitCode = 1;
