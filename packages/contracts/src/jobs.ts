import { randomUUID } from 'node:crypto';
import * as z from 'zod/mini';
import { ContractValidationError } from './contract-validation-error.ts';
import { ExportRequestedJob } from './export.ts';
import { lazySchema } from './lazy-schema.ts';
import { MailSendJob } from './mail.ts';

/**
 * Every job contract, by `type` and `version`. A new job type or version is one line here; the
 * producer, the handlers and the exported JSON Schemas all read this registry.
 */
export const JOB_CONTRACTS = {
  'mail.send': { 1: MailSendJob },
  'export.requested': { 1: ExportRequestedJob },
} as const;

export type JobType = keyof typeof JOB_CONTRACTS;
type ContractsOf<T extends JobType> = (typeof JOB_CONTRACTS)[T];
export type JobVersion<T extends JobType> = keyof ContractsOf<T> & number;
/** A parsed job of one type and version. */
export type Job<T extends JobType = JobType, V extends JobVersion<T> = JobVersion<T>> = z.infer<
  ContractsOf<T>[V] & z.core.$ZodType
>;
/** What a producer writes before defaults are applied. */
export type JobInput<T extends JobType = JobType, V extends JobVersion<T> = JobVersion<T>> = z.input<
  ContractsOf<T>[V] & z.core.$ZodType
>;
/** The payload a producer writes for a job type and version. */
export type JobPayloadInput<T extends JobType = JobType, V extends JobVersion<T> = JobVersion<T>> =
  JobInput<T, V> extends { payload: infer P } ? P : never;

/** Validates `value` against `schema`; throws {@link ContractValidationError} naming the field. */
export function validate<S extends z.core.$ZodType>(schema: S, value: unknown): z.infer<S> {
  const result = z.safeParse(schema, value);
  if (!result.success) throw ContractValidationError.fromZod(result.error.issues);
  return result.data as z.infer<S>;
}

const EnvelopeHead = /* @__PURE__ */ lazySchema(() => z.object({ type: z.string(), version: z.number() }));

/** The contract for an envelope's `type` and `version`, or a ContractValidationError naming which is unknown. */
export function contractFor(value: unknown): z.core.$ZodType {
  const head = z.safeParse(EnvelopeHead, value);
  if (!head.success) throw ContractValidationError.fromZod(head.error.issues);
  const versions = (JOB_CONTRACTS as Record<string, Record<number, z.core.$ZodType> | undefined>)[
    head.data.type
  ];
  if (!versions) {
    throw new ContractValidationError([
      {
        field: 'type',
        message: `unknown job type "${head.data.type}"; known: ${Object.keys(JOB_CONTRACTS).join(', ')}`,
      },
    ]);
  }
  const schema = versions[head.data.version];
  if (!schema) {
    throw new ContractValidationError([
      {
        field: 'version',
        message: `unknown version ${head.data.version} of "${head.data.type}"; known: ${Object.keys(versions).join(', ')}`,
      },
    ]);
  }
  return schema;
}

/** Parses any sidestep envelope against the contract its `type` and `version` name. */
export function parseJob(value: unknown): Job {
  return validate(contractFor(value), value) as Job;
}

/**
 * Builds an envelope with a fresh id and `createdAt`, and validates it.
 *
 * @example createJob('mail.send', 1, { template: 'export.failed', to: 'a@example.com', params: { jobId: 'e1', reason: 'x' } })
 */
export function createJob<T extends JobType, V extends JobVersion<T>>(
  type: T,
  version: V,
  payload: JobPayloadInput<T, V>,
  options: { id?: string; createdAt?: Date } = {},
): Job<T, V> {
  const envelope = {
    type,
    version,
    id: options.id ?? randomUUID(),
    createdAt: (options.createdAt ?? new Date()).toISOString(),
    payload,
  };
  return validate(contractFor(envelope), envelope) as Job<T, V>;
}
