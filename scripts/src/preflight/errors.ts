import { SidestepError } from '@sidestep/runtime';

/** The environment's stack has not been synthesized, so the checks that read it cannot run. */
export class StackNotSynthesizedError extends SidestepError {
  override readonly name = 'StackNotSynthesizedError';
  /** The file that was expected. */
  readonly file: string;
  constructor(file: string, options: { readonly cause?: unknown } = {}) {
    super(`no synthesized stack at ${file}: run \`pnpm synth\` (with the same SIDESTEP_* variables) first`, {
      ...options,
      permanent: true,
      field: 'stack',
    });
    this.file = file;
  }
}
