export {
  type BuiltPackage,
  type RegisteredService,
  type RegisteredTask,
  registeredService,
  registeredTask,
  SERVICES,
  TASKS,
  WORKSPACE_ROOT,
} from './registry.ts';
export { UnregisteredServiceError } from './unregistered-service-error.ts';
