import * as z from 'zod/mini';
import { EmailAddress } from './email-address.ts';
import { envelope, SingleLine } from './envelope.ts';
import { lazySchema } from './lazy-schema.ts';

const JobId = /* @__PURE__ */ lazySchema(() =>
  z.string().check(z.minLength(1), z.maxLength(128), z.regex(/^[A-Za-z0-9._:-]+$/)),
);
const Rows = /* @__PURE__ */ lazySchema(() => z.int().check(z.minimum(0)));

/** The most rejected rows an `import.completed` mail lists; the jobs ledger keeps every one with the job. */
export const MAX_REJECTED_SAMPLES = 10;

/**
 * The longest `reason` of a failure mail (`import.failed`, `export.failed`), in characters (UTF-16
 * code units, as zod counts). A job failed with a longer reason could not be mailed, so the ledger's
 * `job.fail` request and `sidestep job fail` refuse one.
 */
export const MAX_FAILURE_REASON_LENGTH = 2000;

/**
 * One row an import left out: its line in the file, the column at fault (`row` for the record as a
 * whole) and why.
 *
 * @example { "line": 152, "field": "email", "reason": "not a valid email address" }
 */
export const RejectedRowSample = /* @__PURE__ */ lazySchema(() =>
  z.strictObject({
    line: z.int().check(z.minimum(1)),
    field: z.optional(z.string().check(z.minLength(1), z.maxLength(200))),
    reason: z.string().check(z.minLength(1), z.maxLength(500)),
  }),
);
export type RejectedRowSample = z.infer<typeof RejectedRowSample>;

/** Params of each mail template. A template is the contract: its params are all it may show. */
export const MailTemplateParams = {
  /**
   * `rows`: rows imported. `usersWritten`: the users those rows made new or changed (a nightly file
   * of 1,000 rows may change 3), null when the ledger does not know. `rejectedRows`: rows left out
   * (within the import's `MAX_REJECTED_ROWS`); `rejectedSamples`: the first of them (at most
   * {@link MAX_REJECTED_SAMPLES}) with their line and reason, the rest being kept with the job in the
   * jobs ledger. All optional, so a job queued before they existed still validates (its mail then
   * says nothing about them): a template grows by optional params, as `export.ready`'s
   * `downloadExpiresAt` did, not by a new envelope version.
   * @example { "jobId": "imp_01", "fileName": "users.csv", "rows": 299, "usersWritten": 12, "rejectedRows": 1, "rejectedSamples": [{ "line": 152, "field": "email", "reason": "not a valid email address" }] }
   */
  'import.completed': /* @__PURE__ */ lazySchema(() =>
    z.strictObject({
      jobId: JobId,
      fileName: SingleLine,
      rows: Rows,
      usersWritten: z.optional(z.nullable(Rows)),
      rejectedRows: z.optional(Rows),
      rejectedSamples: z.optional(z.array(RejectedRowSample).check(z.maxLength(MAX_REJECTED_SAMPLES))),
    }),
  ),
  /** @example { "jobId": "imp_01", "fileName": "users.csv", "reason": "missing column email" } */
  'import.failed': /* @__PURE__ */ lazySchema(() =>
    z.strictObject({
      jobId: JobId,
      fileName: SingleLine,
      reason: z.string().check(z.minLength(1), z.maxLength(MAX_FAILURE_REASON_LENGTH)),
    }),
  ),
  /**
   * `downloadExpiresAt`: until when the link works (ISO 8601); optional, so a job queued before the
   * param existed still validates (its mail then says nothing about expiry).
   * @example { "jobId": "exp_01", "rows": 1000, "downloadUrl": "https://example.com/exports/exp_01.csv.gz", "downloadExpiresAt": "2026-12-01T09:00:00.000Z" }
   */
  'export.ready': /* @__PURE__ */ lazySchema(() =>
    z.strictObject({
      jobId: JobId,
      rows: Rows,
      downloadUrl: z.url({ protocol: /^https?$/ }),
      downloadExpiresAt: z.optional(z.iso.datetime({ offset: true })),
    }),
  ),
  /** @example { "jobId": "exp_01", "reason": "database unavailable" } */
  'export.failed': /* @__PURE__ */ lazySchema(() =>
    z.strictObject({
      jobId: JobId,
      reason: z.string().check(z.minLength(1), z.maxLength(MAX_FAILURE_REASON_LENGTH)),
    }),
  ),
} as const;

export type MailTemplateName = keyof typeof MailTemplateParams;
// Pure, so a bundle that does not read the names drops the templates with it.
export const MAIL_TEMPLATE_NAMES = /* @__PURE__ */ Object.keys(MailTemplateParams) as MailTemplateName[];
export type MailTemplateParamsOf<T extends MailTemplateName> = z.infer<(typeof MailTemplateParams)[T]>;

/** Locales every template is written in. */
export const MAIL_LOCALES = ['en', 'ja'] as const;
export type MailLocale = (typeof MAIL_LOCALES)[number];
/** A mail locale, one of {@link MAIL_LOCALES}: the one schema of it every contract uses. */
export const MailLocaleSchema = /* @__PURE__ */ lazySchema(() => z.enum(MAIL_LOCALES));

/** Whether `value` is a locale every template is written in. */
export function isMailLocale(value: unknown): value is MailLocale {
  return (MAIL_LOCALES as readonly unknown[]).includes(value);
}

const commonPayload = {
  /** One address or a list (1-50), each of at most 254 characters (`MAX_EMAIL_LENGTH`). */
  to: /* @__PURE__ */ lazySchema(() =>
    z.union([EmailAddress, z.array(EmailAddress).check(z.minLength(1), z.maxLength(50))]),
  ),
  /** @default "en" */
  locale: /* @__PURE__ */ lazySchema(() => z._default(MailLocaleSchema, 'en')),
  /** Mails with the same key are sent once. @default the envelope id */
  idempotencyKey: /* @__PURE__ */ lazySchema(() =>
    z.optional(z.string().check(z.minLength(1), z.maxLength(256))),
  ),
  /** The job this mail is about, for correlation in logs. */
  jobId: /* @__PURE__ */ lazySchema(() => z.optional(JobId)),
};

function templatePayload<const T extends MailTemplateName>(template: T) {
  return z.strictObject({
    template: z.literal(template),
    params: MailTemplateParams[template],
    ...commonPayload,
  });
}

/** The payload of a `mail.send` job: which template, to whom, with which params. */
export const MailSendPayload = /* @__PURE__ */ lazySchema(() =>
  z.discriminatedUnion('template', [
    templatePayload('import.completed'),
    templatePayload('import.failed'),
    templatePayload('export.ready'),
    templatePayload('export.failed'),
  ]),
);
export type MailSendPayload = z.infer<typeof MailSendPayload>;
export type MailSendPayloadInput = z.input<typeof MailSendPayload>;

/**
 * A mail job on the mail queue.
 *
 * @example
 * ```json
 * { "type": "mail.send", "version": 1, "id": "0f8e6c1e-3c1b-4c39-9a53-8f0f3c2a9b1d",
 *   "createdAt": "2026-11-24T09:00:00.000Z",
 *   "payload": { "template": "import.completed", "to": "ops@example.com",
 *                "params": { "jobId": "imp_01", "fileName": "users.csv", "rows": 1000 } } }
 * ```
 */
export const MailSendJob = /* @__PURE__ */ lazySchema(() => envelope('mail.send', 1, MailSendPayload));
export type MailSendJob = z.infer<typeof MailSendJob>;
export type MailSendJobInput = z.input<typeof MailSendJob>;
