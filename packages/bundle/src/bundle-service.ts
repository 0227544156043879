import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire, isBuiltin } from 'node:module';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { type BuildOptions, build, type Message, type Metafile, type Plugin } from 'esbuild';
import { COMPILE_CACHE_LOADER, COMPILE_CACHE_WRITER } from './compile-cache.ts';
import {
  BundleBuildError,
  BundleOptionError,
  PrebuiltWorkspaceInputError,
  RefusedLicenceError,
  SOURCE_CONDITION,
  StaticExternalImportError,
} from './errors.ts';
import { ESM_BUILD_OPTIONS } from './esm-build-options.ts';
import { mergeInitChunks } from './merge-init-chunks.ts';
import { powertoolsInvokeStorePlugin } from './powertools-invoke-store.ts';
import { smithySchemaKeysPlugin } from './smithy-schema-keys.ts';
import {
  bundledPackages,
  prebuiltWorkspaceInputs,
  refusedPackages,
  writeThirdPartyNotices,
} from './third-party-notices.ts';

/** Options of {@link bundleService}. */
export interface BundleServiceOptions {
  /** The service package directory (where its package.json is); `import.meta.dirname` from build.ts. */
  packageDir: string;
  /**
   * Entry module, relative to `packageDir`. The bundle exports its named exports (`handler`); an
   * entry with a default export is refused (the entry is wrapped: {@link entryPlugin}).
   * @default 'src/handler.ts'
   */
  entry?: string;
  /** Output directory, relative to `packageDir`; emptied first. @default 'dist' */
  outdir?: string;
  /**
   * Modules left out of the bundle and resolved at run time. @default [] (everything is bundled, so
   * the image is self-contained and the same bytes run locally and on AWS)
   */
  external?: string[];
  /**
   * Code splitting: every `import()` of a bundled module becomes a chunk file (`chunk-<hash>.mjs`
   * next to `index.mjs`) that loads when the import runs, so a cold start loads only the code it
   * needs. The image must then copy the chunks too (`COPY dist/*.mjs dist/*.mjs.map ...`).
   * @default false (one file: dynamic imports of bundled modules are inlined and load at init)
   */
  splitting?: boolean;
  /**
   * Files of a dependency replaced in the bundle by a file of the service: key, the dependency's file
   * as the service resolves it (`'nodemailer/lib/mime-funcs/mime-types.js'`); value, the replacement,
   * relative to `packageDir`. Every import of that file, from whichever module, gets the replacement,
   * which must export what the importers use. For a large part of a library the service's code path
   * never uses (and a test that says so), or for a wrapper that loads the file only when it is first
   * used (the replacement's own import of the file gets the file). Each key must match an import, or
   * the build fails.
   * @default {} (nothing is replaced)
   */
  substitutes?: Readonly<Record<string, string>>;
  /**
   * Ship V8's compiled code in the image (./compile-cache.ts): the service's code goes to
   * `handler.mjs`, `index.mjs` becomes a loader that has Node read the image's compile cache before it
   * imports `handler.mjs` and re-exports its exports, and `compile-cache.mjs` writes that cache when
   * the image is built (`RUN node --expose-gc ${LAMBDA_TASK_ROOT}/compile-cache.mjs`). Without a cache
   * (the bundle run from `dist/`) the loader only imports the handler.
   * @default false
   */
  compileCache?: boolean;
  /**
   * With `splitting`, fold the chunks the entry imports statically (the modules it shares with lazily
   * loaded chunks, which esbuild puts in chunks of their own) into the entry's file, so a cold start
   * loads one file for the service's code (./merge-init-chunks.ts). Each folded chunk's file stays, as
   * a module re-exporting its names from the entry, for the lazy chunks that import it. The merged
   * file keeps its identifiers (whitespace and syntax minified), so that `keepNames` has little to
   * redefine at init; the lazy chunks are minified as usual. Not for an entry whose init awaits an
   * `import()` of a chunk of its own (the chunk would wait for the entry: refused).
   * @default false
   */
  mergeInitChunks?: boolean;
}

