import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { freshBundle } from '@sidestep/cli/fresh-bundle';
import { CPU_MS_EXPRESSION, interleaved, median, round } from './measure.ts';

/** One way of running a command: wall time from spawn to exit and the process's CPU time, medians. */
export interface CliRunMeasure {
  readonly wallMs: number;
  readonly cpuMs: number;
}

/** The operator CLI's start, run from its bundle and from its sources, beside a bare `node -e 0`. */
export interface CliStartResult {
  readonly runs: number;
  readonly bareNode: CliRunMeasure;
  readonly commands: readonly {
    readonly args: readonly string[];
    readonly bundle: CliRunMeasure;
    readonly sources: CliRunMeasure;
  }[];
}

/** The commands measured: the start alone, and one that reads the manifests and renders a table offline. */
const COMMANDS: readonly (readonly string[])[] = [['--help'], ['schedules']];

/**
 * A module for `node --import` that prints the process's CPU time (user + system, every thread) on
 * stderr as it exits: the bin runs to its own end, with nothing of the bench's around it.
 */
const REPORT_CPU = `data:text/javascript,${encodeURIComponent(
  `process.on('exit', () => process.stderr.write('\\ncpu-ms ' + ${CPU_MS_EXPRESSION} + '\\n'));`,
)}`;

function runOnce(args: readonly string[], environment: Record<string, string>): CliRunMeasure {
  const started = performance.now();
  const result = spawnSync(process.execPath, ['--import', REPORT_CPU, ...args], { env: environment });
  const wallMs = performance.now() - started;
  const cpu = /^cpu-ms (\S+)$/m.exec(result.stderr.toString())?.[1];
  if (result.status !== 0 || cpu === undefined) {
    throw new Error(`node ${args.join(' ')} failed (${result.status}): ${result.stderr.toString()}`);
  }
  return { wallMs, cpuMs: Number(cpu) };
}

function medians(samples: readonly CliRunMeasure[]): CliRunMeasure {
  return {
    wallMs: round(median(samples.map((s) => s.wallMs))),
    cpuMs: round(median(samples.map((s) => s.cpuMs))),
  };
}

/**
 * The real bin (`bin`, packages/cli/bin/sidestep.ts) running each command from its bundle (current, as
 * `turbo run build` leaves it) and from its sources (`SIDESTEP_CLI_FROM_SOURCE=1`), and a bare
 * `node -e 0`, interleaved round by round, `runs` rounds. Node's compile cache is on, in a directory
 * of the bench's own that one untimed run of each warms first: an operator's second command onwards.
 */
export async function measureCliStart(bin: string, runs: number): Promise<CliStartResult> {
  // Else the bin would run the sources both ways, and the bundle's column measure them.
  if (freshBundle(join(dirname(bin), '..')) === undefined) {
    throw new Error(`the CLI's bundle is missing or stale: build it first (turbo run build)`);
  }
  const cacheDir = mkdtempSync(join(tmpdir(), 'sidestep-bench-cli-cache-'));
  try {
    const base = { PATH: process.env.PATH ?? '', NO_COLOR: '1', NODE_COMPILE_CACHE: cacheDir };
    const sources = { ...base, SIDESTEP_CLI_FROM_SOURCE: '1' };
    const measurements = [
      () => runOnce(['-e', '0'], base),
      ...COMMANDS.flatMap((args) => [
        () => runOnce([bin, ...args], base),
        () => runOnce([bin, ...args], sources),
      ]),
    ];
    for (const measure of measurements) measure();
    const [bare = [], ...samples] = await interleaved(runs, measurements);
    return {
      runs,
      bareNode: medians(bare),
      commands: COMMANDS.map((args, index) => ({
        args,
        bundle: medians(samples[2 * index] ?? []),
        sources: medians(samples[2 * index + 1] ?? []),
      })),
    };
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

/** bench/RESULTS.md's section on the CLI's start. */
export function cliStartSection(r: CliStartResult): string[] {
  const cell = (m: CliRunMeasure) => `${m.wallMs} ms, ${m.cpuMs} ms of CPU`;
  return [
    "## The operator CLI's start",
    '',
    `The real \`sidestep\` bin run by a fresh \`node\` from spawn to exit, each command from the CLI's bundle (\`packages/cli/dist/\`, which the bin runs while it is current) and from its TypeScript sources (\`SIDESTEP_CLI_FROM_SOURCE=1\`, what the bin runs when the bundle is missing or stale), interleaved with a bare \`node -e 0\` (${cell(r.bareNode)}), ${r.runs} rounds, medians; Node's compile cache on and warm (the bin enables it), as from an operator's second command on. \`schedules\` reads the manifests and renders a table, offline.`,
    '',
    '| command | from the bundle | from the sources | bundle / sources (CPU) |',
    '| --- | --- | --- | --- |',
    ...r.commands.map(
      (c) =>
        `| \`sidestep ${c.args.join(' ')}\` | ${cell(c.bundle)} | ${cell(c.sources)} | ${(c.bundle.cpuMs / c.sources.cpuMs).toFixed(2)}x |`,
    ),
    '',
  ];
}
