// @ts-check
// Sends two mail jobs through @sidestep/producer: one valid, one refused before sending because its
// `to` is not an address. Prints one JSON line per job: { status, id, field? }.
import { Producer } from '@sidestep/producer';

const queueUrl = process.env.MAIL_QUEUE_URL;
if (!queueUrl) {
  console.error('MAIL_QUEUE_URL is not set: `npm start` in the sidestep repository prints it');
  process.exit(1);
}
const to = process.env.MAIL_TO ?? 'ops@example.com';

// The SQS client comes from the environment: AWS_ENDPOINT_URL, AWS_REGION and credentials.
// jobTypes: the mail queue takes mail.send jobs only; another type is refused before sending.
const producer = new Producer({ queueUrl, jobTypes: ['mail.send'] });
const results = await producer.enqueue([
  {
    type: 'mail.send',
    version: 1,
    payload: {
      template: 'export.failed',
      to,
      params: { jobId: 'exp_example', reason: 'sent by examples/producer' },
    },
  },
  {
    type: 'mail.send',
    version: 1,
    payload: {
      template: 'export.failed',
      to: 'not-an-address',
      params: { jobId: 'exp_example', reason: 'never sent' },
    },
  },
]);
for (const result of results) {
  const field = result.status === 'invalid' ? result.error.field : undefined;
  console.log(JSON.stringify({ status: result.status, id: result.id, ...(field ? { field } : {}) }));
}
