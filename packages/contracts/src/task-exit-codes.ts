/**
 * The exit code of a batch-worker task that stopped on a transient database conflict: PostgreSQL
 * aborted the import's completing transaction for a deadlock (`40P01`) or a serialization failure
 * (`40001`) on every one of the worker's own attempts. Nothing was imported and the staging is kept,
 * so the same task run again resumes it: the workflow reruns it after a wait. 75 is `EX_TEMPFAIL` of
 * sysexits.h ("temporary failure; the user is invited to retry").
 *
 * `ecs:runTask.sync` fails the workflow step on every non-zero exit (`States.TaskFailed`); the stopped
 * task's description, the `Cause`, carries the code as `Containers[].ExitCode`.
 */
export const TRANSIENT_CONFLICT_EXIT_CODE = 75;
