export { type EnqueueResult, Producer, type ProducerOptions } from './producer.ts';
