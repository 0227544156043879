/** The `name` (the AWS error code, as the SDK maps it) a call rejects with; fails if it succeeds. */
export async function errorNameOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return (error as Error).name;
  }
  throw new Error('the call succeeded');
}
