/** Base of the errors {@link bundleService} raises. Permanent: the same input fails the same way. */
export class BundleError extends Error {
  readonly retryable: boolean = false;
  /** The service package being bundled. */
  readonly packageDir: string;

  constructor(packageDir: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'BundleError';
    this.packageDir = packageDir;
  }
}

/** An option of `bundleService` is unusable, e.g. the entry file does not exist. */
export class BundleOptionError extends BundleError {
  /** The offending option, e.g. `entry`. */
  readonly field: string;

  constructor(packageDir: string, field: string, reason: string) {
    super(packageDir, `Invalid bundle option ${field}: ${reason}`);
    this.name = 'BundleOptionError';
    this.field = field;
  }
}

/** esbuild reported errors (unresolvable import, syntax error); `cause` holds esbuild's failure. */
export class BundleBuildError extends BundleError {
  /** esbuild's messages, `file:line:column: text`. */
  readonly messages: readonly string[];

  constructor(packageDir: string, messages: readonly string[], cause: unknown) {
    super(packageDir, `Bundling ${packageDir} failed:\n${messages.join('\n')}`, { cause });
    this.name = 'BundleBuildError';
    this.messages = messages;
  }
}
