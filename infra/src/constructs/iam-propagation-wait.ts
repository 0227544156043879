import { type ITerraformDependable, TerraformProvider, TerraformResource, TerraformStack } from 'cdktn';
import type { Construct } from 'constructs';

/**
 * The hashicorp/time provider, pinned as the AWS provider is. CDK Terrain has no prebuilt binding for
 * it (@cdktf/provider-time is built for cdktf, not cdktn), and sidestep uses one resource of it, so the
 * two are declared here with cdktn's own base classes, as a generated binding would.
 */
const TIME_PROVIDER = { source: 'hashicorp/time', version: '0.13.1' } as const;

/** How long the wait is: IAM documents no bound for its propagation; 30 s covers what is observed. */
const PROPAGATION_SECONDS = 30;

class TimeProvider extends TerraformProvider {
  constructor(scope: Construct, id: string) {
    super(scope, id, {
      terraformResourceType: 'time',
      terraformGeneratorMetadata: { providerName: 'time', providerVersion: TIME_PROVIDER.version },
      terraformProviderSource: TIME_PROVIDER.source,
    });
  }

  protected override synthesizeAttributes(): Record<string, unknown> {
    return {};
  }
}

/** Props of {@link IamPropagationWait}. */
export interface IamPropagationWaitProps {
  /** The role policies (and roles) the waiting resource's create call checks. */
  readonly after: ITerraformDependable[];
  /**
   * What, changed, makes the wait run again before the dependent resource is updated: the policy
   * documents. @default {} (only on create)
   */
  readonly triggers?: Readonly<Record<string, string>>;
}

/**
 * A `time_sleep` between an IAM role's policy and a resource whose create call checks what the role
 * may do. IAM is eventually consistent: "a change you make might not be immediately visible" to the
 * other services (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency),
 * and Terraform's `depends_on` only orders the calls. EventBridge Pipes' CreatePipe checks that the
 * role can read the source and reach the target, and the provider does not retry it on that refusal
 * (it does for a few services, not Pipes), so a first apply that created the role seconds before would
 * fail on the pipe. Make the resource depend on this wait.
 */
export class IamPropagationWait extends TerraformResource {
  readonly #triggers: Readonly<Record<string, string>>;

  constructor(scope: Construct, id: string, props: IamPropagationWaitProps) {
    const stack = TerraformStack.of(scope);
    const provider =
      (stack.node.tryFindChild('time-provider') as TimeProvider | undefined) ??
      new TimeProvider(stack, 'time-provider');
    super(scope, id, {
      terraformResourceType: 'time_sleep',
      terraformGeneratorMetadata: { providerName: 'time', providerVersion: TIME_PROVIDER.version },
      provider,
      dependsOn: props.after,
    });
    this.#triggers = props.triggers ?? {};
  }

  protected override synthesizeAttributes(): Record<string, unknown> {
    return {
      create_duration: `${PROPAGATION_SECONDS}s`,
      ...(Object.keys(this.#triggers).length > 0 ? { triggers: { ...this.#triggers } } : {}),
    };
  }
}
