import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Finds the image a repository holds under a tag (a commit SHA, or an inputs tag): returns all its
 * tags (for an inputs tag, the SHA it was first pushed under among them), or undefined when there
 * is none.
 */
export type ImageLookup = (repositoryName: string, tag: string) => Promise<readonly string[] | undefined>;

/**
 * {@link ImageLookup} through `aws ecr describe-images --image-ids imageTag=<tag>`. Why ECR
 * and a tag rather than the `sidestep.inputs-hash` label through `docker buildx imagetools inspect`:
 * labels live in the image config, so finding "the image with this hash" would mean inspecting every
 * tag one by one after a registry login; a tag is found by one read-only call that needs only
 * `ecr:DescribeImages`, and the answer carries the SHA tag the deploy must keep using. The AWS CLI
 * (on every GitHub runner) instead of `@aws-sdk/client-ecr`: the script shells out to docker
 * anyway, and the CLI takes the same credentials the deploy job assumed through OIDC.
 * @param awsCli the AWS CLI executable (a test passes a stand-in)
 */
export function ecrImageLookup(awsCli = 'aws'): ImageLookup {
  return async (repositoryName, tag) => {
    try {
      const { stdout } = await run(awsCli, [
        'ecr',
        'describe-images',
        '--repository-name',
        repositoryName,
        '--image-ids',
        `imageTag=${tag}`,
        '--output',
        'json',
      ]);
      const details =
        (JSON.parse(stdout) as { imageDetails?: { imageTags?: string[] }[] }).imageDetails ?? [];
      return details[0]?.imageTags;
    } catch (error) {
      // The one "not found" answer; anything else (no credentials, no repository) must stop the build.
      if (String((error as { stderr?: string }).stderr).includes('ImageNotFoundException')) return undefined;
      throw error;
    }
  };
}
