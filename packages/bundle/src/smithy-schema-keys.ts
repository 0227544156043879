import { readFile } from 'node:fs/promises';
import type { Plugin } from 'esbuild';

/**
 * The AWS SDK's generated operation schemas (`@aws-sdk/client-<service>/dist-es/schemas/schemas_0.js`,
 * and the nested clients' under `submodules/<client>/schemas/`), rewritten as they are read so that
 * esbuild can drop the schemas of the operations a bundle never sends.
 *
 * Why: since @aws-sdk 3.930 each client describes its operations as arrays with trait objects whose
 * keys are computed from the file's string constants (`const _hH = "httpHeader"; ... { [_hH]: _CT }`).
 * esbuild treats a computed key as a possible side effect (it could run a getter or `toString`), so
 * it keeps every schema of the file: the whole S3 model (~64 KiB minified) in a bundle that sends six
 * commands. Reported upstream as aws/aws-sdk-js-v3#7607; the codegen fix is
 * smithy-lang/smithy-typescript#1889 (literal trait keys), not released in the SDK this repo installs.
 * This plugin applies the same change to the generated file: a key `[_x]` whose `_x` is one of the
 * file's `const _x = "...";` strings becomes that string literal. The objects are the same (a test
 * evaluates every installed schemas file both ways and compares), and once the SDK ships literal keys
 * the plugin finds none to change. Measured (2026-12-04): the export-finalizer's cold start loads
 * 375.6 KiB instead of 425.3 KiB.
 */
export const smithySchemaKeysPlugin: Plugin = {
  name: 'sidestep-smithy-schema-keys',
  setup(esbuild) {
    esbuild.onLoad({ filter: SMITHY_SCHEMAS }, async (args) => ({
      contents: literalSchemaKeys(await readFile(args.path, 'utf8')),
      loader: 'js',
    }));
  },
};

/** A generated schemas file of an AWS SDK client, as esbuild names the path it loads. */
export const SMITHY_SCHEMAS = /[\\/]@aws-sdk[\\/].+[\\/]dist-es[\\/](?:.+[\\/])?schemas[\\/]schemas_\d+\.js$/;

/** `const _hH = "httpHeader";`: a string constant of a generated schemas file (one per line). */
const STRING_CONSTANT = /^const (_\w+) = ("(?:[^"\\\n]|\\.)*");$/gm;
/** `[_hH]:`: a computed key naming one identifier. */
const COMPUTED_KEY = /\[(_\w+)\]:/g;

/**
 * `source` with every computed key `[_x]:` whose `_x` is a string constant of the file replaced by
 * that string's literal (`"httpHeader":`); any other computed key is left as it is, and so is one
 * naming `"__proto__"`, which as a literal key would set the object's prototype instead of a property.
 */
export function literalSchemaKeys(source: string): string {
  const strings = new Map<string, string>();
  for (const [, name, literal] of source.matchAll(STRING_CONSTANT)) strings.set(name!, literal!);
  return source.replace(COMPUTED_KEY, (key, name: string) => {
    const literal = strings.get(name);
    return literal === undefined || literal === '"__proto__"' ? key : `${literal}:`;
  });
}
