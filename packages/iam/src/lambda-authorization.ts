import {
  type ArnScope,
  type AuthorizationCheck,
  required,
  ServiceOperations,
} from './authorization-check.ts';

// Actions, resource types and condition keys for AWS Lambda:
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_awslambda.html
const ACTIONS = new ServiceOperations<string>('lambda', {
  Invoke: 'lambda:InvokeFunction',
  InvokeWithResponseStream: 'lambda:InvokeFunction',
  InvokeFunctionUrl: 'lambda:InvokeFunctionUrl',
  GetFunction: 'lambda:GetFunction',
  GetFunctionConfiguration: 'lambda:GetFunctionConfiguration',
});

export interface LambdaRequestTarget extends ArnScope {
  /** `FunctionName`: a name, a partial or a full ARN. */
  readonly functionName?: string;
  /** A version or alias; the qualified ARN is then the resource. */
  readonly qualifier?: string;
  /** InvokeFunctionUrl: the URL's auth type (`NONE` or `AWS_IAM`), condition key `lambda:FunctionUrlAuthType`. */
  readonly functionUrlAuthType?: 'NONE' | 'AWS_IAM';
}

/** `arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]`; an ARN passed as the name is kept. */
export function lambdaFunctionArn(scope: ArnScope, functionName: string, qualifier?: string): string {
  const base = functionName.startsWith('arn:')
    ? functionName
    : ACTIONS.arn(scope, `function:${functionName}`);
  return qualifier === undefined ? base : `${base}:${qualifier}`;
}

/**
 * What a Lambda API call needs authorized. A function URL call needs lambda:InvokeFunctionUrl with
 * its auth type and, since October 2025, lambda:InvokeFunction with `lambda:InvokedViaFunctionUrl`
 * (https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html).
 */
export function lambdaAuthorization(operation: string, target: LambdaRequestTarget): AuthorizationCheck[] {
  const action = ACTIONS.lookup(operation);
  const resource = lambdaFunctionArn(
    target,
    required(target.functionName, 'functionName', operation),
    target.qualifier,
  );
  if (operation !== 'InvokeFunctionUrl') return [{ action, resource }];
  const authType = required(target.functionUrlAuthType, 'functionUrlAuthType', operation);
  return [
    { action, resource, context: { 'lambda:FunctionUrlAuthType': authType } },
    { action: 'lambda:InvokeFunction', resource, context: { 'lambda:InvokedViaFunctionUrl': true } },
  ];
}
