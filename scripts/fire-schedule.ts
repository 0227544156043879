// `npm run fire-schedule -- <name>`: fires a schedule by hand through EventBridge (the operator event on
// sidestep-<env>, routed by the schedule's operator rule), against the local cloud or AWS.
import { userInfo } from 'node:os';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { ENVIRONMENTS } from '@sidestep/manifest';
import { SCHEDULES } from '@sidestep/workflows';
import { Command, InvalidArgumentError, Option } from 'commander';
import { fireSchedule, fireScheduleEndpoint, LOCAL_ENDPOINT } from './src/fire-schedule.ts';

function url(value: string): string {
  try {
    return new URL(value).toString().replace(/\/$/, '');
  } catch {
    throw new InvalidArgumentError('must be a URL, e.g. http://127.0.0.1:4566');
  }
}

/** Who runs the command, for the event's audit trail; `unknown` where the OS has no user entry (containers). */
function operatorName(): string {
  try {
    return process.env.USER ?? userInfo().username;
  } catch {
    return 'unknown';
  }
}

const names = SCHEDULES.map((schedule) => schedule.name);
const program = new Command('fire-schedule')
  .description(
    `Fire a schedule by hand: puts a "Schedule Fired" operator event on the sidestep-<env> event bus; the schedule's rule runs its target with its input.\nSchedules: ${names.join(', ')}`,
  )
  .argument('<schedule>', 'the schedule to fire')
  .addOption(new Option('--env <environment>', 'the environment').choices(ENVIRONMENTS).default('local'))
  .option(
    '--endpoint <url>',
    `the EventBridge endpoint (default: $AWS_ENDPOINT_URL_EVENTBRIDGE or $AWS_ENDPOINT_URL when set, else ${LOCAL_ENDPOINT} for --env local and AWS for the others)`,
    url,
  )
  .option('--region <region>', 'the AWS region (default: $AWS_REGION, us-east-1 locally)')
  .parse();

const [schedule = ''] = program.args;
const options = program.opts<{ env: string; endpoint?: string; region?: string }>();
const local = options.env === 'local';
const endpoint = fireScheduleEndpoint({ endpoint: options.endpoint, environment: options.env }, process.env);
const region = options.region ?? process.env.AWS_REGION ?? (local ? 'us-east-1' : undefined);

const client = new EventBridgeClient({
  ...(endpoint ? { endpoint } : {}),
  ...(region ? { region } : {}),
  // The local endpoint takes any credentials; on AWS the SDK's default chain (SSO, env, role) signs.
  ...(local ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
});
try {
  const fired = await fireSchedule({
    client,
    environment: options.env,
    schedule,
    knownSchedules: names,
    operator: operatorName(),
  });
  console.log(
    `fired ${schedule}: event ${fired.eventId} on ${fired.eventBusName}${endpoint ? ` (${endpoint})` : ''}`,
  );
} catch (error) {
  const { name, message, code } = error as NodeJS.ErrnoException;
  const hint = code === 'ECONNREFUSED' && local ? ' (is `npm start` running?)' : '';
  console.error(`${name}: ${message}${hint}`);
  process.exitCode = 1;
} finally {
  client.destroy();
}
