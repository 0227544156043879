import { join } from 'node:path';
import { environmentConfigs } from '@sidestep/infra';
import { Command, Option } from 'commander';
import { StackNotSynthesizedError } from './errors.ts';
import type { PreflightClients } from './preflight-check.ts';
import { PREFLIGHT_ACTIONS, PREFLIGHT_CHECKS, runPreflightChecks } from './preflight-checks.ts';
import { formatPreflightTable } from './preflight-report.ts';
import type { SynthesizedStack } from './synthesized-stack.ts';

/** What the `preflight` command reaches outside itself through; tests pass stubs. */
export interface PreflightCommandDependencies {
  readonly rootDir: string;
  /** Where the `SIDESTEP_*` settings are read from (infra's `environmentConfigs`). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The AWS clients, in the environment's region. */
  readonly clients: (region: string) => PreflightClients;
  /** Reads a file; throws (ENOENT) when it does not exist. */
  readonly readFile: (path: string) => string;
  readonly out: (line: string) => void;
  readonly setExitCode: (code: number) => void;
}

interface PreflightOptions {
  readonly env: 'staging' | 'production';
  readonly stackDir?: string;
  readonly only?: string[];
  readonly json: boolean;
}

/**
 * The `pnpm preflight` command: read-only checks of what breaks a first deploy of an environment,
 * each with a verdict and a fix. Exit code 1 when any check fails; warnings alone exit 0.
 * Call `.parseAsync(argv)` on the result.
 */
export function preflightCommand(deps: PreflightCommandDependencies): Command {
  return new Command('preflight')
    .description(
      `Read-only checks of what breaks a deploy of an environment: placeholder settings, the Lambda concurrency quota, the Fargate vCPU quota, SES, the ECS service-linked role, bucket names, the database secret. Reads the SIDESTEP_* settings as infra does and the stack \`pnpm synth\` wrote; calls AWS with the default credentials (${PREFLIGHT_ACTIONS.join(', ')}). Exits 1 when a check fails.`,
    )
    .addOption(
      new Option('--env <environment>', 'the environment to check')
        .env('SIDESTEP_ENVIRONMENT')
        .choices(['staging', 'production'])
        .makeOptionMandatory(),
    )
    .option('--stack-dir <dir>', 'the synthesized stack (default: infra/cdktf.out/stacks/sidestep-<env>)')
    .addOption(
      new Option('--only <checks...>', 'run only these checks').choices(
        PREFLIGHT_CHECKS.map((check) => check.id),
      ),
    )
    .option('--json', 'print the results as JSON instead of a table', false)
    .action(async (options: PreflightOptions) => {
      // The deploy's synth-time refusal is this command's `placeholders` check: report it, not throw.
      const configs = environmentConfigs({ ...deps.env, SIDESTEP_DEPLOY_ENVIRONMENT: undefined });
      const config = configs[options.env];
      const stackFile = join(
        options.stackDir ?? join(deps.rootDir, 'infra', 'cdktf.out', 'stacks', `sidestep-${options.env}`),
        'cdk.tf.json',
      );
      let stack: SynthesizedStack | undefined;
      const readStack = (): SynthesizedStack => {
        if (stack) return stack;
        try {
          stack = JSON.parse(deps.readFile(stackFile)) as SynthesizedStack;
        } catch (error) {
          throw new StackNotSynthesizedError(stackFile, { cause: error });
        }
        return stack;
      };
      const checks = PREFLIGHT_CHECKS.filter((check) => !options.only || options.only.includes(check.id));
      const results = await runPreflightChecks(checks, {
        config,
        stack: readStack,
        clients: deps.clients(config.region),
      });
      const failed = results.some((result) => result.verdict === 'fail');
      deps.out(
        options.json
          ? JSON.stringify({ environment: config.name, ok: !failed, results }, null, 2)
          : formatPreflightTable(results),
      );
      deps.setExitCode(failed ? 1 : 0);
    });
}