/** What {@link bundleService} wrote. */
export interface BundleResult {
  /** Absolute path of the bundle, `<outdir>/index.mjs` (so the image CMD is `index.handler`). */
  outfile: string;
  /**
   * Size of `index.mjs` in bytes (without its source map): the bundle's entry, or with `compileCache`
   * only its loader (`handler.mjs` is then counted in `initBytes`).
   */
  bytes: number;
  /**
   * Bytes of the JavaScript that loads at init whatever the code does: `index.mjs` and the chunks it
   * imports statically, transitively (`bytes` without splitting). A top-level `await import()` adds
   * its chunks at init too; only running the bundle tells.
   */
  initBytes: number;
  /**
   * Bytes of every JavaScript output file (`index.mjs` and all chunks; with `compileCache`,
   * `handler.mjs` and `compile-cache.mjs` too).
   */
  totalBytes: number;
  /** Absolute paths of the chunk files (none without splitting). */
  chunks: string[];
  /** Absolute path of esbuild's metafile, `<outdir>/meta.json` (inputs and outputs with sizes). */
  metafile: string;
  /**
   * External (non-builtin) modules the bundle may load lazily at run time (`import()`, `require()`).
   * The image holds only the bundle: each must be absent from the code path the function runs.
   */
  lazyExternals: string[];
}

/**
 * `const require = createRequire(import.meta.url)` at the top of the bundle. CommonJS dependencies
 * bundled into an ESM file keep their `require()` calls of what is not bundled, and ESM has no
 * `require`: without this banner they throw "Dynamic require of ... is not supported". `node:module`
 * comes from `process.getBuiltinModule`, not an `import` (see {@link builtinsPlugin}).
 */
export const CREATE_REQUIRE_BANNER =
  "const require = process.getBuiltinModule('node:module').createRequire(import.meta.url);";

/**
 * Bundles a service's handler into one minified ESM file for its Lambda container image:
 * `<outdir>/index.mjs` with `index.mjs.map` (a linked file: the bundle's stack traces are mapped
 * through it when first formatted, ./source-mapped-stack-traces.ts, so no `--enable-source-maps`),
 * `THIRD-PARTY-NOTICES.txt` with the licence and notice files of every third-party package in the
 * bundle and the legal comments of its code (./third-party-notices.ts), and the metafile in
 * `meta.json`. A package whose licence is not allowed in what users run (copyleft, none, not SPDX)
 * fails the build with {@link RefusedLicenceError} and leaves `outdir` empty.
 *
 * @example build.ts of a service (`"build": "node ./build.ts"`):
 * ```ts
 * import { bundleService } from '@sidestep/bundle';
 * await bundleService({ packageDir: import.meta.dirname });
 * ```
 */
