import { describe, expect, it } from '@jest/globals';
import { STAGING, synthStack } from './environment-fixture.ts';
import { all, type Json, one, ref } from './terraform-json.ts';

const tf: Json = synthStack(STAGING);
const [mailQueueAddress] = one(tf, 'aws_sqs_queue', { name: 'sidestep-staging-mail' });
const [mailDispatcherAddress] = one(tf, 'aws_lambda_function', {
  function_name: 'sidestep-staging-mail-dispatcher',
});

/**
 * `[address, name, depends_on]` of every resource of `type` whose body names the mail queue's URL,
 * but the mail-dispatcher's function itself (its QUEUE_URL: it puts a mail off on its own queue).
 */
function mailProducers(type: string, nameField: string): [string, string, string[]][] {
  return all(tf, type)
    .filter(
      ([address, body]) =>
        address !== mailDispatcherAddress && JSON.stringify(body).includes(ref(mailQueueAddress, 'url')),
    )
    .map(([address, body]) => [address, body[nameField], body.depends_on ?? []]);
}

// Terraform applies a resource's change only once every resource in its depends_on has been changed
// (https://developer.hashicorp.com/terraform/language/meta-arguments/depends_on); the aws provider's
// function update returns once Lambda reports LastUpdateStatus Successful
// (hashicorp/terraform-provider-aws#19386), and until then invocations run the previous image
// (https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html). So whatever queues mail goes
// live only after the mail-dispatcher that reads it: a mail of a new shape never meets the old
// dispatcher, which refuses unknown fields as a permanent error (dead-lettered).
describe('SidestepStack deploy order: the mail consumer before its producers', () => {
  it('updates every state machine after the mail-dispatcher function', () => {
    const machines = all(tf, 'aws_sfn_state_machine').map(([address, body]) => [
      address,
      body.depends_on ?? [],
    ]);
    expect(machines.length).toBeGreaterThan(0);
    for (const [address, dependsOn] of machines) {
      expect([address, dependsOn]).toEqual([address, expect.arrayContaining([mailDispatcherAddress])]);
    }
    // Both workflows queue mail through their SQS integration.
    expect(
      mailProducers('aws_sfn_state_machine', 'name')
        .map(([, name]) => name)
        .sort(),
    ).toEqual(['sidestep-staging-export', 'sidestep-staging-import']);
  });

  it('updates every function that queues mail after the mail-dispatcher function', () => {
    const functions = mailProducers('aws_lambda_function', 'function_name');
    expect(functions.map(([, name]) => name)).toEqual(['sidestep-staging-job-sweeper']);
    for (const [address, , dependsOn] of functions) {
      expect([address, dependsOn]).toEqual([address, expect.arrayContaining([mailDispatcherAddress])]);
    }
  });

  it('makes no function that does not queue mail wait for it', () => {
    const waiting = all(tf, 'aws_lambda_function')
      .filter(([, body]) => (body.depends_on ?? []).includes(mailDispatcherAddress))
      .map(([, body]) => body.function_name);
    expect(waiting).toEqual(['sidestep-staging-job-sweeper']);
  });
});
