export type { ProducerClaimCheck } from './claim-check.ts';
export { type EnqueueResult, Producer, type ProducerOptions } from './producer.ts';
