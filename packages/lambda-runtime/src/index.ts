/**
 * @sidestep/lambda-runtime: runs Lambda service bundles locally behind the Lambda Runtime API
 * contract, each function as long-lived warm sandbox processes, the same bundle the image contains.
 */
export {
  EnvironmentVariablesTooLargeError,
  InvalidFunctionOptionError,
  LambdaRuntimeError,
  ReservedEnvironmentVariableError,
  RuntimeApiClosedError,
} from './errors.ts';
export { type FunctionHost, type FunctionOptions, startFunction } from './function-host.ts';
export {
  type LambdaDockerfile,
  readLambdaDockerfile,
  type StagedTaskRoot,
  stageTaskRoot,
} from './image.ts';
export { processStatFields } from './process-stat.ts';
export { readOnlyFlags } from './read-only-flags.ts';
export { type ReservedEnvironmentSettings, reservedLambdaEnvironment } from './reserved-environment.ts';
export {
  type InvokeOptions,
  type InvokeResult,
  type LambdaErrorBody,
  MAX_RESPONSE_BYTES,
  type RuntimeApi,
  type RuntimeApiOptions,
  startRuntimeApi,
} from './runtime-api.ts';
export {
  type LambdaContext,
  RuntimeConfigurationError,
  runInterfaceClient,
} from './runtime-interface-client.ts';
export { exitWithParentFlags, killGroup, runtimeInterfaceClientPath } from './sandbox.ts';
