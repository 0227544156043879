/**
 * Serves one AWS JSON-protocol API (`X-Amz-Target: <prefix>.<Operation>`) on the endpoint.
 * Returns the operation's output; throws an error whose `name` is the AWS error code
 * (`ExecutionDoesNotExist`) and, for a server-side fault, a `statusCode` of 500 or more.
 * A module of its own: the APIs the endpoint itself creates (Secrets Manager) import it without
 * importing the endpoint.
 */
export type JsonApiHandler = (operation: string, input: Record<string, unknown>) => Promise<unknown>;
