import * as z from 'zod/mini';
import { lazySchema } from './lazy-schema.ts';

/**
 * Text that ends up in a mail header or a log line: one line, no control characters. CR/LF in a
 * header value is header injection, so it is refused at the contract, before any renderer runs.
 */
export const SingleLine = /* @__PURE__ */ lazySchema(() =>
  z.string().check(
    z.minLength(1),
    z.maxLength(1000),
    // A regex, not a refine: toJSONSchema emits it as `pattern`, so the published schema refuses what
    // this refuses (it drops refines; jobJsonSchemas writes its `$` for Python's `re`).
    // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
    z.regex(/^[^\u0000-\u001f\u007f]*$/, {
      message: 'must be one line without control characters (CR/LF would allow header injection)',
    }),
  ),
);

/** An envelope id: the producer's id for the message, also the default idempotency key. */
export const EnvelopeId = /* @__PURE__ */ lazySchema(() =>
  z.string().check(z.minLength(1), z.maxLength(128), z.regex(/^[A-Za-z0-9._:-]+$/)),
);

/**
 * Every sidestep message is an envelope `{ type, version, id, createdAt?, payload }`.
 * `type` says what the job is, `version` which shape its payload has; both are literals, so a
 * consumer knows exactly what it received and old producers keep working while a new version rolls out.
 */
export function envelope<
  const Type extends string,
  const Version extends number,
  Payload extends z.core.$ZodType,
>(type: Type, version: Version, payload: Payload) {
  return z.strictObject({
    type: z.literal(type),
    version: z.literal(version),
    id: EnvelopeId,
    createdAt: z.optional(z.iso.datetime({ offset: true })),
    payload,
  });
}
