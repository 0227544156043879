import * as z from 'zod/mini';
import { JOB_CONTRACTS } from './jobs.ts';

/**
 * What a url with zod's http(s) protocol rule (`z.url({ protocol: /^https?$/ })`) must look like, as a
 * JSON Schema `pattern`: `http://` or `https://`, then a host, no whitespace. Stricter than zod
 * (lower-case scheme, no whitespace even where `new URL` would encode or trim it, no user info, no
 * percent-encoded host, a port of at most 65535), so what it accepts zod accepts. `(?![\s\S])` rather than `$`, as in `SingleLine`: Python's `re` lets
 * `$` match before a trailing newline.
 */
/** A port `new URL` takes, 0 to 65535. */
const PORT = '(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})';
const HTTP_URL_PATTERN = `^https?://[^\\s/?#@:%]+(:${PORT})?([/?#]\\S*)?(?![\\s\\S])`;

/**
 * toJSONSchema emits a url as `format: "uri"` alone: its protocol rule is code, not a keyword, and an
 * RFC 3986 URI may be `javascript:alert(1)`, `ftp://…` or `https://` without a host (Python's jsonschema
 * checks no format at all unless given a FormatChecker). So the rule is stated as a pattern. A url with
 * another protocol rule fails the build rather than being published without it.
 */
function stateUrlProtocol(zodSchema: z.core.$ZodType, jsonSchema: { pattern?: string }): void {
  const def = zodSchema._zod.def as { format?: unknown; protocol?: RegExp };
  if (def.format !== 'url' || def.protocol === undefined) return;
  if (def.protocol.source !== '^https?$') {
    throw new Error(`no JSON Schema pattern for a url with protocol ${String(def.protocol)}`);
  }
  jsonSchema.pattern = HTTP_URL_PATTERN;
}

/**
 * JSON Schema (draft 2020-12) of every job contract, for producers written in other languages.
 * Keyed by file name: `mail.send.v1.json`. `io: 'input'` describes what a producer may send
 * (optional fields with defaults stay optional). Refines are code and toJSONSchema drops them, so a
 * contract states its rules as checks toJSONSchema emits (`z.regex` becomes `pattern`); the tests
 * hold the committed schemas' verdicts to `parseJob`'s.
 */
export function jobJsonSchemas(): Record<string, Record<string, unknown>> {
  const schemas: Record<string, Record<string, unknown>> = {};
  for (const [type, versions] of Object.entries(JOB_CONTRACTS)) {
    for (const [version, schema] of Object.entries(versions as Record<string, z.core.SomeType>)) {
      const jsonSchema = z.toJSONSchema(schema as z.core.$ZodType, {
        target: 'draft-2020-12',
        io: 'input',
        override: (ctx) => stateUrlProtocol(ctx.zodSchema, ctx.jsonSchema),
      });
      schemas[`${type}.v${version}.json`] = {
        ...jsonSchema,
        $id: `https://sidestep.dev/schemas/${type}.v${version}.json`,
        title: `${type} v${version}`,
      };
    }
  }
  return schemas;
}
