import { rejectionOf } from '@sidestep/contracts/testing';

/** The `name` (the AWS error code, as the SDK maps it) a call rejects with; fails if it succeeds. */
export async function errorNameOf(promise: Promise<unknown>): Promise<string> {
  return (await rejectionOf(promise, Error)).name;
}
