/**
 * @sidestep/console — the operator web console: the second face of `@sidestep/ops` (the CLI is the
 * first), served by `npm start` for the local cloud and by `sidestep console --env <env>` against an
 * AWS account with the operator's own credentials.
 */
export { ConsoleError } from './console-error.ts';
export {
  type ConsoleOptions,
  DEFAULT_CONSOLE_PORT,
  type RunningConsole,
  startConsole,
} from './console-server.ts';
export { chooseLocale, LOCALES, type Locale, translator } from './i18n.ts';
export { graphOf, type StateOutcome, workflowGraph } from './workflow-graph.ts';
