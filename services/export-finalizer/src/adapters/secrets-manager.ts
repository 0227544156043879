import type { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { ConfigError, SecretUnavailableError } from '@sidestep/runtime';
import type { SigningKeySource } from '../domain/download-keyring.ts';

/** The variable naming the secret, which every error here names. */
const FIELD = 'DOWNLOAD_SIGNING_KEY_SECRET_ARN';

type Stage = 'AWSCURRENT' | 'AWSPREVIOUS';

/** Options of {@link SecretsManagerSigningKeys}. */
export interface SecretsManagerSigningKeysOptions {
  /** How long a fetched version (or the absence of AWSPREVIOUS) is kept. @default 300 */
  readonly maxAgeSeconds?: number;
}

/**
 * The download signing key in Secrets Manager: the version labelled AWSCURRENT, and the one labelled
 * AWSPREVIOUS, which `put-secret-value` moves to the version that was current
 * (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html), each
 * fetched with GetSecretValue's `VersionStage`
 * (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html) through
 * Powertools parameters and kept {@link SecretsManagerSigningKeysOptions.maxAgeSeconds}.
 */
export class SecretsManagerSigningKeys implements SigningKeySource {
  readonly secretArn: string;
  readonly #maxAgeSeconds: number;
  #providers: Promise<Record<Stage, SecretsProvider>> | undefined;
  #previousAbsentUntil = 0;

  constructor(secretArn: string, options: SecretsManagerSigningKeysOptions = {}) {
    this.secretArn = secretArn;
    this.#maxAgeSeconds = options.maxAgeSeconds ?? 300;
  }

  /**
   * @throws {SecretUnavailableError} the secret could not be fetched (retryable).
   * @throws {ConfigError} its value is not a string of at least 32 characters.
   */
  async current(options: { readonly fresh?: boolean } = {}): Promise<string> {
    const key = await this.#fetch('AWSCURRENT', options.fresh ?? false);
    if (key === undefined) {
      throw new SecretUnavailableError(
        FIELD,
        `the download signing secret ${this.secretArn} has no value yet`,
      );
    }
    return key;
  }

  /**
   * `undefined` while the secret has had one value only (GetSecretValue answers ResourceNotFoundException
   * for a label no version has); that answer is kept as long as a value.
   *
   * @throws {SecretUnavailableError} the secret could not be fetched (retryable).
   * @throws {ConfigError} its value is not a string of at least 32 characters.
   */
  async previous(options: { readonly fresh?: boolean } = {}): Promise<string | undefined> {
    const fresh = options.fresh ?? false;
    if (!fresh && Date.now() < this.#previousAbsentUntil) return undefined;
    const key = await this.#fetch('AWSPREVIOUS', fresh);
    this.#previousAbsentUntil = key === undefined ? Date.now() + this.#maxAgeSeconds * 1000 : 0;
    return key;
  }

  async #fetch(stage: Stage, fresh: boolean): Promise<string | undefined> {
    let secret: unknown;
    try {
      const provider = (await this.#loadProviders())[stage];
      secret = await provider.get(this.secretArn, {
        maxAge: this.#maxAgeSeconds,
        forceFetch: fresh,
        sdkOptions: { VersionStage: stage },
      });
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw new SecretUnavailableError(
        FIELD,
        `the download signing secret ${this.secretArn} (${stage}) could not be fetched`,
        { cause: error },
      );
    }
    if (typeof secret !== 'string' || secret.length < 32) {
      throw new ConfigError(
        FIELD,
        `invalid configuration: the download signing secret (${stage}) must be a string of at least 32 characters`,
      );
    }
    return secret;
  }

  #loadProviders(): Promise<Record<Stage, SecretsProvider>> {
    // Loaded here, not at module scope: only a function configured with the secret needs the Secrets
    // Manager client, so the others do not compile it at cold start. One provider per stage:
    // Powertools caches by name and transform only, not by `sdkOptions`, so AWSPREVIOUS fetched
    // through the provider holding AWSCURRENT would replace it in the cache.
    this.#providers ??= Promise.all([
      import('@aws-lambda-powertools/parameters/secrets'),
      import('@aws-sdk/client-secrets-manager'),
    ]).then(([{ SecretsProvider }, { SecretsManagerClient }]) => {
      const awsSdkV3Client = new SecretsManagerClient();
      return {
        AWSCURRENT: new SecretsProvider({ awsSdkV3Client }),
        AWSPREVIOUS: new SecretsProvider({ awsSdkV3Client }),
      };
    });
    return this.#providers;
  }
}

function isNotFound(error: unknown): boolean {
  const cause = error instanceof Error ? error.cause : undefined;
  return cause instanceof Error && cause.name === 'ResourceNotFoundException';
}
