// `pnpm preflight --env staging`: read-only checks of what breaks a deploy, each with a fix.
// `pnpm preflight --help` for the options.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IAMClient } from '@aws-sdk/client-iam';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { preflightCommand } from './src/preflight/preflight-command.ts';
import { runCommand } from './src/run-command.ts';

const command = preflightCommand({
  rootDir: join(import.meta.dirname, '..'),
  env: process.env,
  clients: (region) => {
    // The database secret is read the way the services read it (the runtime's Powertools provider),
    // whose client takes its region from AWS_REGION: the environment's, as on Lambda.
    process.env.AWS_REGION = region;
    return {
      lambda: new LambdaClient({ region }),
      sesv2: new SESv2Client({ region }),
      iam: new IAMClient({ region }),
      s3: new S3Client({ region }),
      secretsManager: new SecretsManagerClient({ region }),
      serviceQuotas: new ServiceQuotasClient({ region }),
    };
  },
  readFile: (path) => readFileSync(path, 'utf8'),
  out: (line) => process.stdout.write(`${line}\n`),
  setExitCode: (code) => {
    process.exitCode = code;
  },
});

await runCommand(command);
