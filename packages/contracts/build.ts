// Writes the JSON Schemas of every job contract to schemas/ (committed; a test fails on drift).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jobJsonSchemas } from './src/json-schemas.ts';

const dir = join(import.meta.dirname, 'schemas');
mkdirSync(dir, { recursive: true });
for (const [file, schema] of Object.entries(jobJsonSchemas())) {
  writeFileSync(join(dir, file), `${JSON.stringify(schema, null, 2)}\n`);
}
