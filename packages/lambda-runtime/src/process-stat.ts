import { readFileSync } from 'node:fs';

/**
 * The fields of /proc/<pid>/stat after the command (Linux): `[state, ppid, pgrp, ...]`, so
 * `fields[0]` is the state and `fields[11]`/`fields[12]` are utime/stime in clock ticks. The command,
 * in parentheses, may hold spaces and parentheses: the fields are read after the last `)`.
 * `undefined` when the process is gone, or there is no /proc.
 */
export function processStatFields(pid: number | string): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}
