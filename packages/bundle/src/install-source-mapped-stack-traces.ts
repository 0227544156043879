/**
 * The module `bundleService` imports ahead of a bundle's entry: installs source-mapped stack traces
 * before any other module of the bundle runs (./source-mapped-stack-traces.ts).
 */
import { installSourceMappedStackTraces } from './source-mapped-stack-traces.ts';

installSourceMappedStackTraces();