export async function bundleService(options: BundleServiceOptions): Promise<BundleResult> {
  const packageDir = resolve(options.packageDir);
  if (!existsSync(join(packageDir, 'package.json'))) {
    throw new BundleOptionError(packageDir, 'packageDir', `${packageDir} has no package.json`);
  }
  const entry = resolve(packageDir, options.entry ?? 'src/handler.ts');
  if (!existsSync(entry)) throw new BundleOptionError(packageDir, 'entry', `${entry} does not exist`);
  // The bundle re-exports the entry's named exports only ({@link entryPlugin}): refuse rather than
  // drop a default export.
  if (/^\s*export\s+(default\b|\{[^}]*\bas\s+default\b)/m.test(await readFile(entry, 'utf8'))) {
    throw new BundleOptionError(
      packageDir,
      'entry',
      `${entry} has a default export; export the handler by name (the image's CMD names it: index.handler)`,
    );
  }
  const outdir = resolve(packageDir, options.outdir ?? 'dist');
  const fromPackage = relative(packageDir, outdir);
  // The output directory is emptied first (stale files would end up in the image), so it must be a
  // strict subdirectory of the package: never the package itself or anything outside it.
  if (fromPackage === '' || fromPackage.startsWith('..') || isAbsolute(fromPackage)) {
    throw new BundleOptionError(packageDir, 'outdir', `${outdir} must be inside ${packageDir}`);
  }
  await rm(outdir, { recursive: true, force: true });
  await mkdir(outdir, { recursive: true });

  const outfile = join(outdir, COMPILE_CACHE_LOADER);
  // With a compile cache the service's code is `handler.mjs` behind the loader `index.mjs`.
  const entryName = options.compileCache ? HANDLER_NAME : 'index';
  const substitutes = options.substitutes ? substitutesPlugin(packageDir, options.substitutes) : undefined;
  const merge = Boolean(options.mergeInitChunks && options.splitting);
  let result: Awaited<ReturnType<typeof build>>;
  try {
    result = await build({
      ...outputOptions(packageDir, outdir),
      // Merged, the code keeps its identifiers until ./merge-init-chunks.ts has folded the init's
      // chunks (so that `keepNames` finds the names already right there), then minifies the rest.
      ...(merge ? { minify: false, minifyWhitespace: true, minifySyntax: true } : {}),
      // The service's entry behind ./install-source-mapped-stack-traces.ts ({@link entryPlugin}).
      entryPoints: { [entryName]: `${ENTRY_NAMESPACE}:./${relative(packageDir, entry)}` },
      splitting: options.splitting ?? false,
      chunkNames: 'chunk-[hash]',
      // Minified class names would change `error.name` for errors that derive it from
      // `constructor.name`; Lambda reports `name` as errorType and Step Functions Catch matches on it.
      keepNames: true,
      // Out of the code (no bytes for a cold start to parse) into <output>.LEGAL.txt, which
      // ./third-party-notices.ts folds into THIRD-PARTY-NOTICES.txt, the one file the images copy.
      legalComments: 'external',
      banner: { js: CREATE_REQUIRE_BANNER },
      // Prefer ESM builds of dependencies (better tree shaking). The `import` condition is not forced
      // on require() calls: a CommonJS caller expecting `module.exports` would get an ES namespace.
      mainFields: ['module', 'main'],
      // A workspace package that ships a pre-built bundle gives its source under SOURCE_CONDITION, so
      // the metafile sees (and the licence check and notices cover) what that bundle inlines.
      conditions: [SOURCE_CONDITION, 'module'],
      external: options.external ?? [],
      plugins: [
        entryPlugin(packageDir),
        builtinsPlugin,
        smithySchemaKeysPlugin,
        powertoolsInvokeStorePlugin,
        ...(substitutes ? [substitutes.plugin] : []),
      ],
    });
  } catch (error) {
    throw buildError(packageDir, error);
  }

  const unused = substitutes?.unused() ?? [];
  if (unused.length > 0) {
    throw new BundleOptionError(
      packageDir,
      'substitutes',
      `nothing in the bundle imports ${unused.join(', ')} (a stale substitute)`,
    );
  }
  const metafile = join(outdir, 'meta.json');
  const entryOutput = relative(packageDir, join(outdir, `${entryName}.mjs`));
  let serviceMeta = result.metafile!;
  if (merge) {
    try {
      serviceMeta = await mergeInitChunks({
        packageDir,
        meta: serviceMeta,
        entryOutput,
        chunks: staticClosure(serviceMeta, entryOutput).filter((output) => output !== entryOutput),
      });
    } catch (error) {
      // No half-merged bundle stays where an image build would copy it from.
      await rm(outdir, { recursive: true, force: true });
      throw error instanceof BundleOptionError ? error : buildError(packageDir, error);
    }
  }
  const { staticImports, lazyExternals } = externalImports(
    serviceMeta,
    staticClosure(serviceMeta, entryOutput),
  );
  const meta = options.compileCache
    ? mergeMetafiles(serviceMeta, await buildCompileCacheFiles(packageDir, outdir, serviceMeta, entryOutput))
    : serviceMeta;
  await writeFile(metafile, JSON.stringify(meta));
  const loaderOutput = relative(packageDir, outfile);
  const loadedAtInit = [...new Set([loaderOutput, ...staticClosure(meta, entryOutput)])];
  if (Object.keys(staticImports).length > 0) throw new StaticExternalImportError(packageDir, staticImports);
  const service = await serviceName(packageDir);
  const prebuilt = prebuiltWorkspaceInputs(meta);
  if (prebuilt.length > 0) {
    await rm(outdir, { recursive: true, force: true });
    throw new PrebuiltWorkspaceInputError(packageDir, prebuilt);
  }
  const thirdParty = await bundledPackages(meta, packageDir);
  const refused = refusedPackages(thirdParty);
  if (refused.length > 0) {
    // Nothing of a refused bundle stays where an image build would copy it from.
    await rm(outdir, { recursive: true, force: true });
    throw new RefusedLicenceError(packageDir, service, refused);
  }
  await writeThirdPartyNotices(outdir, service, thirdParty);
  const javascript = Object.keys(meta.outputs).filter((output) => output.endsWith('.mjs'));
  const size = (outputs: readonly string[]) =>
    outputs.reduce((sum, output) => sum + (meta.outputs[output]?.bytes ?? 0), 0);
  return {
    outfile,
    bytes: (await stat(outfile)).size,
    initBytes: size(loadedAtInit),
    totalBytes: size(javascript),
    chunks: javascript
      .filter((output) => output.startsWith(`${fromPackage}/chunk-`))
      .map((output) => resolve(packageDir, output)),
    metafile,
    lazyExternals,
  };
}

