import { LOCAL_CLOUD } from '@sidestep/ops';

/**
 * The command that fires `schedule` at the local cloud on `endpoint`, as a person runs it from the
 * repository root (`npm run fire-schedule`, the alias of `sidestep fire`); `--endpoint` only when
 * the cloud is not on the default port.
 */
export function fireScheduleCommand(schedule: string, endpoint: string): string {
  const target = endpoint.replace(/\/$/, '') === LOCAL_CLOUD.endpoint ? '' : ` --endpoint ${endpoint}`;
  return `npm run fire-schedule -- ${schedule}${target}`;
}
