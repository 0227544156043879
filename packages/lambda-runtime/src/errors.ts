import { type LambdaEnvironmentSize, lambdaEnvironmentLimitMessage } from '@sidestep/manifest';

/** Base of every error the local Lambda service (host side) raises. */
export class LambdaRuntimeError extends Error {
  /** Same function, same options: retrying cannot help. */
  readonly retryable: boolean = false;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'LambdaRuntimeError';
  }
}

/** An invocation was queued on a Runtime API or function host that is already closed. */
export class RuntimeApiClosedError extends LambdaRuntimeError {
  readonly functionName: string;

  constructor(functionName: string) {
    super(`The Lambda runtime for function ${functionName} is closed`);
    this.name = 'RuntimeApiClosedError';
    this.functionName = functionName;
  }
}

/**
 * A function option is invalid, e.g. a missing bundle directory or a handler without a `.`.
 * Lambda rejects such configurations at create time; so does the local host.
 */
export class InvalidFunctionOptionError extends LambdaRuntimeError {
  /** The offending option, e.g. `bundleDir`. */
  readonly field: string;

  constructor(field: string, reason: string) {
    super(`Invalid function option ${field}: ${reason}`);
    this.name = 'InvalidFunctionOptionError';
    this.field = field;
  }
}

/**
 * The environment tries to set a variable the Lambda service itself sets
 * (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime).
 */
export class ReservedEnvironmentVariableError extends LambdaRuntimeError {
  readonly variable: string;

  constructor(variable: string) {
    super(`Environment variable ${variable} is reserved by the Lambda runtime and cannot be set`);
    this.name = 'ReservedEnvironmentVariableError';
    this.variable = variable;
  }
}

/**
 * The function's environment variables are over Lambda's 4 KB, measured as Lambda measures them
 * (`@sidestep/manifest`'s `lambdaEnvironmentSize`). Lambda refuses such a function at CreateFunction with
 * this name and message; the local service has no CreateFunction, so it refuses at `startFunction`.
 */
export class EnvironmentVariablesTooLargeError extends LambdaRuntimeError {
  /** `environment`: the option Lambda calls `Environment.Variables`. */
  readonly field = 'environment';
  readonly functionName: string;
  /** Their size as Lambda measures it. */
  readonly bytes: number;

  constructor(functionName: string, size: LambdaEnvironmentSize) {
    super(lambdaEnvironmentLimitMessage(size.measured));
    this.name = 'InvalidParameterValueException';
    this.functionName = functionName;
    this.bytes = size.bytes;
  }
}
