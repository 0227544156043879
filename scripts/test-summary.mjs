// Adds up the per-package jest counts written by jest-summary-reporter.js and prints one closing
// line, "N passed, N failed, N skipped", after the whole turbo run.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const packages = [
  'infra',
  'scripts',
  ...['packages', 'services'].flatMap((dir) => readdirSync(join(root, dir)).map((name) => join(dir, name))),
];
const total = { passed: 0, failed: 0, skipped: 0 };
const files = [];
const tests = [];
for (const dir of packages) {
  const file = join(root, dir, '.jest-summary.json');
  if (!existsSync(file)) continue;
  const counts = JSON.parse(readFileSync(file, 'utf8'));
  console.log(`  ${dir}: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
  for (const key of Object.keys(total)) total[key] += counts[key];
  for (const file of counts.files ?? []) files.push({ ...file, path: join(dir, file.path) });
  for (const test of counts.tests ?? []) tests.push({ ...test, path: join(dir, test.path) });
}
// The suite is meant to run before every commit (under 5 minutes on 2 cores): name the slowest files.
const slowest = files.sort((a, b) => b.seconds - a.seconds).slice(0, 6);
if (slowest.length > 0) {
  console.log(`slowest test files: ${slowest.map((file) => `${file.path} ${file.seconds} s`).join(', ')}`);
}
const slowTests = tests.sort((a, b) => b.seconds - a.seconds).slice(0, 6);
if (slowTests.length > 0) {
  console.log(
    `slowest tests: ${slowTests.map((test) => `${test.path} "${test.name}" ${test.seconds} s`).join(', ')}`,
  );
}
console.log(`tests: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
// The skipped tests are the PostgreSQL suites (declared skipped by @sidestep/db/testing without a server).
if (total.skipped > 0 && !process.env.TEST_DATABASE_URL) {
  console.log('  (skipped: the PostgreSQL suites; set TEST_DATABASE_URL to a server to run them)');
}
if (total.failed > 0 || total.passed === 0) process.exit(1);
