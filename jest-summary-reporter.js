// Writes each package's test counts to <package>/.jest-summary.json (a turbo output, so cached runs
// restore it); scripts/test-summary.mjs adds them up into the closing "N passed, N failed" line.
import { writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

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
      // Each file's wall time, so the closing line can name the files that make the suite slow.
      files: results.testResults.map((file) => ({
        path: relative(this.#rootDir, file.testFilePath),
        seconds: Math.round((file.perfStats.end - file.perfStats.start) / 100) / 10,
      })),
      // Each test that took over five seconds: one slow test near jest's timeout (30 s unless the test
      // sets its own) fails on a slower machine, so the closing line names the slowest.
      tests: results.testResults.flatMap((file) =>
        file.testResults
          .filter((test) => (test.duration ?? 0) > 5000)
          .map((test) => ({
            path: relative(this.#rootDir, file.testFilePath),
            name: test.fullName,
            seconds: Math.round(test.duration / 100) / 10,
          })),
      ),
    };
    writeFileSync(join(this.#rootDir, '.jest-summary.json'), `${JSON.stringify(summary)}\n`);
  }
}
