/**
 * How EventBridge retries a delivery it could not make before dead-lettering it: a rule target's
 * `RetryPolicy` (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-retry-policy.html)
 * and a Scheduler schedule's `retry_policy` (`aws_scheduler_schedule`) have the same two limits.
 */
export interface EventRetryPolicy {
  /** 0-185. */
  readonly maximumRetryAttempts: number;
  /** 60-86400: an event older than this (since its first delivery) is dead-lettered, not retried. */
  readonly maximumEventAgeSeconds: number;
}

/**
 * EventBridge's retry policy for a rule target that sets none, 185 retries within 24 hours: infra's
 * workflow-ended rule's default, and the local cloud's.
 */
export const EVENTBRIDGE_DEFAULT_RETRY_POLICY: EventRetryPolicy = {
  maximumRetryAttempts: 185,
  maximumEventAgeSeconds: 86_400,
};

/**
 * A workflow trigger's (infra's S3Trigger) retry policy when it sets none, 20 retries within an
 * hour: infra deploys it, the local cloud's trigger rules retry by it.
 */
export const S3_TRIGGER_RETRY_POLICY: EventRetryPolicy = {
  maximumRetryAttempts: 20,
  maximumEventAgeSeconds: 3600,
};
