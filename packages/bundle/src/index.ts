/**
 * @sidestep/bundle: esbuild bundles for service images. One self-contained, minified ESM file per
 * service (`dist/index.mjs`, image CMD `index.handler`), the same bytes locally and on AWS.
 */
export { runBundleCli } from './bundle-cli.ts';
export {
  type BundleResult,
  type BundleServiceOptions,
  bundleService,
  CREATE_REQUIRE_BANNER,
} from './bundle-service.ts';
export {
  COMPILE_CACHE_DIR,
  COMPILE_CACHE_LOADER,
  COMPILE_CACHE_WRITER,
  CompileCacheWriteError,
  compileCacheVersion,
  runCompileCacheWriter,
  type ShippedCompileCache,
  useShippedCompileCache,
  type WrittenCompileCache,
  writeCompileCache,
} from './compile-cache.ts';
export {
  BundleBuildError,
  BundleError,
  BundleOptionError,
  PrebuiltWorkspaceInputError,
  RefusedLicenceError,
  type RefusedPackage,
  SOURCE_CONDITION,
  StaticExternalImportError,
} from './errors.ts';
export {
  ALLOWED_LICENCES,
  type BundledPackage,
  type LicenceVerdict,
  licenceVerdict,
  THIRD_PARTY_NOTICES,
} from './third-party-notices.ts';
