import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App } from 'cdktn';
import { environmentConfigs } from './config.ts';
import { checkSecurityPolicy } from './security-policy.ts';
import { synthStacks } from './synth-stacks.ts';

// The cdktn CLI passes its output directory in CDKTF_OUTDIR; `pnpm run synth` writes to infra/cdktf.out.
const outdir = process.env.CDKTF_OUTDIR ?? fileURLToPath(new URL('../cdktf.out', import.meta.url));
const started = performance.now();
const app = new App({ outdir });
// Every stack, or the stacks the arguments name (`pnpm --filter @sidestep/infra run synth sidestep-staging`).
const stacks = synthStacks(app, Object.values(environmentConfigs()), process.argv.slice(2));
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
