/** Settings of the log group a construct writes to. */
export interface LogGroupSettings {
  /** Days the logs are kept. @default 30 */
  readonly retentionDays?: number;
  /** KMS key ARN for the log group. @default CloudWatch Logs' own encryption */
  readonly kmsKeyArn?: string;
}
