import * as z from 'zod/mini';
import { JOB_CONTRACTS } from './jobs.ts';

/**
 * JSON Schema (draft 2020-12) of every job contract, for producers written in other languages.
 * Keyed by file name: `mail.send.v1.json`. `io: 'input'` describes what a producer may send
 * (optional fields with defaults stay optional).
 */
export function jobJsonSchemas(): Record<string, Record<string, unknown>> {
  const schemas: Record<string, Record<string, unknown>> = {};
  for (const [type, versions] of Object.entries(JOB_CONTRACTS)) {
    for (const [version, schema] of Object.entries(versions as Record<string, z.core.SomeType>)) {
      const jsonSchema = z.toJSONSchema(schema as z.core.$ZodType, { target: 'draft-2020-12', io: 'input' });
      schemas[`${type}.v${version}.json`] = {
        ...jsonSchema,
        $id: `https://sidestep.dev/schemas/${type}.v${version}.json`,
        title: `${type} v${version}`,
      };
    }
  }
  return schemas;
}
