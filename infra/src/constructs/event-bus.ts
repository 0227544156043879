import { CloudwatchEventArchive } from '@cdktn/provider-aws/lib/cloudwatch-event-archive/index.js';
import { CloudwatchEventBus } from '@cdktn/provider-aws/lib/cloudwatch-event-bus/index.js';
import { Construct } from 'constructs';
import { InfraConfigError } from '../errors.ts';
import { type PolicyGrantee, statementId } from './grantable-role.ts';

/** Props of {@link EventBus}. */
export interface EventBusProps {
  /** Environment name (`staging`); the bus is `sidestep-<env>`. */
  readonly environment: string;
  /**
   * Days every event put on the bus is archived, so any of them (an operator firing a schedule) can be
   * replayed with `aws events start-replay` and audited afterwards.
   * @default 90
   */
  readonly archiveRetentionDays?: number;
}

/**
 * sidestep's own EventBridge bus, `sidestep-<env>`: operators put events on it (`pnpm fire-schedule`
 * puts `Schedule Fired` events), rules on it route them. Every event is archived (retention set) so
 * manual runs stay auditable and replayable like any other event.
 */
export class EventBus extends Construct {
  /** The bus resource. */
  readonly bus: CloudwatchEventBus;
  /** `sidestep-<env>` (a literal: rules and the operator command name it). */
  readonly busName: string;
  /** Bus ARN. */
  readonly busArn: string;
  /** The archive of every event put on the bus. */
  readonly archive: CloudwatchEventArchive;

  constructor(scope: Construct, id: string, props: EventBusProps) {
    super(scope, id);
    const retentionDays = props.archiveRetentionDays ?? 90;
    if (!Number.isInteger(retentionDays) || retentionDays < 1) {
      // 0 would keep events forever: replayable, but an unbounded store of operator activity.
      throw new InfraConfigError(
        'event-bus.archiveRetentionDays',
        'must be a whole number of days, at least 1',
      );
    }
    // The prefix every sidestep resource name starts with (`resourceName(env, x)` = `sidestep-<env>-x`).
    this.busName = `sidestep-${props.environment}`;
    this.bus = new CloudwatchEventBus(this, 'bus', {
      name: this.busName,
      description: `sidestep ${props.environment}: operator events (schedules fired by hand) and their rules`,
    });
    this.busArn = this.bus.arn;
    this.archive = new CloudwatchEventArchive(this, 'archive', {
      name: `${this.busName}-events`,
      description: `Every event put on ${this.busName}, for audit and replay`,
      eventSourceArn: this.bus.arn,
      retentionDays,
    });
  }

  /** Lets a grantee (an operator role, the deploy pipeline's smoke test) put events on this bus only. */
  grantPutEvents(grantee: PolicyGrantee): void {
    grantee.addToPolicy({
      sid: statementId('put', 'events', this.busName),
      actions: ['events:PutEvents'],
      resources: [this.busArn],
    });
  }
}
