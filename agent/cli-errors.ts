import type { Argv } from 'yargs';

/**
 * Exit status of a usage error: the Nagios UNKNOWN. A monitoring system runs `keepwatch check`
 * and reads 1 as WARNING, so a typo on its command line must not look like a warning.
 */
export const EXIT_USAGE = 3;

/** Prints a usage error (a bad flag, a missing argument) and exits with EXIT_USAGE. */
export function usageError(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(EXIT_USAGE);
}

/** Prints why a command failed (the agent unreachable, the API said no) and exits 1. */
export function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

/**
 * yargs' `.fail()`: its own usage failures (unknown flag, missing command, a value a `coerce`
 * refused) print the help and the message, as yargs does, but exit with EXIT_USAGE instead of
 * its 1. An error thrown by a command handler is not a usage error: it is a bug, shown whole.
 */
export function onCliFailure(message: string | null, err: Error | undefined, y: Argv): never {
  if (!message && err) {
    process.stderr.write(`keepwatch: ${err.stack ?? err.message}\n`);
    process.exit(1);
  }
  y.showHelp((s) => process.stderr.write(`${s}\n\n`));
  usageError(message ?? String(err));
}

/**
 * A reader that goes away (`keepwatch schema | head -1`) ends the process quietly: EPIPE on
 * stdout or stderr exits with the status already set (0 when none), where Node would die with
 * an "Unhandled 'error' event" stack trace. Other write errors stay fatal.
 */
export function exitQuietlyOnClosedPipes(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
      process.exit();
    });
  }
}
