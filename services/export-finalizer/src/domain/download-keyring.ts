import { signingKeyId } from './download-token.ts';

/**
 * Where the signing keys come from: the secret's versions labelled AWSCURRENT and AWSPREVIOUS
 * (`SecretsManagerSigningKeys`, on AWS and in the local cloud), or one fixed key in tests and the
 * bench ({@link fixedSigningKey}).
 */
export interface SigningKeySource {
  /** The key links are signed with now; `fresh` bypasses any cache. */
  current(options?: { readonly fresh?: boolean }): Promise<string>;
  /** The key before the last rotation, `undefined` when there is none; `fresh` bypasses any cache. */
  previous(options?: { readonly fresh?: boolean }): Promise<string | undefined>;
}

/** A source of one key that never rotates (`DOWNLOAD_SIGNING_KEY`: tests, the bench). */
export function fixedSigningKey(value: string): SigningKeySource {
  return { current: async () => value, previous: async () => undefined };
}

/** Options of {@link DownloadKeyring}. */
export interface DownloadKeyringOptions {
  /**
   * The least time between two fetches that bypass the source's cache. A token naming an unknown key
   * costs no more than one such fetch in this time, so forged tokens cannot turn each request into a
   * Secrets Manager call. @default 10_000
   */
  readonly refreshIntervalMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

/**
 * The signing keys of one function instance (keep one per instance: it remembers when it last
 * fetched the keys afresh). The finalizer signs with the current key; the download endpoint checks a
 * token with the current or the previous key, whichever its key id names, so a rotation leaves the
 * links already mailed working, and a second one revokes them. A key id neither key has makes it
 * fetch both keys again once, bypassing the cache: the link was signed by a finalizer that saw a
 * rotation this function has not seen yet.
 */
export class DownloadKeyring {
  readonly #source: SigningKeySource;
  readonly #refreshIntervalMs: number;
  readonly #now: () => number;
  #lastRefresh = Number.NEGATIVE_INFINITY;

  constructor(source: SigningKeySource, options: DownloadKeyringOptions = {}) {
    this.#source = source;
    this.#refreshIntervalMs = options.refreshIntervalMs ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /**
   * The key to sign links with: the current one, read past the cache (one GetSecretValue a finalized
   * export). A cached one signed links with a key up to 5 minutes old: after a revocation (two new
   * values) every endpoint that had refreshed refused them, while the mail promised 7 days.
   */
  signingKey(): Promise<string> {
    return this.#source.current({ fresh: true });
  }

  /**
   * The keys to check a token naming `keyId` with: the one with that id (none when no key has it),
   * or, for a token without a key id (signed before tokens named their key), every key held.
   */
  async keysFor(keyId: string | undefined): Promise<readonly string[]> {
    if (keyId === undefined) return held(await this.#source.current(), await this.#source.previous());
    const matching = (...keys: (string | undefined)[]) =>
      held(...keys).filter((key) => signingKeyId(key) === keyId);
    const current = await this.#source.current();
    if (signingKeyId(current) === keyId) return [current];
    const cached = matching(await this.#source.previous());
    if (cached.length > 0) return cached;
    const now = this.#now();
    if (now - this.#lastRefresh < this.#refreshIntervalMs) return [];
    this.#lastRefresh = now;
    // Both, not only the current key: after a rotation the cached previous key is one too old.
    return matching(
      await this.#source.current({ fresh: true }),
      await this.#source.previous({ fresh: true }),
    );
  }
}

function held(...keys: (string | undefined)[]): string[] {
  return keys.filter((key): key is string => key !== undefined);
}
