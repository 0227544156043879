import { EcrLifecyclePolicy } from '@cdktn/provider-aws/lib/ecr-lifecycle-policy/index.js';
import { EcrRepository } from '@cdktn/provider-aws/lib/ecr-repository/index.js';
import { TerraformVariable } from 'cdktn';
import { Construct } from 'constructs';
import { InfraConfigError } from '../errors.ts';

/** Props of {@link ImageRepository}. */
export interface ImageRepositoryProps {
  /** Repository name, e.g. `sidestep-staging-batch-worker`. */
  readonly repositoryName: string;
  /** The program whose images it holds (`batch-worker`); names the image tag variable. */
  readonly imageName: string;
  /**
   * Images kept: a running task or function keeps its image, but rollback needs older tags.
   * @default 30
   */
  readonly keepImages?: number;
  /** Customer-managed KMS key ARN. @default the AWS-managed `aws/ecr` KMS key */
  readonly kmsKeyArn?: string;
}

/**
 * An ECR repository for one program's images (immutable tags, scan on push, KMS, lifecycle) and the
 * Terraform variable `image_tag_<name_snake>` the deploy pipeline sets to the tag it pushed: nothing
 * else changes the code a task runs.
 */
export class ImageRepository extends Construct {
  /** The repository resource. */
  readonly repository: EcrRepository;
  /** Repository ARN. */
  readonly repositoryArn: string;
  /** Repository URL (`<account>.dkr.ecr.<region>.amazonaws.com/<name>`). */
  readonly repositoryUrl: string;
  /** The image tag variable. */
  readonly imageTag: TerraformVariable;
  /** `<repositoryUrl>:<image tag>`. */
  readonly imageUri: string;

  constructor(scope: Construct, id: string, props: ImageRepositoryProps) {
    super(scope, id);
    const keepImages = props.keepImages ?? 30;
    if (!Number.isInteger(keepImages) || keepImages < 1) {
      throw new InfraConfigError(`${props.imageName}.repository.keepImages`, 'must be a positive integer');
    }
    // `Default` leaves the id out of the Terraform address: the repository keeps the address it had
    // when ServiceFunction created it directly (`<service>_repository_<hash>`), so it is not replaced.
    this.repository = new EcrRepository(this, 'Default', {
      name: props.repositoryName,
      imageTagMutability: 'IMMUTABLE',
      imageScanningConfiguration: { scanOnPush: true },
      forceDelete: false,
      encryptionConfiguration: [
        props.kmsKeyArn ? { encryptionType: 'KMS', kmsKey: props.kmsKeyArn } : { encryptionType: 'KMS' },
      ],
    });
    this.repositoryArn = this.repository.arn;
    this.repositoryUrl = this.repository.repositoryUrl;
    new EcrLifecyclePolicy(this, 'lifecycle', {
      repository: this.repository.name,
      policy: JSON.stringify({
        rules: [
          {
            rulePriority: 1,
            description: 'Expire untagged images (failed or superseded pushes) after a day',
            selection: {
              tagStatus: 'untagged',
              countType: 'sinceImagePushed',
              countUnit: 'days',
              countNumber: 1,
            },
            action: { type: 'expire' },
          },
          {
            // `any` must be the lowest-priority rule (highest number) in an ECR lifecycle policy.
            rulePriority: 2,
            description: `Keep the last ${keepImages} images for rollbacks`,
            selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: keepImages },
            action: { type: 'expire' },
          },
        ],
      }),
    });

    this.imageTag = new TerraformVariable(this, 'image-tag', {
      type: 'string',
      description: `Image tag of ${props.imageName} in ${props.repositoryName} (set by the deploy pipeline; tags are immutable)`,
    });
    const variableName = `image_tag_${props.imageName.replaceAll('-', '_')}`;
    // A stable, readable name: the pipeline runs `terraform apply -var image_tag_<name>=<git sha>`.
    this.imageTag.overrideLogicalId(variableName);
    this.imageTag.addValidation({
      condition: `\${can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.${variableName}))}`,
      errorMessage: `${variableName} must be an OCI image tag (letters, digits, _ . -; at most 128)`,
    });
    this.imageUri = `${this.repositoryUrl}:${this.imageTag.stringValue}`;
  }
}
