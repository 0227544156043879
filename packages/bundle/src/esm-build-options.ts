/**
 * What every esbuild pass over a bundle's files builds with: one ESM file per output for Node 24,
 * with a linked source map of mappings and names only (a map is read and parsed when a stack trace
 * first passes through its file, ./source-mapped-stack-traces.ts, and the sources' text, 60% of the
 * maps, is never used for one).
 */
export const ESM_BUILD_OPTIONS = {
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node24',
  sourcemap: true,
  sourcesContent: false,
  charset: 'utf8',
  logLevel: 'silent',
} as const;
