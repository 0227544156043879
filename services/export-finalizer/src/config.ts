import { ConfigError, readConfig } from '@sidestep/runtime';
import * as z from 'zod/mini';
import { SecretsManagerSigningKeys } from './adapters/secrets-manager.ts';
import { fixedSigningKey, type SigningKeySource } from './domain/download-keyring.ts';

const SECONDS_PER_DAY = 86_400;

const ExportFinalizerEnvironment = z.object({
  /**
   * The download endpoint's URL; links are `<DOWNLOAD_BASE_URL>?token=<token>`. On AWS the download
   * function's URL (or a domain in front of it); locally the endpoint the local cloud mounts.
   * Required by the finalizer; the download function cannot know its own URL and does not need it.
   */
  DOWNLOAD_BASE_URL: z.optional(z.url({ protocol: /^https?$/ })),
  /** The image CMD Lambda runs (`index.handler` or `index.downloadHandler`); set by Lambda itself. */
  _HANDLER: z.optional(z.string()),
  /** The HMAC key itself (tests, the bench): at least 32 characters. Wins over the secret. */
  DOWNLOAD_SIGNING_KEY: z.optional(z.string().check(z.minLength(32))),
  /** The Secrets Manager secret holding the HMAC key (set by infra on AWS, by the local cloud locally). */
  DOWNLOAD_SIGNING_KEY_SECRET_ARN: z.optional(z.string().check(z.minLength(1))),
  /** Seconds a download link works. 7 days: as long as the exports bucket keeps an export. */
  DOWNLOAD_LINK_TTL_SECONDS: z._default(
    z.coerce.number().check(z.int(), z.minimum(60), z.maximum(30 * SECONDS_PER_DAY)),
    7 * SECONDS_PER_DAY,
  ),
  /** Seconds the presigned URL the download endpoint redirects to works. */
  DOWNLOAD_REDIRECT_TTL_SECONDS: z._default(
    z.coerce.number().check(z.int(), z.minimum(10), z.maximum(3600)),
    300,
  ),
  /** The exports bucket: the only bucket the download endpoint serves (set by the `exports-bucket` permission). */
  EXPORTS_BUCKET: z.optional(z.string().check(z.minLength(3))),
  /** `true` for S3 emulators (the local cloud sets it), which serve buckets as paths. */
  AWS_S3_FORCE_PATH_STYLE: z.optional(z.enum(['true', 'false'])),
});

/** What every function of the image reads. */
interface CommonConfig {
  readonly signingKey: { readonly value: string } | { readonly secretArn: string };
  readonly s3ForcePathStyle: boolean;
}

/**
 * The configuration of the function this image runs as: the finalizer (`index.handler`), which signs
 * links to `downloadBaseUrl`, or the download endpoint (`index.downloadHandler`), which serves
 * `exportsBucket`. Which one is read from `_HANDLER`, the CMD Lambda runs.
 */
export type ExportFinalizerConfig = CommonConfig &
  (
    | {
        readonly role: 'finalizer';
        readonly downloadBaseUrl: string;
        readonly linkTtlSeconds: number;
        readonly exportsBucket: string | undefined;
      }
    | { readonly role: 'download'; readonly exportsBucket: string; readonly redirectTtlSeconds: number }
  );

/** The CMD of the download endpoint (see `handler.ts`). */
export const DOWNLOAD_HANDLER = 'index.downloadHandler';

/**
 * Reads the environment once, at cold start: a function deployed without its download settings fails
 * at init naming the variable, not after combining a 10 GB export.
 */
export function loadConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
): ExportFinalizerConfig {
  const config = readConfig(ExportFinalizerEnvironment, env);
  let signingKey: ExportFinalizerConfig['signingKey'];
  if (config.DOWNLOAD_SIGNING_KEY) signingKey = { value: config.DOWNLOAD_SIGNING_KEY };
  else if (config.DOWNLOAD_SIGNING_KEY_SECRET_ARN)
    signingKey = { secretArn: config.DOWNLOAD_SIGNING_KEY_SECRET_ARN };
  else {
    throw new ConfigError(
      'DOWNLOAD_SIGNING_KEY',
      'invalid configuration: DOWNLOAD_SIGNING_KEY is missing (or set DOWNLOAD_SIGNING_KEY_SECRET_ARN to the secret holding it)',
    );
  }
  const common: CommonConfig = { signingKey, s3ForcePathStyle: config.AWS_S3_FORCE_PATH_STYLE === 'true' };
  if (config._HANDLER === DOWNLOAD_HANDLER) {
    if (!config.EXPORTS_BUCKET) {
      throw new ConfigError('EXPORTS_BUCKET', 'invalid configuration: EXPORTS_BUCKET is missing');
    }
    return {
      ...common,
      role: 'download',
      exportsBucket: config.EXPORTS_BUCKET,
      redirectTtlSeconds: config.DOWNLOAD_REDIRECT_TTL_SECONDS,
    };
  }
  if (!config.DOWNLOAD_BASE_URL) {
    throw new ConfigError('DOWNLOAD_BASE_URL', 'invalid configuration: DOWNLOAD_BASE_URL is missing');
  }
  return {
    ...common,
    role: 'finalizer',
    downloadBaseUrl: config.DOWNLOAD_BASE_URL,
    linkTtlSeconds: config.DOWNLOAD_LINK_TTL_SECONDS,
    exportsBucket: config.EXPORTS_BUCKET,
  };
}

/**
 * Where the HMAC keys come from: the variable's value (never rotated), or the secret's versions
 * AWSCURRENT and AWSPREVIOUS, each fetched once per 5 minutes. The handler makes one at load and
 * keeps it for the process's life, so its cache serves every invocation.
 */
export function signingKeySource(signingKey: ExportFinalizerConfig['signingKey']): SigningKeySource {
  return 'value' in signingKey
    ? fixedSigningKey(signingKey.value)
    : new SecretsManagerSigningKeys(signingKey.secretArn);
}
