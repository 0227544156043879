/**
 * The subset of the Amazon States Language (JSONPath query language) that sidestep's workflows use,
 * as plain types: https://states-language.net/spec.html and
 * https://docs.aws.amazon.com/step-functions/latest/dg/concepts-amazon-states-language.html
 *
 * Why our own types and no library: the definition is plain JSON handed to Terraform and to the local
 * engine, so no builder runtime is wanted (the AWS CDK's `aws-stepfunctions` renders ASL only inside
 * an aws-cdk-lib CloudFormation stack, which a cdktn app does not have); `aws-local-stepfunctions`
 * ships types, but it is a test/local dependency, its types are loose (`JSONValue` everywhere), and
 * infra must not need it to typecheck. These few types give readable, checked definitions with no
 * dependency, and stay assignable to `aws-local-stepfunctions`' `StateMachineDefinition` (the
 * execution tests pass our definition to it unchanged, so the typecheck says so).
 */

/** Any JSON value. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/**
 * A payload template (`Parameters`, `ResultSelector`): JSON whose keys ending in `.$` hold a JSONPath
 * or an intrinsic function (`States.Format(...)`), evaluated against the state's input.
 */
export type PayloadTemplate = { [key: string]: Json };

/** A retrier: which errors, how often, with which backoff. */
export interface Retrier {
  readonly ErrorEquals: string[];
  readonly IntervalSeconds?: number;
  readonly MaxAttempts?: number;
  readonly BackoffRate?: number;
  readonly MaxDelaySeconds?: number;
  readonly JitterStrategy?: 'FULL' | 'NONE';
}

/** A catcher: which errors, where to go, and where in the input to put `{ Error, Cause }`. */
export interface Catcher {
  readonly ErrorEquals: string[];
  readonly Next: string;
  readonly ResultPath?: string;
}

interface StateBase {
  readonly Comment?: string;
}

/** Either `Next` or `End: true`. */
type Transition =
  | { readonly Next: string; readonly End?: never }
  | { readonly End: true; readonly Next?: never };

interface InputOutput {
  readonly InputPath?: string | null;
  readonly OutputPath?: string | null;
}

/** How a state that runs work (Task, Parallel, Map) shapes its result and handles its errors. */
interface ResultHandling {
  readonly ResultSelector?: PayloadTemplate;
  readonly ResultPath?: string | null;
  readonly Retry?: Retrier[];
  readonly Catch?: Catcher[];
}

/** Calls a service integration (or a Lambda function) and waits for its result. */
export type TaskState = StateBase &
  InputOutput &
  Transition &
  ResultHandling & {
    readonly Type: 'Task';
    /** `arn:aws:states:::<service>:<api>[.sync]` for service integrations, or a Lambda function ARN. */
    readonly Resource: string;
    readonly Parameters?: PayloadTemplate;
    readonly TimeoutSeconds?: number;
    readonly HeartbeatSeconds?: number;
  };

/** Shapes data without calling anything (`Parameters` with paths and intrinsic functions). */
export type PassState = StateBase &
  InputOutput &
  Transition & {
    readonly Type: 'Pass';
    readonly Parameters?: PayloadTemplate;
    readonly Result?: Json;
    readonly ResultPath?: string | null;
  };

/**
 * A Choice rule's test: a data test on `Variable`, or `And` / `Or` of tests. Only the operators sidestep
 * uses are listed.
 */
export type ChoiceTest =
  | {
      readonly Variable: string;
      readonly BooleanEquals?: boolean;
      readonly StringEquals?: string;
      /** `*` matches any run of characters (https://docs.aws.amazon.com/step-functions/latest/dg/state-choice.html). */
      readonly StringMatches?: string;
      readonly NumericEquals?: number;
      readonly NumericLessThan?: number;
      readonly IsPresent?: boolean;
      readonly IsNull?: boolean;
    }
  | { readonly And: ChoiceTest[] }
  | { readonly Or: ChoiceTest[] }
  | { readonly Not: ChoiceTest };

/** Branches on the input: the first matching rule's `Next`, else `Default`. */
export type ChoiceState = StateBase &
  InputOutput & {
    readonly Type: 'Choice';
    readonly Choices: (ChoiceTest & { readonly Next: string })[];
    readonly Default?: string;
  };

/** Pauses for `Seconds` (or `SecondsPath`). */
export type WaitState = StateBase &
  InputOutput &
  Transition & { readonly Type: 'Wait'; readonly Seconds?: number; readonly SecondsPath?: string };

/** Ends the execution (or branch) successfully. */
export type SucceedState = StateBase & InputOutput & { readonly Type: 'Succeed' };

/** Ends the execution as FAILED with `Error`/`Cause`, static or read from the input by path. */
export type FailState = StateBase & {
  readonly Type: 'Fail';
  readonly Error?: string;
  readonly ErrorPath?: string;
  readonly Cause?: string;
  readonly CausePath?: string;
};

/** A nested state machine, as in Parallel `Branches` and Map `ItemProcessor`. */
export interface Branch {
  readonly StartAt: string;
  readonly States: Readonly<Record<string, State>>;
}

/** Runs its branches concurrently; its result is the array of their outputs. */
export type ParallelState = StateBase &
  InputOutput &
  Transition &
  ResultHandling & {
    readonly Type: 'Parallel';
    readonly Branches: Branch[];
    readonly Parameters?: PayloadTemplate;
  };

/** Runs its item processor once per item of the array at `ItemsPath`. */
export type MapState = StateBase &
  InputOutput &
  Transition &
  ResultHandling & {
    readonly Type: 'Map';
    /** The current field; `Iterator` is its deprecated name, still accepted by Step Functions. */
    readonly ItemProcessor?: Branch;
    readonly Iterator?: Branch;
    readonly ItemsPath?: string;
    readonly ItemSelector?: PayloadTemplate;
    readonly MaxConcurrency?: number;
  };

/** Any state. */
export type State =
  | TaskState
  | PassState
  | ChoiceState
  | WaitState
  | SucceedState
  | FailState
  | ParallelState
  | MapState;

/** A whole state machine definition: the JSON Step Functions (and aws-local-stepfunctions) run. */
export interface StateMachineDefinition extends Branch {
  readonly Comment?: string;
  readonly TimeoutSeconds?: number;
}
