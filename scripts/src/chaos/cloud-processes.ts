import { readdirSync, readFileSync } from 'node:fs';
import { processStatFields } from '@sidestep/lambda-runtime';

/** A process of the local cloud: a Fargate task's container or a Lambda sandbox. */
export interface CloudProcess {
  readonly pid: number;
  /** `AWS_LAMBDA_FUNCTION_NAME` of a sandbox (`sidestep-local-status-updater`). */
  readonly functionName: string | undefined;
  /** True for a Fargate task's container (`AWS_EXECUTION_ENV=AWS_ECS_FARGATE`). */
  readonly fargateTask: boolean;
}

function parentOf(pid: string): number | undefined {
  const ppid = processStatFields(pid)?.[1];
  return ppid === undefined ? undefined : Number(ppid);
}

function environmentOf(pid: number): Map<string, string> {
  try {
    const entries = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    return new Map(
      entries.map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]),
    );
  } catch {
    return new Map();
  }
}

/**
 * The task containers and sandboxes among `rootPid`'s descendants, found in /proc (Linux), so the
 * chaos suite kills the real processes the local cloud started without a hook in the local cloud:
 * each carries the environment AWS would give it (`AWS_LAMBDA_FUNCTION_NAME`, `AWS_EXECUTION_ENV`).
 */
export function cloudProcesses(rootPid: number): CloudProcess[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const parent = parentOf(entry);
    if (parent !== undefined) children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
  }
  const found: CloudProcess[] = [];
  const pending = [...(children.get(rootPid) ?? [])];
  for (let pid = pending.pop(); pid !== undefined; pid = pending.pop()) {
    pending.push(...(children.get(pid) ?? []));
    const env = environmentOf(pid);
    const functionName = env.get('AWS_LAMBDA_FUNCTION_NAME');
    const fargateTask = env.get('AWS_EXECUTION_ENV') === 'AWS_ECS_FARGATE';
    if (functionName || fargateTask) found.push({ pid, functionName, fargateTask });
  }
  return found;
}

/** Sends `signal` to each process; one that already exited is skipped. Returns the pids signalled. */
export function signalProcesses(processes: readonly CloudProcess[], signal: NodeJS.Signals): number[] {
  return processes.flatMap((found) => {
    try {
      process.kill(found.pid, signal);
      return [found.pid];
    } catch {
      return [];
    }
  });
}
