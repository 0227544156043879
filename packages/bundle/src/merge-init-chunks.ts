import { readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { build, type Metafile, type Plugin, transform } from 'esbuild';
import { BundleOptionError } from './errors.ts';

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
 * sources), and re-exports, under names of its own, whatever each folded chunk exported. Each folded
 * chunk's file then becomes a one-line module re-exporting those names from the entry: the lazily
 * loaded chunks still import it as before, and get the entry's instances of the same modules (one
 * pg, one zod registry, the same error classes), without the chunk's code being loaded twice.
 *
 * The lazy chunks import the entry back (through those one-line modules): the entry must have
 * finished evaluating before one of them loads, so an entry whose init awaits an `import()` of its
 * own code (the mail-dispatcher's `await createMailSender(...)`) cannot be merged: that import would
 * wait for the entry, which waits for it, and the import never settles. A file to merge with a
 * top-level `await` is refused ({@link BundleOptionError} naming `mergeInitChunks`).
 *
 * Returns the metafile with the entry's output holding the folded chunks' inputs and imports, and
 * each folded chunk's output the re-exporting module.
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
    outfile: entryFile,
    allowOverwrite: true,
    write: false,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    // The first pass kept the names (`keepNames`: each function's and class's `name` is set by a call
    // in the code), so identifiers may be minified again.
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    charset: 'utf8',
    legalComments: 'none',
    metafile: true,
    logLevel: 'silent',
    plugins: [keepOthersExternal],
  });
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
  const entryMap = outputs[`${entryOutput}.map`];
  if (entryMap !== undefined) outputs[`${entryOutput}.map`] = { ...entryMap, bytes: mapBytes };
  return { inputs: meta.inputs, outputs };
}

const MERGED_NAMESPACE = 'sidestep-merged-entry';
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
