import type { Logger } from './logger';
import { claimStrayError } from './runner';

/** Where an error nobody caught came from: a check's code, or the agent's own. */
export type StraySource = 'check' | 'agent';
/** How it escaped: thrown (or emitted without a listener), or a promise rejection left alone. */
export type StrayKind = 'exception' | 'rejection';

/** Exit status after an uncaught exception in the agent's own code (EX_SOFTWARE). */
export const EXIT_UNCAUGHT = 70;

export interface ProcessGuard {
  /** Counts every stray error from now on (and those seen before) with `count`. */
  attach(count: (source: StraySource, kind: StrayKind) => void): void;
  /** Removes the handlers (tests). */
  uninstall(): void;
}

/**
 * Process-level handlers for errors that escaped every try and listener, so that none ends
 * the daemon silently:
 *
 * - From a check's code (an `error` event without a listener on its socket, a throw in its
 *   callback, a rejection it left alone): the check's run ends unknown with that error, which
 *   is logged and counted; the agent carries on. A check's state is its own run's, so nothing
 *   shared is left half-changed.
 * - A promise rejection in the agent's own code: logged and counted; the agent carries on, as
 *   a rejection interrupts only the chain it was in.
 * - An exception in the agent's own code: its state is now truly unknown (a timer callback
 *   stopped half-way through an incident update), so it is logged as fatal and the process
 *   exits with 70. The supervisor (systemd `Restart=on-failure`, Kubernetes) starts it again
 *   and the state comes back from the store, which survives even SIGKILL.
 */
export function installProcessGuard(log: Logger, exit: (code: number) => void = (code) => process.exit(code)): ProcessGuard {
  const early: Array<[StraySource, StrayKind]> = [];
  let count: (source: StraySource, kind: StrayKind) => void = (source, kind) => early.push([source, kind]);

  const onRejection = (err: unknown) => {
    const check = claimStrayError(err);
    if (check !== undefined) {
      log.warn({ check, err }, 'check left a promise rejection unhandled; its run is unknown');
      return count('check', 'rejection');
    }
    log.error({ err }, 'unhandled promise rejection (a bug; please report it)');
    count('agent', 'rejection');
  };
  const onException = (err: unknown) => {
    const check = claimStrayError(err);
    if (check !== undefined) {
      log.warn({ check, err }, 'check raised an error nobody caught; its run is unknown');
      return count('check', 'exception');
    }
    count('agent', 'exception');
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