/**
 * The bundle's entry: the service's entry module, imported after
 * ./install-source-mapped-stack-traces.ts, so that module runs before any other of the bundle
 * (imports evaluate in order) and `index.mjs` exports what the service's entry exports.
 */
function entryPlugin(packageDir: string): Plugin {
  return {
    name: 'sidestep-entry',
    setup(esbuild) {
      esbuild.onResolve({ filter: /^sidestep-entry:/ }, (args) =>
        args.kind === 'entry-point'
          ? { path: args.path.slice(ENTRY_NAMESPACE.length + 1), namespace: ENTRY_NAMESPACE }
          : undefined,
      );
      esbuild.onLoad({ filter: /.*/, namespace: ENTRY_NAMESPACE }, (args) => ({
        contents: [
          `import ${JSON.stringify(INSTALL_SOURCE_MAPPED_STACK_TRACES)};`,
          `export * from ${JSON.stringify(args.path)};`,
        ].join('\n'),
        resolveDir: packageDir,
        loader: 'js',
      }));
    },
  };
}
const ENTRY_NAMESPACE = 'sidestep-entry';
const COMPILE_CACHE_NAMESPACE = 'sidestep-compile-cache';
const INSTALL_SOURCE_MAPPED_STACK_TRACES = join(import.meta.dirname, 'install-source-mapped-stack-traces.ts');

/**
 * The esbuild plugin behind {@link BundleServiceOptions.substitutes}: an import that resolves to a
 * replaced file resolves to its replacement instead. esbuild's `alias` cannot do it: it maps package
 * paths only, and a library reaches its own files by relative `require('./...')`.
 */
