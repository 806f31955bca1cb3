import path from 'node:path';
import type { Logger } from './logger';

/**
 * Where an error nobody caught came from, told by the innermost of our own stack frames:
 * a check's code, the agent's own, or neither (an `error` event of a socket, stream or
 * library that no code listened to).
 */
export type StraySource = 'check' | 'agent' | 'io';
/** How it escaped: thrown (or emitted without a listener), or a promise rejection left alone. */
export type StrayKind = 'exception' | 'rejection';

/** Exit status after an uncaught exception in the agent's own code (EX_SOFTWARE). */
export const EXIT_UNCAUGHT = 70;

/** The folder holding agent/ and checks/: the source tree under ts-jest, dist/ when built. */
const ROOT = path.resolve(__dirname, '..');

/** Where an error was made, and for a check's code the check type (its folder). */
export function strayOrigin(err: unknown, root = ROOT): { source: StraySource; checkType?: string } {
  const stack = (err as { stack?: unknown } | null)?.stack;
  if (typeof stack !== 'string') return { source: 'io' };
  const prefix = root.endsWith(path.sep) ? root : root + path.sep;
  for (const line of stack.split('\n').slice(1)) {
    const file = /\(?((?:file:\/\/)?\/[^():]+):\d+:\d+\)?\s*$/.exec(line)?.[1]?.replace(/^file:\/\//, '');
    if (!file?.startsWith(prefix)) continue;
    const [top, type] = file.slice(prefix.length).split(path.sep);
    if (top === 'checks') return { source: 'check', checkType: type?.endsWith('.js') || type?.endsWith('.ts') ? undefined : type };
    if (top === 'agent') return { source: 'agent' };
  }
  return { source: 'io' };
}

export interface ProcessGuard {
  /** Counts every stray error from now on (and those seen before) with `count`. */
  attach(count: (source: StraySource, kind: StrayKind) => void): void;
  /** Removes the handlers (tests). */
  uninstall(): void;
}

/**
 * Process-level handlers for errors that escaped every try and listener, so that none ends
 * the daemon silently. Each is logged and counted; then:
 *
 * - Made in a check's code (a throw in one of its callbacks) or by no code of ours (an
 *   `error` event of a socket or stream nobody listened to): the agent carries on. Nothing of
 *   ours was half-way through changing shared state; a run it belonged to ends at its timeout.
 * - A promise rejection, wherever made: the agent carries on; it stopped only its own chain.
 * - An exception made in the agent's own code: its state is now truly unknown (a timer
 *   callback stopped half-way through an incident update), so it is logged as fatal and the
 *   process exits with 70. The supervisor (systemd `Restart=on-failure`, Kubernetes) starts
 *   it again and the state comes back from the store, which survives even SIGKILL.
 *
 * The errors are not traced to the check run they came from: AsyncLocalStorage could, but
 * its promise hooks cost a quarter more CPU per http check run, on every run.
 */
export function installProcessGuard(log: Logger, exit: (code: number) => void = (code) => process.exit(code)): ProcessGuard {
  const early: Array<[StraySource, StrayKind]> = [];
  let count: (source: StraySource, kind: StrayKind) => void = (source, kind) => early.push([source, kind]);

  const onRejection = (err: unknown) => {
    const { source, checkType } = strayOrigin(err);
    count(source, 'rejection');
    log.error({ err, source, checkType }, 'unhandled promise rejection (a bug; please report it)');
  };
  const onException = (err: unknown) => {
    const { source, checkType } = strayOrigin(err);
    count(source, 'exception');
    if (source !== 'agent') {
      return void log.error({ err, source, checkType }, 'uncaught error outside the agent\'s own code; carrying on (a bug; please report it)');
    }
    log.fatal({ err }, 'uncaught exception in the agent (a bug; please report it); exiting so that it restarts from the store');
    exit(EXIT_UNCAUGHT);
  };
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return {
    attach(fn) {
      count = fn;
      for (const [source, kind] of early.splice(0)) fn(source, kind);
    },
    uninstall() {
      process.off('unhandledRejection', onRejection);
      process.off('uncaughtException', onException);
    },
  };
}
