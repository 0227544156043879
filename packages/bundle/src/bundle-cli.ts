import { relative } from 'node:path';
import { parseArgs } from 'node:util';
import { bundleService } from './bundle-service.ts';

/**
 * A tiny CLI over {@link bundleService}:
 * `node <path>/bundle-cli.ts [packageDir] [--entry src/handler.ts] [--outdir dist] [--external name]...`.
 * Prints one line: the bundle and its size. Returns the process exit code.
 */
export async function runBundleCli(
  argv: readonly string[] = process.argv.slice(2),
  print: (line: string) => void = console.log,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      entry: { type: 'string' },
      outdir: { type: 'string' },
      external: { type: 'string', multiple: true },
    },
  });
  const packageDir = positionals[0] ?? process.cwd();
  const result = await bundleService({
    packageDir,
    ...(values.entry === undefined ? {} : { entry: values.entry }),
    ...(values.outdir === undefined ? {} : { outdir: values.outdir }),
    ...(values.external === undefined ? {} : { external: values.external }),
  });
  print(
    `${relative(process.cwd(), result.outfile) || result.outfile} ${(result.bytes / 1024).toFixed(1)} KiB`,
  );
  return 0;
}

if (import.meta.main) {
  process.exitCode = await runBundleCli();
}
