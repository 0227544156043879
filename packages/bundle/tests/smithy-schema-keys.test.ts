import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { describe, expect, it } from '@jest/globals';
import { build } from 'esbuild';
import { literalSchemaKeys, SMITHY_SCHEMAS, smithySchemaKeysPlugin } from '../src/smithy-schema-keys.ts';

const bundlePackageDir = dirname(dirname(fileURLToPath(import.meta.url)));
const pnpmStore = join(bundlePackageDir, '..', '..', 'node_modules', '.pnpm');

/**
 * Every generated schemas file of the AWS SDK clients installed in the workspace, read once: pnpm
 * keeps one copy per version, and the same text under several versions is checked once.
 */
function installedSchemaFiles(): { path: string; source: string }[] {
  const paths = readdirSync(pnpmStore)
    .filter((entry) => entry.startsWith('@aws-sdk+'))
    .flatMap((entry) => {
      const scope = join(pnpmStore, entry, 'node_modules', '@aws-sdk');
      return readdirSync(scope).flatMap((name) => {
        const distEs = join(scope, name, 'dist-es');
        if (!existsSync(distEs)) return [];
        return readdirSync(distEs, { recursive: true, encoding: 'utf8' }).map((path) => join(distEs, path));
      });
    })
    .filter((path) => SMITHY_SCHEMAS.test(path))
    .sort();
  const bySource = new Map<string, string>();
  for (const path of paths) {
    const source = readFileSync(path, 'utf8');
    if (!bySource.has(source)) bySource.set(source, path);
  }
  return [...bySource].map(([source, path]) => ({ path, source }));
}

/**
 * The exports of a generated schemas module, evaluated with its imports stubbed (`TypeRegistry`
 * records what is registered; every other import is a named stub), as plain data: a thunk
 * (`() => GetObjectOutput$`) is called and a value that is another export is written as its name,
 * which also ends the walk where the schemas refer to each other in a cycle.
 */
async function evaluateSchemas(source: string, identifier: string): Promise<unknown> {
  const stubs = new Map<unknown, string>();
  class TypeRegistry {
    readonly entries: unknown[] = [];
    readonly namespace: string;
    constructor(namespace: string) {
      this.namespace = namespace;
    }
    registerError(schema: unknown, errorClass: unknown): void {
      this.entries.push([schema, errorClass]);
    }
  }
  stubs.set(TypeRegistry, 'TypeRegistry');
  const imports = new Map<string, string[]>();
  for (const [, list, specifier] of source.matchAll(/^import \{([^}]*)\} from "([^"]+)";$/gm)) {
    imports.set(
      specifier!,
      list!
        .split(',')
        .map((name) => name.trim())
        .filter(Boolean),
    );
  }
  const module = new vm.SourceTextModule(source, { identifier });
  await module.link(async (specifier) => {
    const names = imports.get(specifier) ?? [];
    return new vm.SyntheticModule(names, function (this: vm.SyntheticModule) {
      for (const name of names) {
        const value = name === 'TypeRegistry' ? TypeRegistry : class {};
        if (value !== TypeRegistry) Object.defineProperty(value, 'name', { value: name });
        stubs.set(value, `${specifier}#${name}`);
        this.setExport(name, value);
      }
    });
  });
  await module.evaluate();
  const namespace = module.namespace as Record<string, unknown>;
  const exportNames = new Map<unknown, string>();
  for (const [name, value] of Object.entries(namespace)) {
    if (typeof value === 'object' && value !== null) exportNames.set(value, name);
  }
  // Shared values are written once and then by the order they were first met, the same both ways.
  const seen = new Map<unknown, number>();
  const walk = (value: unknown, root: boolean): unknown => {
    if (typeof value === 'function') {
      const stub = stubs.get(value);
      return stub === undefined ? { thunk: walk((value as () => unknown)(), false) } : { stub };
    }
    if (typeof value !== 'object' || value === null) return value;
    const name = exportNames.get(value);
    if (!root && name !== undefined) return { ref: name };
    const met = seen.get(value);
    if (met !== undefined) return { seen: met };
    seen.set(value, seen.size);
    if (value instanceof TypeRegistry)
      return { registry: value.namespace, entries: walk(value.entries, false) };
    return Array.isArray(value)
      ? value.map((item) => walk(item, false))
      : Object.fromEntries(Object.entries(value).map(([key, item]) => [key, walk(item, false)]));
  };
  return Object.fromEntries(Object.entries(namespace).map(([name, value]) => [name, walk(value, true)]));
}

