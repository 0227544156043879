import { readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { build, type Metafile, type Plugin, transform } from 'esbuild';
import { BundleOptionError } from './errors.ts';
import { ESM_BUILD_OPTIONS } from './esm-build-options.ts';

/**
 * Folds the chunks a split bundle's entry imports statically into the entry's own file, so that a
 * cold start reads, compiles and links one file where esbuild wrote several. With code splitting,
 * esbuild puts every module that the entry and a lazily imported chunk share in a chunk of its own
 * (one per set of importers: its runtime helpers, pg, zod with the contracts, Powertools' commons,
 * ...), and the entry imports each of them at init: the job-sweeper's cold start loaded 8 files, 6 of
 * them such chunks. Each file a cold start loads costs Node's ES loader ~0.5 ms of CPU by itself
 * (resolution, read, compile, link; measured with 1, 2, 4 and 8 files of one export each).
 *
 * A second esbuild pass bundles the entry with those chunks into the entry's file (the first pass's
 * source maps are read through their `sourceMappingURL` comments, so the new map points at the
 * sources), and re-exports, under names of its own, whatever each folded chunk exported. The lazily
 * loaded chunks import those names from the entry where they imported the folded chunks, so they get
 * the entry's instances of the same modules (one pg, one zod registry, the same error classes)
 * without the chunks' code being loaded twice; each folded chunk's file becomes a one-line module
 * re-exporting its names from the entry (for an `import()` of it, which the entry keeps).
 *
 * The lazy chunks import the entry back: the entry must have
 * finished evaluating before one of them loads, so an entry whose init awaits an `import()` of its
 * own code (the mail-dispatcher's `await createMailSender(...)`) cannot be merged: that import would
 * wait for the entry, which waits for it, and the import never settles. A file to merge with a
 * top-level `await` is refused ({@link BundleOptionError} naming `mergeInitChunks`).
 *
 * The first pass leaves identifiers unminified when it is to be merged (`bundleService`), and the
 * merged file keeps them: esbuild's `keepNames` then finds nearly every function and class already
 * called what it would name it, and its helper, given a check for that ({@link NAME_HELPER}), skips
 * the `Object.defineProperty` it made on each at init. The lazily loaded chunks are minified
 * afterwards, each on its own (their maps through the first pass's).
 *
 * Returns the metafile with the entry's output holding the folded chunks' inputs and imports, each
 * folded chunk's output the re-exporting module, and each lazy chunk's its minified size (its
 * inputs' shares scaled to it).
 */
export async function mergeInitChunks(options: {
  readonly packageDir: string;
  readonly meta: Metafile;
  /** The entry's output, as the metafile names it (relative to `packageDir`). */
  readonly entryOutput: string;
  /** The chunks to fold (metafile names): the entry's static imports, transitively. */
  readonly chunks: readonly string[];
}): Promise<Metafile> {
  const { packageDir, meta, entryOutput, chunks } = options;
  if (chunks.length === 0) return meta;
  const file = (output: string) => resolve(packageDir, output);
  const entryFile = file(entryOutput);
  for (const output of [entryOutput, ...chunks]) {
    if (await hasTopLevelAwait(await readFile(file(output), 'utf8'))) {
      throw new BundleOptionError(
        packageDir,
        'mergeInitChunks',
        `${output} awaits at its top level (its init may import a lazy chunk, which would wait for the merged entry)`,
      );
    }
  }
  const folded = new Set([entryFile, ...chunks.map(file)]);
  // What each folded chunk exports, and the name the merged entry gives it.
  const aliases = chunks.map((chunk, index) => {
    const exports = meta.outputs[chunk]?.exports ?? [];
    for (const name of exports) {
      if (!/^[A-Za-z_$][\w$]*$/.test(name)) throw new Error(`${chunk} exports ${JSON.stringify(name)}`);
    }
    return { chunk, exports: exports.map((name) => ({ name, alias: `${MERGED_PREFIX}${index}$${name}` })) };
  });
  const entryName = basename(entryFile);
  const source = [
    `export * from ${JSON.stringify(`./${entryName}`)};`,
    ...aliases
      .filter(({ exports }) => exports.length > 0)
      .map(
        ({ chunk, exports }) =>
          `export { ${exports.map(({ name, alias }) => `${name} as ${alias}`).join(', ')} } from ${JSON.stringify(`./${basename(chunk)}`)};`,
      ),
  ].join('\n');

  let nameHelpers = 0;
  // Everything but the entry and the folded chunks stays a module of its own: Node's builtins, the
  // lazily imported chunks (`import()`), externals.
  const keepOthersExternal: Plugin = {
    name: 'sidestep-merge-init-chunks',
    setup(esbuild) {
      esbuild.onResolve({ filter: /^sidestep-merged-entry$/ }, () => ({
        path: entryFile,
        namespace: MERGED_NAMESPACE,
      }));
      esbuild.onLoad({ filter: /.*/, namespace: MERGED_NAMESPACE }, () => ({
        contents: source,
        resolveDir: dirname(entryFile),
        loader: 'js',
      }));
      // esbuild's `__name` (keepNames), in the chunk of its runtime helpers: the same, except that a
      // function or class already called so keeps its own `name` (see NAME_HELPER).
      esbuild.onLoad({ filter: /\.mjs$/ }, async (args) => {
        if (!folded.has(args.path)) return undefined;
        const text = await readFile(args.path, 'utf8');
        if (!NAME_HELPER.test(text)) return undefined;
        nameHelpers += 1;
        return { contents: text.replace(NAME_HELPER, nameHelperSkippingEqualNames), loader: 'js' };
      });
      esbuild.onResolve({ filter: /.*/ }, (args) => {
        if (args.kind === 'entry-point') return undefined;
        const target = args.path.startsWith('.') ? resolve(args.resolveDir, args.path) : undefined;
        if (target !== undefined && folded.has(target) && args.kind === 'import-statement') {
          return { path: target };
        }
        return { path: args.path, external: true };
      });
    },
  };
  const result = await build({
    absWorkingDir: packageDir,
    entryPoints: ['sidestep-merged-entry'],
    ...inPlace(entryFile),
    // Identifiers are kept as the first pass left them (not minified), so that a function's or class's
    // own name is the one `keepNames` gives it, and the helper above leaves it alone.
    minifyWhitespace: true,
    minifySyntax: true,
    metafile: true,
    plugins: [keepOthersExternal],
  });
  if (nameHelpers > 1) throw new Error(`esbuild's __name helper is in ${nameHelpers} of the folded files`);
  const written = result.outputFiles ?? [];
  for (const output of written) await writeFile(output.path, output.contents);
  const entryBytes = written.find((output) => output.path === entryFile)?.contents.byteLength ?? 0;
  const mapBytes = written.find((output) => output.path === `${entryFile}.map`)?.contents.byteLength ?? 0;

  // The folded chunks' files: their exports, now the entry's.
  const outputs = { ...meta.outputs };
  for (const { chunk, exports } of aliases) {
    const shim = `export{${exports.map(({ name, alias }) => `${alias} as ${name}`).join(',')}}from${JSON.stringify(`./${entryName}`)};\n`;
    await writeFile(file(chunk), shim);
    await rm(`${file(chunk)}.map`, { force: true });
    delete outputs[`${chunk}.map`];
    outputs[chunk] = {
      bytes: Buffer.byteLength(shim),
      inputs: {},
      imports: [{ path: entryOutput, kind: 'import-statement' }],
      exports: exports.map(({ name }) => name),
    };
  }
  const entry = meta.outputs[entryOutput];
  if (entry === undefined) throw new Error(`${entryOutput} is not an output of the metafile`);
  const merged = [entryOutput, ...chunks];
  const inputs: Metafile['outputs'][string]['inputs'] = {};
  const imports: Metafile['outputs'][string]['imports'] = [];
  const seen = new Set<string>();
  for (const output of merged) {
    for (const [input, bytes] of Object.entries(meta.outputs[output]?.inputs ?? {})) {
      const before = inputs[input]?.bytesInOutput ?? 0;
      inputs[input] = { bytesInOutput: before + bytes.bytesInOutput };
    }
    for (const imported of meta.outputs[output]?.imports ?? []) {
      if (!imported.external && merged.includes(imported.path)) continue;
      const key = `${imported.kind}\0${imported.path}`;
      if (seen.has(key)) continue;
      seen.add(key);
      imports.push(imported);
    }
  }
  outputs[entryOutput] = { ...entry, bytes: entryBytes, inputs, imports };
  // The lazily loaded chunks, minified now (identifiers included): their functions' names are set by
  // their `__name` calls, as in any minified bundle.
  const lazy = Object.keys(outputs).filter((output) => output.endsWith('.mjs') && !merged.includes(output));
  const foldedExports = new Map(aliases.map(({ chunk, exports }) => [file(chunk), exports]));
  for (const output of lazy) {
    const before = outputs[output];
    if (before === undefined) continue;
    const bytes = await minifyChunk(packageDir, file(output), foldedExports, entryName);
    // What each input takes of the minified file, in proportion to what it took before.
    const scale = before.bytes > 0 ? bytes.code / before.bytes : 1;
    const scaled: Metafile['outputs'][string]['inputs'] = {};
    for (const [input, { bytesInOutput }] of Object.entries(before.inputs)) {
      scaled[input] = { bytesInOutput: Math.round(bytesInOutput * scale) };
    }
    // Its imports of folded chunks are now imports of the entry.
    const imports = before.imports.map((imported) =>
      !imported.external && chunks.includes(imported.path) ? { ...imported, path: entryOutput } : imported,
    );
    const unique = imports.filter(
      (imported, index) =>
        imports.findIndex(({ path, kind }) => path === imported.path && kind === imported.kind) === index,
    );
    outputs[output] = { ...before, bytes: bytes.code, inputs: scaled, imports: unique };
    const map = outputs[`${output}.map`];
    if (map !== undefined) outputs[`${output}.map`] = { ...map, bytes: bytes.map };
  }
  const entryMap = outputs[`${entryOutput}.map`];
  if (entryMap !== undefined) outputs[`${entryOutput}.map`] = { ...entryMap, bytes: mapBytes };
  return { inputs: meta.inputs, outputs };
}

const MERGED_NAMESPACE = 'sidestep-merged-entry';
const FOLDED_NAMESPACE = 'sidestep-folded-chunk';
/** The merged entry's names for a folded chunk's exports: `$$init<chunk index>$<export>`. */
const MERGED_PREFIX = '$$init';

/** True when `code` (an ES module) has a top-level `await`: esbuild cannot make CommonJS of it. */
async function hasTopLevelAwait(code: string): Promise<boolean> {
  try {
    await transform(code, { format: 'cjs', loader: 'js', logLevel: 'silent' });
    return false;
  } catch (error) {
    const errors = (error as { errors?: { text: string }[] }).errors ?? [];
    if (errors.some(({ text }) => /top-level await/i.test(text))) return true;
    throw error;
  }
}

/**
 * esbuild's `__name(target, value)` as its minified runtime writes it: `Object.defineProperty` of
 * `name` on every named function and class a module defines, ~600 at the job-sweeper's init. Each
 * gives the function a property of its own in place of the one its map shares, and they cost the
 * import ~5 ms of CPU (measured: the helper made a no-op, 41 interleaved rounds). Where the
 * identifiers are not minified, nearly every target is already called `value`, and the definition
 * changes nothing (same value; `writable` and `enumerable` stay as they were).
 */
const NAME_HELPER =
  /\(([A-Za-z_$][\w$]*),\s*([A-Za-z_$][\w$]*)\)\s*=>\s*([A-Za-z_$][\w$]*)\(\1,\s*"name",\s*\{\s*value(?::\s*\2)?,\s*configurable:\s*(?:!0|true)\s*\}\)/;

function nameHelperSkippingEqualNames(
  _helper: string,
  target: string,
  value: string,
  defineProperty: string,
): string {
  return `(${target},${value})=>${target}.name===${value}?${target}:${defineProperty}(${target},"name",{value:${value},configurable:!0})`;
}

/** A second pass's options: `file` built again over itself, its output returned to be written. */
function inPlace(file: string) {
  return {
    ...ESM_BUILD_OPTIONS,
    outfile: file,
    allowOverwrite: true,
    write: false,
    legalComments: 'none',
  } as const;
}

/**
 * Minifies a lazily loaded chunk in place, its map through the one it had, its exports as they are,
 * and its imports as they are except those of a folded chunk, which become imports of the same
 * names from the entry (`entryName`): loading the chunk then reads no one-line module.
 */
async function minifyChunk(
  packageDir: string,
  path: string,
  foldedExports: ReadonlyMap<string, readonly { readonly name: string; readonly alias: string }[]>,
  entryName: string,
): Promise<{ code: number; map: number }> {
  const result = await build({
    absWorkingDir: packageDir,
    entryPoints: [path],
    ...inPlace(path),
    minify: true,
    plugins: [
      {
        name: 'sidestep-minify-chunk',
        setup(esbuild) {
          esbuild.onResolve({ filter: /.*/ }, (args) => {
            if (args.kind === 'entry-point') return undefined;
            const target = args.path.startsWith('.') ? resolve(args.resolveDir, args.path) : undefined;
            if (target !== undefined && args.kind === 'import-statement' && foldedExports.has(target)) {
              return { path: target, namespace: FOLDED_NAMESPACE };
            }
            return { path: args.path, external: true };
          });
          esbuild.onLoad({ filter: /.*/, namespace: FOLDED_NAMESPACE }, (args) => {
            const exports = foldedExports.get(args.path) ?? [];
            return {
              contents: `export { ${exports.map(({ name, alias }) => `${alias} as ${name}`).join(', ')} } from ${JSON.stringify(`./${entryName}`)};`,
              resolveDir: dirname(args.path),
              loader: 'js',
            };
          });
        },
      },
    ],
  });
  let code = 0;
  let map = 0;
  for (const output of result.outputFiles ?? []) {
    await writeFile(output.path, output.contents);
    if (output.path === path) code = output.contents.byteLength;
    else map = output.contents.byteLength;
  }
  return { code, map };
}
