/** Account and region of the test's staging environment. */
export const STAGING_ACCOUNT = '123456789012';
export const STAGING_REGION = 'eu-west-1';

/**
 * Every staging `SIDESTEP_*` setting at a real-looking value (no placeholder left), for the preflight
 * and deploy-job tests; `secretName` varies the secret (Powertools caches a secret by its name).
 */
export function stagingSettings(secretName = 'sidestep-staging-database'): Record<string, string> {
  return {
    SIDESTEP_STAGING_ACCOUNT_ID: STAGING_ACCOUNT,
    SIDESTEP_STAGING_REGION: STAGING_REGION,
    SIDESTEP_STAGING_DATABASE_SECRET_ARN: `arn:aws:secretsmanager:${STAGING_REGION}:${STAGING_ACCOUNT}:secret:${secretName}-AbCdEf`,
    SIDESTEP_STAGING_TASK_SUBNET_IDS: 'subnet-0a1b2c3d',
    SIDESTEP_STAGING_TASK_SECURITY_GROUP_IDS: 'sg-0a1b2c3d',
    SIDESTEP_STAGING_STATE_BUCKET: 'acme-terraform-state',
    SIDESTEP_STAGING_MAIL_FROM: 'no-reply@mail.acme.dev',
    SIDESTEP_STAGING_MAIL_DOMAIN: 'mail.acme.dev',
    SIDESTEP_STAGING_NOTIFY_ADDRESS: 'ops@acme.dev',
  };
}
