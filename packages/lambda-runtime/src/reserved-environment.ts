/** The function a sandbox runs, as far as Lambda's reserved variables describe it. */
export interface ReservedEnvironmentSettings {
  readonly functionName: string;
  readonly memoryMb: number;
  readonly region: string;
  /** The image CMD (`index.handler`), which Lambda gives the runtime as `_HANDLER`. */
  readonly handler: string;
  /** Where the function's files are (`LAMBDA_TASK_ROOT`). */
  readonly taskRoot: string;
}

/**
 * The reserved variables Lambda sets for every function and a function cannot set itself
 * (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime)
 * that describe it: its region, execution environment, name, memory, version, initialization type,
 * task root and handler. The local sandbox adds its runtime API, log names and directories; the
 * bench's "as deployed" measure adds the execution role's credentials.
 */
export function reservedLambdaEnvironment(settings: ReservedEnvironmentSettings): Record<string, string> {
  return {
    AWS_REGION: settings.region,
    AWS_DEFAULT_REGION: settings.region,
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
    AWS_LAMBDA_FUNCTION_NAME: settings.functionName,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(settings.memoryMb),
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    LAMBDA_TASK_ROOT: settings.taskRoot,
    _HANDLER: settings.handler,
  };
}
