/** Resource ARNs of the optimized service integrations sidestep's workflows use. */
export const INTEGRATION = {
  lambdaInvoke: 'arn:aws:states:::lambda:invoke',
  ecsRunTaskSync: 'arn:aws:states:::ecs:runTask.sync',
  sqsSendMessage: 'arn:aws:states:::sqs:sendMessage',
} as const;
