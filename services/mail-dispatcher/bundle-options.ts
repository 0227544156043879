import type { BundleServiceOptions } from '@sidestep/bundle';

/**
 * How the mail-dispatcher is bundled (build.ts, and the test that checks the bundle composes a mail
 * as nodemailer does). Split: what the first invocation does not need (the dead-letter client, the
 * Secrets Manager client, the unselected mail transport) is in a chunk that loads only when used;
 * V8's compiled code ships in the image (packages/bundle, compile-cache.ts).
 * nodemailer's MIME type table is replaced by the few types a sidestep mail could name
 * (src/adapters/mail-mime-types.ts says why), and its HTTP client by a wrapper that loads it when
 * first called (src/adapters/nodemailer-lazy-fetch.cjs).
 */
export const bundleOptions = {
  splitting: true,
  compileCache: true,
  substitutes: {
    'nodemailer/lib/mime-funcs/mime-types.js': 'src/adapters/mail-mime-types.ts',
    'nodemailer/lib/fetch/index.js': 'src/adapters/nodemailer-lazy-fetch.cjs',
  },
} as const satisfies Omit<BundleServiceOptions, 'packageDir'>;
