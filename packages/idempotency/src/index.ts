export {
  findIdempotencyOutcomeUnknown,
  IdempotencyOutcomeUnknownError,
  PostgresPersistenceLayerOptionsError,
} from './errors.ts';
export {
  PostgresPersistenceLayer,
  type PostgresPersistenceLayerOptions,
} from './postgres-persistence-layer.ts';
