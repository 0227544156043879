import { fargateVcpus } from '@sidestep/manifest';

/**
 * The parts of a synthesized stack (`cdk.tf.json`) the checks read. The checks read the synthesized
 * stack rather than re-deriving names and settings: it is exactly what `terraform apply` creates.
 */
export interface SynthesizedStack {
  readonly resource?: {
    readonly aws_lambda_function?: Readonly<
      Record<string, { readonly function_name?: string; readonly reserved_concurrent_executions?: number }>
    >;
    readonly aws_s3_bucket?: Readonly<Record<string, { readonly bucket?: string }>>;
    readonly aws_ecs_task_definition?: Readonly<
      Record<string, { readonly family?: string; readonly cpu?: string | number }>
    >;
  };
}

/** A function of the stack and the concurrency it reserves (undefined: none). */
export interface FunctionReservation {
  readonly functionName: string;
  readonly reserved: number | undefined;
}

/** Every function of the stack with its reserved concurrency (the provider's -1 means none). */
export function functionReservations(stack: SynthesizedStack): FunctionReservation[] {
  return Object.entries(stack.resource?.aws_lambda_function ?? {}).map(([address, fn]) => {
    const reserved = fn.reserved_concurrent_executions;
    return {
      functionName: fn.function_name ?? address,
      reserved: reserved === undefined || reserved < 0 ? undefined : reserved,
    };
  });
}

/** The names of every bucket the stack creates. */
export function bucketNames(stack: SynthesizedStack): string[] {
  return Object.values(stack.resource?.aws_s3_bucket ?? {})
    .map((bucket) => bucket.bucket)
    .filter((name): name is string => typeof name === 'string');
}

/** A task definition of the stack and the vCPUs it asks (its `cpu` in CPU units, {@link fargateVcpus}). */
export interface TaskDefinitionSize {
  readonly family: string;
  readonly vcpu: number;
}

/** Every task definition of the stack with the vCPUs it asks. */
export function taskDefinitions(stack: SynthesizedStack): TaskDefinitionSize[] {
  return Object.entries(stack.resource?.aws_ecs_task_definition ?? {}).map(([address, task]) => ({
    family: task.family ?? address,
    vcpu: fargateVcpus(Number(task.cpu ?? 0)),
  }));
}
