import * as z from 'zod/mini';
import { JOB_CONTRACTS } from './jobs.ts';

/**
 * What a url with zod's http(s) protocol rule (`z.url({ protocol: /^https?$/ })`) must look like, as a
 * JSON Schema `pattern`: `http://` or `https://`, then a host, no whitespace. Stricter than zod
 * (lower-case scheme, no whitespace even where `new URL` would encode or trim it, no user info, no
 * percent-encoded host, a port of at most 65535), so what it accepts zod accepts.
 */
/** A port `new URL` takes, 0 to 65535. */
const PORT = '(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})';
const HTTP_URL_PATTERN = `^https?://[^\\s/?#@:%]+(:${PORT})?([/?#]\\S*)?$`;

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
 * `pattern` with every end-of-input `$` written as `(?![\s\S])`. In ECMAScript without the `m` flag
 * the two are the same, so ajv and zod are unchanged; Python's `re`, which its jsonschema applies to
 * `pattern`, lets `$` also match just before a final newline (https://docs.python.org/3/library/re.html),
 * so a `$`-anchored id or address would pass a Python producer's check with a trailing LF and then be
 * refused by parseJob. zod's own patterns (email, datetime) end in `$` too, hence here and not in each
 * contract. A `$` escaped or inside a character class is a dollar sign and stays.
 */
function anchorEndOfInput(pattern: string): string {
  let anchored = '';
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i];
    if (char === '\\') {
      anchored += char + (pattern[i + 1] ?? '');
      i++;
    } else if (inClass) {
      anchored += char;
      if (char === ']') inClass = false;
    } else if (char === '[') {
      anchored += char;
      inClass = true;
    } else {
      anchored += char === '$' ? '(?![\\s\\S])' : char;
    }
  }
  return anchored;
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
        override: (ctx) => {
          stateUrlProtocol(ctx.zodSchema, ctx.jsonSchema);
          if (typeof ctx.jsonSchema.pattern === 'string') {
            ctx.jsonSchema.pattern = anchorEndOfInput(ctx.jsonSchema.pattern);
          }
        },
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