function substitutesPlugin(
  packageDir: string,
  substitutes: Readonly<Record<string, string>>,
): { plugin: Plugin; unused: () => string[] } {
  const resolveFromPackage = createRequire(join(packageDir, 'package.json')).resolve;
  const replaced = new Map<string, string>();
  for (const [module, replacement] of Object.entries(substitutes)) {
    let target: string;
    try {
      target = resolveFromPackage(module);
    } catch (error) {
      throw new BundleOptionError(packageDir, 'substitutes', `${module} does not resolve: ${String(error)}`);
    }
    const path = resolve(packageDir, replacement);
    if (!existsSync(path)) {
      throw new BundleOptionError(
        packageDir,
        'substitutes',
        `${module}'s replacement ${path} does not exist`,
      );
    }
    replaced.set(target, path);
  }
  // What an import of a target may end with: its name, or its directory's for an index file
  // (`require('../fetch')` for `fetch/index.js`).
  const names = [...replaced.keys()].flatMap((target) => {
    const name = basename(target).replace(/\.[cm]?js$/, '');
    return name === 'index' ? [name, basename(dirname(target))] : [name];
  });
  const filter = new RegExp(`(^|/)(${names.map(escapeRegExp).join('|')})(\\.[cm]?js)?$`);
  const used = new Set<string>();
  const plugin: Plugin = {
    name: 'sidestep-substitutes',
    setup(esbuild) {
      esbuild.onResolve({ filter }, async (args) => {
        if (args.pluginData === SUBSTITUTING) return undefined;
        const found = await esbuild.resolve(args.path, {
          kind: args.kind,
          importer: args.importer,
          resolveDir: args.resolveDir,
          pluginData: SUBSTITUTING,
        });
        const replacement = replaced.get(found.path);
        // A replacement may load the file it replaces (a lazy wrapper does): that import is the file.
        if (found.errors.length > 0 || !replacement || args.importer === replacement) return undefined;
        used.add(found.path);
        return { path: replacement };
      });
    },
  };
  return { plugin, unused: () => [...replaced.keys()].filter((target) => !used.has(target)) };
}

/**
 * `node:http`, imported statically or required, comes from `process.getBuiltinModule()` (Node >=
 * 22.3) through a one-line CommonJS module instead of an ES `import` (why only it:
 * {@link REDIRECTED_BUILTINS}). An ES import of a builtin builds its module namespace from
 * every export, which runs the lazy getters Node keeps for what is rarely used: `import { request } from 'node:http'` loads undici, Node's whole fetch and WebSocket
 * implementation, for `http`'s lazy WebSocket exports. Measured by CPU time (median of 31 fresh
 * processes, Node 24.21, 2 cores): that import +50.5 ms over an empty module, the same through
 * `getBuiltinModule` +2.9 ms; the batch-worker reaches S3 over `node:http` wherever the endpoint is
 * plain HTTP (the local cloud). esbuild turns a named import of a CommonJS module into a property
 * read where the name is used, so nothing is read that the code does not use.
 *
 * `import('node:http')` would build the same namespace (the AWS SDK's HTTP handler imports it so for
 * every plain-HTTP client: 15-23 ms of an export task's CPU in a profile, 2026-12-04), so it gets a
 * small ES module instead: `default` and every export of the builtin as a name, read once when the
 * module runs, except the lazy getters Node keeps for undici ({@link LAZY_HTTP_EXPORTS}), which stay
 * on `default`. The names are the builtin's own, read by `Object.keys` (which runs no getter) in the
 * Node that builds, the Node the image runs.
 */
