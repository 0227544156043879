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

/**
 * The bundle imports an `external` module with a static `import`: esbuild hoists it to the top of
 * the single-file bundle, so it loads at init, and the image's /var/task holds only the bundle, so
 * init fails there with Runtime.ImportModuleError (locally it may still resolve from the workspace).
 */
export class StaticExternalImportError extends BundleError {
  /** The external modules, each with the bundled files that import them statically. */
  readonly imports: Readonly<Record<string, readonly string[]>>;

  constructor(packageDir: string, imports: Readonly<Record<string, readonly string[]>>) {
    const list = Object.entries(imports)
      .map(([module, importers]) => `  ${module} (imported by ${importers.join(', ')})`)
      .join('\n');
    super(
      packageDir,
      `External modules are imported statically, so the bundle would fail at init in its image:\n${list}\n` +
        'Bundle them (remove them from external), or load them with a dynamic import() in the module that needs them.',
    );
    this.name = 'StaticExternalImportError';
    this.imports = imports;
  }
}

/** A bundled third-party package whose licence the policy refuses ({@link RefusedLicenceError}). */
export interface RefusedPackage {
  readonly name: string;
  readonly version: string;
  /** The licence its package.json declares (an SPDX expression, or not), undefined when none. */
  readonly licence: string | undefined;
  /** Why it is refused, e.g. `GPL-3.0 is not an allowed licence`. */
  readonly reason: string;
}

/**
 * Code of a package under a copyleft licence (GPL, AGPL, LGPL, SSPL, EUPL, ...), or under none or
 * one that is not an SPDX expression, would be in the bundle, which the image ships to whoever runs
 * it. Nothing is written: the output directory is emptied.
 */
export class RefusedLicenceError extends BundleError {
  /** The service being bundled (its package.json name). */
  readonly service: string;
  /** Every refused package, sorted by name and version. */
  readonly packages: readonly RefusedPackage[];

  constructor(packageDir: string, service: string, packages: readonly RefusedPackage[]) {
    const list = packages
      .map(
        ({ name, version, licence, reason }) =>
          `  ${name}@${version} (${licence ?? 'no licence'}): ${reason}`,
      )
      .join('\n');
    super(
      packageDir,
      `Refused to bundle ${service}: its code would include packages whose licence is not allowed in what users run:\n${list}\n` +
        'Replace the package, or import an alternative it is licensed under.',
    );
    this.name = 'RefusedLicenceError';
    this.service = service;
    this.packages = packages;
  }
}

/**
 * A bundle that takes a workspace package's own build output (`packages/<name>/dist/...`): that file
 * may itself bundle third-party code (the producer's carries p-limit), whose packages and licences
 * the metafile cannot see, so neither the licence check nor the notices could cover them.
 */
export class PrebuiltWorkspaceInputError extends BundleError {
  /** The built files, as the metafile names them. */
  readonly inputs: readonly string[];

  constructor(packageDir: string, inputs: readonly string[]) {
    super(
      packageDir,
      `The bundle would take a workspace package's built output, whose bundled dependencies' licences cannot be checked:\n${inputs.map((input) => `  ${input}`).join('\n')}\n` +
        `Export the package's source under the "${SOURCE_CONDITION}" condition (package.json exports), which bundleService resolves first.`,
    );
    this.name = 'PrebuiltWorkspaceInputError';
    this.inputs = inputs;
  }
}

/**
 * The package.json exports condition under which a workspace package that ships a pre-built bundle
 * (the producer, for other teams' apps) gives bundleService its source instead.
 */
export const SOURCE_CONDITION = 'sidestep-source';
