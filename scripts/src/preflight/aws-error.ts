/** The parts of an AWS SDK v3 service exception the checks look at. */
interface ServiceError {
  readonly name?: string;
  readonly message?: string;
  readonly $metadata?: { readonly httpStatusCode?: number };
}

/** The error's name (`NoSuchEntityException`), or `Error`. */
export function errorName(error: unknown): string {
  return (error as ServiceError | undefined)?.name ?? 'Error';
}

/** The HTTP status AWS answered with, when the error came from an answer. */
export function httpStatus(error: unknown): number | undefined {
  return (error as ServiceError | undefined)?.$metadata?.httpStatusCode;
}

/** The caller may not make the call (IAM said no), here or in the error's causes (wrappers keep it). */
export function isAccessDenied(error: unknown): boolean {
  for (let current = error; current; current = (current as { cause?: unknown }).cause) {
    if (/AccessDenied|UnauthorizedOperation|NotAuthorized/i.test(errorName(current))) return true;
  }
  return false;
}

/** `Name: message` of any thrown value, for a verdict's detail. */
export function describeError(error: unknown): string {
  const { name, message } = (error ?? {}) as ServiceError;
  return `${name ?? 'Error'}: ${message ?? String(error)}`;
}