const builtinsPlugin: Plugin = {
  name: 'sidestep-builtins',
  setup(esbuild) {
    esbuild.onResolve({ filter: REDIRECTED_BUILTINS }, (args) => {
      const path = args.path.startsWith('node:') ? args.path : `node:${args.path}`;
      // A CommonJS module would reach `import()` as a namespace whose only export is `default`, so
      // `const { request } = await import('node:http')` would find nothing: an ES module instead.
      const namespace = args.kind === 'dynamic-import' ? BUILTIN_ESM_NAMESPACE : BUILTIN_NAMESPACE;
      return { path, namespace };
    });
    esbuild.onLoad({ filter: /.*/, namespace: BUILTIN_NAMESPACE }, (args) => ({
      contents: `module.exports = process.getBuiltinModule(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
    esbuild.onLoad({ filter: /.*/, namespace: BUILTIN_ESM_NAMESPACE }, (args) => {
      const builtin = process.getBuiltinModule(args.path);
      if (builtin === undefined) return { errors: [{ text: `${args.path} is not a builtin of this Node` }] };
      const names = Object.keys(builtin).filter(
        (name) => !LAZY_HTTP_EXPORTS.has(name) && /^[A-Za-z_$][\w$]*$/.test(name),
      );
      return {
        contents: [
          `const builtin = process.getBuiltinModule(${JSON.stringify(args.path)});`,
          'export default builtin;',
          `export const { ${names.join(', ')} } = builtin;`,
        ].join('\n'),
        loader: 'js',
      };
    });
  },
};
const BUILTIN_NAMESPACE = 'sidestep-builtin';
const BUILTIN_ESM_NAMESPACE = 'sidestep-builtin-esm';

/**
 * `node:http`'s exports that Node defines as getters loading undici on first read (lib/http.js,
 * `lazyUndici`): reachable on `default`, not as names of the `import()` namespace.
 */
const LAZY_HTTP_EXPORTS = new Set(['WebSocket', 'CloseEvent', 'MessageEvent']);

/**
 * The builtins taken from `getBuiltinModule`. Measured by CPU time, an ES import against
 * `getBuiltinModule` (median of 15 fresh processes each, Node 24.21): `node:http` +52.9 ms (undici),
 * `node:util` +6.9 ms, `node:fs` +5.4 ms, `node:crypto` +2.9 ms; https, stream, net, tls, zlib,
 * events, os, path, child_process, url, buffer, dns and async_hooks within +-2 ms. Only `node:http`
 * is redirected: a redirected builtin becomes a module of the bundle, and with splitting esbuild puts
 * a module shared by the entry and lazy chunks in a chunk of its own, one more file for a cold start
 * to load. Redirecting every builtin took the status-updater's cold start from 4 files to 7 and its
 * import from +42.2 to +45.9 ms of CPU; util, fs and crypto as well, +42.7 ms (in the noise); http
 * alone leaves the Lambda services' files as they were.
 */
const REDIRECTED_BUILTINS = /^(node:)?http$/;

/** Marks the plugin's own resolve calls, which must not be substituted again. */
const SUBSTITUTING = Symbol('substituting');

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const HANDLER_NAME = 'handler';

/** What every file of a bundle is built with: minified ESM for Node 24, with a linked source map. */
function outputOptions(packageDir: string, outdir: string) {
  return {
    absWorkingDir: packageDir,
    outdir,
    outExtension: { '.js': '.mjs' },
    ...ESM_BUILD_OPTIONS,
    minify: true,
    metafile: true,
  } as const satisfies BuildOptions;
}

/**
 * `index.mjs`, the loader of a bundle with a compile cache, and `compile-cache.mjs`, its writer
 * (./compile-cache.ts), each one small file of its own (no chunk shared with the service's code, which
 * must load only after the loader enabled the cache). Returns their metafile.
 */
async function buildCompileCacheFiles(
  packageDir: string,
  outdir: string,
  serviceMeta: Metafile,
  handlerOutput: string,
): Promise<Metafile> {
  const exported = serviceMeta.outputs[handlerOutput]?.exports ?? [];
  const runtime = JSON.stringify(join(import.meta.dirname, 'compile-cache.ts'));
  const handlerFile = `./${HANDLER_NAME}.mjs`;
  const sources: Record<string, string> = {
    [COMPILE_CACHE_LOADER]: [
      `import { useShippedCompileCache } from ${runtime};`,
      'useShippedCompileCache(import.meta.dirname);',
      `const entry$ = await import(${JSON.stringify(handlerFile)});`,
      // By string name, so any export name the entry has (an arbitrary module namespace identifier
      // included) is re-exported as it is.
      ...exported.map((name, index) => `const export${index}$ = entry$[${JSON.stringify(name)}];`),
      `export { ${exported.map((name, index) => `export${index}$ as ${JSON.stringify(name)}`).join(', ')} };`,
    ].join('\n'),
    [COMPILE_CACHE_WRITER]: [
      `import { runCompileCacheWriter } from ${runtime};`,
      'await runCompileCacheWriter(import.meta.dirname);',
    ].join('\n'),
  };
  try {
    const result = await build({
      ...outputOptions(packageDir, outdir),
      entryPoints: Object.keys(sources).map((file) => ({
        in: `${COMPILE_CACHE_NAMESPACE}:${file}`,
        out: file.replace(/\.mjs$/, ''),
      })),
      external: [handlerFile],
      plugins: [
        {
          name: 'sidestep-compile-cache',
          setup(esbuild) {
            esbuild.onResolve({ filter: new RegExp(`^${COMPILE_CACHE_NAMESPACE}:`) }, (args) => ({
              path: args.path.slice(COMPILE_CACHE_NAMESPACE.length + 1),
              namespace: COMPILE_CACHE_NAMESPACE,
            }));
            esbuild.onLoad({ filter: /.*/, namespace: COMPILE_CACHE_NAMESPACE }, (args) => ({
              contents: sources[args.path],
              resolveDir: packageDir,
              loader: 'js',
            }));
          },
        },
      ],
    });
    return result.metafile;
  } catch (error) {
    throw buildError(packageDir, error);
  }
}

/** Two builds' metafiles as one (their outputs are distinct files). */
function mergeMetafiles(a: Metafile, b: Metafile): Metafile {
  return { inputs: { ...a.inputs, ...b.inputs }, outputs: { ...a.outputs, ...b.outputs } };
}

/** The entry output and the chunks it imports statically, transitively: what loads at init. */
function staticClosure(meta: Metafile, entryOutput: string): string[] {
  const seen = new Set<string>([entryOutput]);
  for (const output of seen) {
    for (const { path, kind, external } of meta.outputs[output]?.imports ?? []) {
      if (!external && kind === 'import-statement') seen.add(path);
    }
  }
  return [...seen];
}

/**
 * Sorts the bundle's non-builtin external imports (from the outputs, which is what loads) into
 * static ones (imported by what loads at init), with the inputs importing them, and lazy ones.
 */
function externalImports(
  meta: Metafile,
  loadedAtInit: readonly string[],
): { staticImports: Record<string, string[]>; lazyExternals: string[] } {
  const staticImports: Record<string, string[]> = {};
  const lazy = new Set<string>();
  for (const [output, { imports }] of Object.entries(meta.outputs)) {
    for (const { path, kind, external } of imports) {
      if (!external || isBuiltin(path)) continue;
      // A static import in a lazily loaded chunk runs when that chunk loads: lazily.
      if (kind === 'import-statement' && loadedAtInit.includes(output)) staticImports[path] ??= [];
      else lazy.add(path);
    }
  }
  for (const [input, { imports }] of Object.entries(meta.inputs)) {
    for (const { path, kind } of imports) {
      if (kind === 'import-statement' && staticImports[path]?.includes(input) === false)
        staticImports[path].push(input);
    }
  }
  return { staticImports, lazyExternals: [...lazy].sort() };
}

/** The service's package name (what the notices and a licence refusal name), else its directory's. */
async function serviceName(packageDir: string): Promise<string> {
  const { name } = JSON.parse(await readFile(join(packageDir, 'package.json'), 'utf8')) as { name?: string };
  return name ?? basename(packageDir);
}

/** An esbuild failure as a {@link BundleBuildError} naming each of its messages. */
function buildError(packageDir: string, error: unknown): BundleBuildError {
  const errors = (error as { errors?: Message[] }).errors ?? [];
  return new BundleBuildError(
    packageDir,
    errors.length > 0 ? errors.map(formatMessage) : [String(error)],
    error,
  );
}

function formatMessage(message: Message): string {
  const where = message.location
    ? `${message.location.file}:${message.location.line}:${message.location.column}: `
    : '';
  return `${where}${message.text}`;
}
