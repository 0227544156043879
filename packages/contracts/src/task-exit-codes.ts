/**
 * The exit code of a batch-worker task that stopped on a transient failure, one another run of the
 * same task can pass: PostgreSQL aborted the import's completing transaction for a deadlock (`40P01`)
 * or a serialization failure (`40001`) on every one of the worker's own attempts, or the database or
 * S3 stayed unreachable, refused, throttled or failed with a 5xx past the worker's and the SDK's own
 * retries. Nothing was imported; an import's staging and an export's stored parts are kept, so the
 * same task run again resumes them: the workflow reruns it after a growing wait. 75 is `EX_TEMPFAIL`
 * of sysexits.h ("temporary failure; the user is invited to retry").
 *
 * `ecs:runTask.sync` fails the workflow step on every non-zero exit (`States.TaskFailed`); the stopped
 * task's description, the `Cause`, carries the code as `Containers[].ExitCode`.
 */
export const TRANSIENT_FAILURE_EXIT_CODE = 75;
