/** The Fargate capacity providers the batch task can run on. */
export const BATCH_CAPACITIES = ['FARGATE', 'FARGATE_SPOT'] as const;
export type BatchCapacity = (typeof BATCH_CAPACITIES)[number];

/** A Fargate task's CPU architecture (`runtimePlatform.cpuArchitecture`). */
export type TaskArchitecture = 'ARM64' | 'X86_64';

/**
 * The batch task's CPU architecture on a capacity: ARM64 (Graviton, as the functions), except on
 * FARGATE_SPOT, which runs no ARM64 Linux task ("Linux tasks with the ARM64 architecture don't support
 * the Fargate Spot capacity provider",
 * https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-capacity-providers.html): X86_64
 * there. The task definition (`BatchTask`) and the image build (`pnpm images`, which builds the task's
 * image for linux/amd64 then) both follow it.
 */
export function batchTaskArchitecture(capacity: BatchCapacity | undefined): TaskArchitecture {
  return capacity === 'FARGATE_SPOT' ? 'X86_64' : 'ARM64';
}
