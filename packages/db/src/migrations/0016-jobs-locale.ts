import type { Migration } from '../migration.ts';

/**
 * The language of a job's mails (`en`, `ja`: `MAIL_LOCALES` of @sidestep/contracts), kept from its
 * register: an export's request's `locale`, an import's environment notify locale, as its workflow
 * passes it. The job-sweeper and `sidestep job fail` write it into the failure mail they send in
 * the workflow's place, so that mail is the very payload the workflow queues under the same key
 * when it comes back and fails the job itself; without it their mail was English and the
 * workflow's `ja` copy was refused by the mail-dispatcher (`IdempotencyKeyReusedError`, to the DLQ).
 *
 * Null means `en`: every existing row, and a job registered by the previous release's workflow,
 * which named no locale, nor did its mails. Not constrained here: the status-updater validates it
 * against the contract, and a new locale needs no migration. A hand-over (retry) leaves it as it
 * is: it is the job's, not an attempt's. Added columns with no default rewrite no rows; the
 * transaction records the migration with them, so there is nothing to make idempotent.
 */
export const jobsLocale: Migration = {
  version: 16,
  name: 'jobs-locale',
  sql: `
    ALTER TABLE jobs ADD COLUMN locale text;
  `,
};
