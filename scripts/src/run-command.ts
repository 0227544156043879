import type { Command } from 'commander';

/**
 * Runs a script's command on `process.argv`. A failure prints `<error name>: <message>` without the
 * stack (sidestep's errors name what to fix) and exits with code 1.
 */
export async function runCommand(command: Command): Promise<void> {
  try {
    await command.parseAsync();
  } catch (error) {
    const { name, message } = error as Error;
    console.error(`${name}: ${message}`);
    process.exitCode = 1;
  }
}