describe('literalSchemaKeys', () => {
  it("replaces a computed key naming one of the file's string constants by the string's literal", () => {
    const source = [
      'const _hH = "httpHeader";',
      'const _q = "quoted \\"name\\"";',
      'const n0 = "com.amazonaws.s3";',
      'export var A$ = [3, n0, _q, { [_hH]: _q, [_q]: 1, [n0]: 2, [other]: 3 }, [_hH], [() => A$]];',
    ].join('\n');
    expect(literalSchemaKeys(source).split('\n').at(-1)).toBe(
      // `n0` is not an underscore constant of the generator's string store, `other` not a constant at
      // all, and `[_hH]` with no colon is an array, not a key: those stay.
      'export var A$ = [3, n0, _q, { "httpHeader": _q, "quoted \\"name\\"": 1, [n0]: 2, [other]: 3 }, [_hH], [() => A$]];',
    );
  });

  it('leaves a key naming "__proto__" computed: as a literal it would set the prototype', () => {
    const source = 'const _p = "__proto__";\nexport var A$ = [{ [_p]: 1 }];';
    expect(literalSchemaKeys(source)).toBe(source);
    const evaluate = (code: string) => new Function(`${code.replace('export ', '')}; return A$[0];`)();
    expect(Object.keys(evaluate(literalSchemaKeys(source)))).toEqual(['__proto__']);
  });

  it('leaves a file without computed keys as it is', () => {
    const source = 'const _e = "error";\nexport var E$ = [-3, "n", "E", { "error": _e }, [], []];\n';
    expect(literalSchemaKeys(source)).toBe(source);
  });

  // The rewrite must not change what any installed client describes: each generated schemas file of
  // the workspace's AWS SDK (S3, SQS, SES, Secrets Manager, the nested STS/SSO clients...) evaluated
  // as published and as rewritten gives the same schemas, errors and registries.
  const files = installedSchemaFiles();
  it('finds the installed clients’ schemas files, and computed keys in them to rewrite', () => {
    expect(files.length).toBeGreaterThanOrEqual(5);
    // The nested clients' (the credential providers' STS, SSO, ...) are a level deeper.
    expect(files.map(({ path }) => path)).toContainEqual(
      expect.stringMatching(/[\\/]dist-es[\\/]submodules[\\/][\w-]+[\\/]schemas[\\/]schemas_\d+\.js$/),
    );
    const s3 = files.find((file) => file.path.includes('/@aws-sdk/client-s3/'));
    expect(s3).toBeDefined();
    const source = s3?.source ?? '';
    expect(literalSchemaKeys(source)).not.toBe(source);
    expect(literalSchemaKeys(source)).not.toMatch(/\[_\w+\]:/);
  });

  it.each(files.map(({ path, source }) => [path.slice(pnpmStore.length + 1), path, source]))(
    'describes the same schemas after the rewrite: %s',
    async (_name, path, source) => {
      const published = await evaluateSchemas(source, `${path}?published`);
      const rewritten = await evaluateSchemas(literalSchemaKeys(source), `${path}?rewritten`);
      expect(Object.keys(published as object).length).toBeGreaterThan(0);
      expect(rewritten).toEqual(published);
    },
  );
});

describe('smithySchemaKeysPlugin', () => {
  /** The minified bundle of an entry sending S3's GetObject only. */
  async function bundleGetObject(plugins: Parameters<typeof build>[0]['plugins']): Promise<string> {
    const result = await build({
      stdin: {
        contents: `import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
          export const get = (Key) => new S3Client({}).send(new GetObjectCommand({ Bucket: 'b', Key }));`,
        resolveDir: bundlePackageDir,
        loader: 'js',
      },
      bundle: true,
      format: 'esm',
      platform: 'node',
      minify: true,
      mainFields: ['module', 'main'],
      conditions: ['module'],
      write: false,
      logLevel: 'silent',
      ...(plugins ? { plugins } : {}),
    });
    return result.outputFiles[0]!.text;
  }

  // aws/aws-sdk-js-v3#7607: with computed trait keys esbuild keeps every operation's schema.
  it('lets esbuild drop the schemas of the S3 operations a bundle never sends (aws/aws-sdk-js-v3#7607)', async () => {
    const [published, rewritten] = await Promise.all([
      bundleGetObject(undefined),
      bundleGetObject([smithySchemaKeysPlugin]),
    ]);
    for (const bundle of [published, rewritten]) expect(bundle).toContain('"GetObjectOutput"');
    expect(published).toContain('"PutBucketLifecycleConfigurationRequest"');
    expect(rewritten).not.toContain('"PutBucketLifecycleConfigurationRequest"');
    expect(rewritten.length).toBeLessThan(published.length - 40 * 1024);
  });
});
