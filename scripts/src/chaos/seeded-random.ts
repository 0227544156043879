import { SidestepError } from '@sidestep/runtime';

/** `--seed` / `CHAOS_SEED` is not an unsigned 32-bit integer. */
export class InvalidSeedError extends SidestepError {
  override readonly name = 'InvalidSeedError';
  readonly value: string;
  constructor(value: string) {
    super(`seed: "${value}" is not an integer from 0 to 4294967295`, { permanent: true, field: 'seed' });
    this.value = value;
  }
}

/**
 * A small seeded PRNG (mulberry32, public domain, by Tommy Ettinger): the same seed gives the same
 * fault points on every machine, so a failing run is re-run with its printed seed. Written out here
 * because it is eight lines and the npm ones (seedrandom, pure-rand) bring far more than a chaos run
 * needs; `Math.random` cannot be seeded.
 */
export class SeededRandom {
  readonly seed: number;
  #state: number;

  constructor(seed: number) {
    this.seed = seed >>> 0;
    this.#state = this.seed;
  }

  /** A float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** One of `choices`. */
  pick<T>(choices: readonly T[]): T {
    const choice = choices[Math.floor(this.next() * choices.length)];
    if (choice === undefined) throw new RangeError('pick: no choices');
    return choice;
  }

  /** An independent generator for one target, so adding points to one target does not move another's. */
  fork(label: string): SeededRandom {
    let hash = this.seed;
    for (const char of label) hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193) >>> 0;
    return new SeededRandom(hash);
  }
}

/**
 * The run's seed: `--seed`, else `CHAOS_SEED`, else a fresh one (printed by the caller so the run can
 * be repeated). @throws {InvalidSeedError} for a value that is not a 32-bit unsigned integer.
 */
export function chaosSeed(
  option: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): number {
  const value = option ?? env.CHAOS_SEED;
  if (value === undefined || value === '') return Math.floor(Math.random() * 4_294_967_296);
  const seed = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(seed) || seed > 4_294_967_295) {
    throw new InvalidSeedError(value);
  }
  return seed;
}
