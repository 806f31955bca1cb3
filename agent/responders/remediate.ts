import { redactArgs, scrubAndCut } from '../secrets';
import type { ActionOutcome, ActionResult } from './action-output';
import type { RemediationAction, SystemdAction } from './remediate-schema';
import { runCommand, type CommandTiming } from './run-command';
import { runHttp } from './run-http';

/*
 * L1 remediation: runs a check's `remediate:` actions in order when an incident opens. The
 * runners live beside this file (run-command.ts, run-http.ts); whether a run is allowed now is
 * policy (incidents/remediation-limit.ts).
 */

export { OUTPUT_LIMIT, type ActionResult } from './action-output';
export { COMMAND_TIMING, type CommandTiming } from './run-command';
export { remediateSchema, type RemediateConfig, type RemediationAction } from './remediate-schema';

/** What a remediation run did: the actions that ran, in order, and those skipped after a failure. */
export interface RemediationOutcome {
  /** True when every action succeeded. */
  ok: boolean;
  actions: ActionResult[];
  /** Descriptions of the actions not run because an earlier one failed (or the run was aborted). */
  skipped: string[];
  durationMs: number;
}

/** The argv a systemd action runs. */
export function systemdArgv(unit: string, action: SystemdAction['action'] = 'restart'): string[] {
  return ['systemctl', action, unit];
}

/** A short description of an action for logs and the incident timeline, with nothing secret in it. */
export function describeAction(action: RemediationAction): string {
  switch (action.kind) {
    case 'command':
      return describeArgv(action.argv);
    case 'systemd':
      return describeArgv(systemdArgv(action.unit, action.action));
    case 'http':
      return `${action.method} ${describeUrl(action.url)}`;
  }
}

/** Options of {@link runRemediation}. */
export interface RemediationOptions {
  /** Aborting kills the running action and skips the rest. */
  signal?: AbortSignal;
  /** How long commands get to die and to drain (default {@link COMMAND_TIMING}; tests shorten it). */
  timing?: Readonly<CommandTiming>;
}

/**
 * Runs the actions in order and stops at the first that fails. Never rejects: a missing
 * program, a timeout or a refused connection is a failed action in the outcome. An aborted
 * `signal` kills the running action (its whole process group) and skips the rest.
 */
export async function runRemediation(actions: readonly RemediationAction[], opts: RemediationOptions = {}): Promise<RemediationOutcome> {
  const started = performance.now();
  const results: ActionResult[] = [];
  let i = 0;
  for (; i < actions.length; i++) {
    if (opts.signal?.aborted) break;
    const result = await runAction(actions[i], opts.signal, opts.timing);
    results.push(result);
    if (!result.ok) {
      i++;
      break;
    }
  }
  return {
    ok: results.length === actions.length && results.every((r) => r.ok),
    actions: results,
    skipped: actions.slice(i).map(describeAction),
    durationMs: Math.round(performance.now() - started),
  };
}

/** One action, run; never rejects. */
export async function runAction(action: RemediationAction, signal?: AbortSignal, timing?: Readonly<CommandTiming>): Promise<ActionResult> {
  const description = describeAction(action);
  if (signal?.aborted) {
    return { kind: action.kind, description, ok: false, durationMs: 0, output: '', outputTruncated: false, error: 'aborted before it started' };
  }
  const started = performance.now();
  let partial: ActionOutcome;
  switch (action.kind) {
    case 'command':
      partial = await runCommand(action.argv, action.env ?? {}, action.timeout, signal, timing);
      break;
    case 'systemd':
      partial = await runCommand(systemdArgv(action.unit, action.action), {}, action.timeout, signal, timing);
      break;
    case 'http':
      partial = await runHttp(action, signal);
      break;
  }
  return { kind: action.kind, description, ...partial, durationMs: Math.round(performance.now() - started) };
}

/**
 * The argv as one line, values after secret-looking flags hidden (`--token=…`, `--password x`),
 * arguments with spaces or quotes JSON-quoted, at most 200 characters.
 */
function describeArgv(argv: readonly string[]): string {
  const parts = redactArgs(argv).map((a) => (/^[a-z][a-z0-9+.-]*:\/\//i.test(a) && URL.canParse(a) ? describeUrl(a) : a));
  const line = parts.map((a) => (/[\s"'\\]/.test(a) || a === '' ? JSON.stringify(a) : a)).join(' ');
  return scrubAndCut(line, 200);
}

/** A URL without credentials, query or fragment. */
function describeUrl(raw: string): string {
  try {
    const u = new URL(raw);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}
