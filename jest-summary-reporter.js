// Writes each package's test counts to <package>/.jest-summary.json (a turbo output, so cached runs
// restore it); scripts/test-summary.mjs adds them up into the closing "N passed, N failed" line.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export default class SummaryReporter {
  #rootDir;
  constructor(globalConfig) {
    this.#rootDir = globalConfig.rootDir;
  }
  onRunComplete(_contexts, results) {
    const summary = {
      passed: results.numPassedTests,
      failed: results.numFailedTests,
      skipped: results.numPendingTests + results.numTodoTests,
      suites: results.numTotalTestSuites,
    };
    writeFileSync(join(this.#rootDir, '.jest-summary.json'), `${JSON.stringify(summary)}\n`);
  }
}
