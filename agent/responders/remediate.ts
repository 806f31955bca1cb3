import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { z } from 'zod';
import { describeNetworkError, duration, formatDuration, httpUrl, isSecretName } from '../../checks/types';
import { longestSecretBytes, redactArgs, scrub, scrubAndCut } from '../secrets';

/** Most output kept per action: the tail of stdout+stderr, or of the response body. */
export const OUTPUT_LIMIT = 4096;

/** Most response body read from an http action; the rest is not downloaded. */
const HTTP_BODY_READ_LIMIT = 1 << 20;

/** How long a timed-out command's process group gets between SIGTERM and SIGKILL. */
const KILL_GRACE_MS = 2000;

/**
 * How long, after a command exits, its pipes are still read for output it wrote just before.
 * A command that starts a daemon leaves the daemon holding the pipes, so end-of-file may never come.
 */
const DRAIN_MS = 200;

const REDACTED = '[REDACTED]';

const SYSTEMD_ACTIONS = ['restart', 'reload', 'start'] as const;
const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/** Unit names as systemd spells them; never starting with `-`, so a unit can't pass as an option to systemctl. */
const UNIT_RE = /^[A-Za-z0-9@_.:\\][A-Za-z0-9@_.:\\-]*$/;
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

const argvSchema = z
  .array(z.string().refine((a) => !a.includes('\0'), { message: 'arguments cannot contain NUL characters' }), {
    error: (iss) =>
      typeof iss.input === 'string'
        ? `command is an argv list, not a shell string: write ${JSON.stringify(iss.input.trim().split(/\s+/))}. ` +
          'No shell runs it, so quotes, pipes, redirections and $VARS would not work; wrap a script if you need them'
        : undefined,
  })
  .min(1, { message: 'command must name a program: an argv list such as ["/usr/local/bin/restart-app", "--fast"]' })
  .refine((a) => a.length === 0 || a[0].trim() !== '', { message: 'the program (first element) must not be empty' });

const httpSchema = z.strictObject({
  url: httpUrl()
    .describe('The URL to call.'),
  method: z.enum(HTTP_METHODS).default('POST').describe('HTTP method (default POST: a remediation endpoint does something).'),
  headers: z.record(z.string(), z.string()).default({}).describe('Request headers (values may use ${ENV} for secrets).'),
  body: z
    .union([z.string(), z.record(z.string(), z.unknown()), z.array(z.unknown())])
    .optional()
    .describe('Request body: text as is, or a mapping/list sent as JSON.'),
});

const systemdSchema = z
  .union(
    [
      z.string().regex(UNIT_RE),
      z.strictObject({
        unit: z.string().regex(UNIT_RE, { message: 'expected a unit name such as nginx or nginx.service' }).describe('The unit to act on.'),
        action: z.enum(SYSTEMD_ACTIONS).default('restart').describe('What systemctl does to it.'),
      }),
    ],
    { error: 'expected a unit name such as nginx or nginx.service, or {unit, action: restart|reload|start}' },
  )
  .transform((v) => (typeof v === 'string' ? { unit: v, action: 'restart' as const } : v));

/** One remediation step as the config writes it, before it is turned into a {@link RemediationAction}. */
const actionSchema = z
  .strictObject({
    command: argvSchema
      .optional()
      .describe('Program and arguments to run, as a list (never a shell string): ["/usr/local/bin/restart-app", "--fast"]. Success is exit code 0.'),
    http: httpSchema.optional().describe('HTTP call to make; success is a 2xx status. Redirects are not followed.'),
    systemd: systemdSchema
      .optional()
      .describe('Unit to restart (`nginx`), or {unit, action: restart|reload|start}; runs `systemctl <action> <unit>`.'),
    timeout: duration({ min: 100, max: 3_600_000 })
      .default(30_000)
      .describe('Give up on this action after this long (default 30s); a command\'s whole process group is killed.'),
    env: z
      .record(z.string().regex(ENV_NAME_RE, { message: 'environment names are letters, digits and _' }), z.string())
      .optional()
      .describe('Extra environment for a command, added to the agent\'s own. Values are never shown; those of secret-looking names (API_TOKEN, DB_PASSWORD) are scrubbed from its output.'),
  })
  .superRefine((a, ctx) => {
    const set = (['command', 'http', 'systemd'] as const).filter((k) => a[k] !== undefined);
    if (set.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'say what to do: set one of command, http or systemd' });
    } else if (set.length > 1) {
      ctx.addIssue({
        code: 'custom',
        path: [set[1]],
        message: `set only one of command, http or systemd per action (this one sets ${set.join(' and ')}); list several actions to do several things`,
      });
    }
    if (a.env !== undefined && a.command === undefined) {
      ctx.addIssue({ code: 'custom', path: ['env'], message: 'env applies to command actions only' });
    }
  })
  .transform((a): RemediationAction => {
    if (a.http) return { kind: 'http', ...a.http, timeout: a.timeout };
    if (a.systemd) return { kind: 'systemd', unit: a.systemd.unit, action: a.systemd.action, timeout: a.timeout };
    return { kind: 'command', argv: a.command ?? [], env: a.env ?? {}, timeout: a.timeout };
  });

/**
 * The `remediate:` key of a check: L1 of escalation, actions run automatically when an
 * incident opens, at most `limit.max` times per `limit.within` and never closer than `cooldown`.
 */
export const remediateSchema = z
  .strictObject({
    actions: z
      .array(actionSchema)
      .min(1, { message: 'list at least one action' })
      .describe('What to do, in order; the first action that fails stops the rest.'),
    limit: z
      .strictObject({
        max: z.number().int().min(1).max(100).default(3).describe('Most runs in any `within` window.'),
        within: duration({ min: 1000 }).default(3_600_000).describe('The sliding window `max` counts runs in.'),
      })
      .prefault({})
      .describe('Rate limit, so a remediation that does not help cannot loop (default 3 within 1h).'),
    cooldown: duration().default(300_000).describe('Least time between two runs (default 5m), so a fix gets time to work.'),
  })
  .describe('L1: automatic remediation run when an incident opens, before anyone is paged (Monit-style).');

/** The parsed `remediate:` config. */
export type RemediateConfig = z.output<typeof remediateSchema>;

/** Run a program directly, without a shell. */
export interface CommandAction {
  kind: 'command';
  argv: string[];
  /** Added to the agent's environment. */
  env?: Record<string, string>;
  /** Milliseconds. */
  timeout: number;
}

/** Call an HTTP endpoint; a 2xx status is success. */
export interface HttpAction {
  kind: 'http';
  url: string;
  method: (typeof HTTP_METHODS)[number];
  headers?: Record<string, string>;
  body?: string | Record<string, unknown> | unknown[];
  /** Milliseconds. */
  timeout: number;
}

/** `systemctl <action> <unit>`. */
export interface SystemdAction {
  kind: 'systemd';
  unit: string;
  action: (typeof SYSTEMD_ACTIONS)[number];
  /** Milliseconds. */
  timeout: number;
}

/** One remediation step, as `remediateSchema` parses it. */
export type RemediationAction = CommandAction | HttpAction | SystemdAction;

/** What one action did. */
export interface ActionResult {
  kind: RemediationAction['kind'];
  /** `systemctl restart nginx`, `POST http://127.0.0.1:8080/admin/reload`: no env values, query strings or credentials. */
  description: string;
  ok: boolean;
  /** A command's exit code; null when it was killed by a signal or never started. */
  exitCode?: number | null;
  /** The signal that ended a command, if one did. */
  exitSignal?: string | null;
  /** An http action's response status. */
  status?: number;
  durationMs: number;
  /** The tail of stdout+stderr (interleaved as it arrived) or of the response body: at most {@link OUTPUT_LIMIT} bytes, ANSI stripped, secrets scrubbed. */
  output: string;
  /** True when earlier output was cut to keep the tail. */
  outputTruncated: boolean;
  /** Why it failed, when that is not just the exit code or status: not found, timed out, connection refused. */
  error?: string;
  timedOut?: boolean;
}

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

/**
 * Runs the actions in order and stops at the first that fails. Never rejects: a missing
 * program, a timeout or a refused connection is a failed action in the outcome. An aborted
 * `signal` kills the running action (its whole process group) and skips the rest.
 */
export async function runRemediation(
  actions: readonly RemediationAction[],
  opts: { signal?: AbortSignal } = {},
): Promise<RemediationOutcome> {
  const started = performance.now();
  const results: ActionResult[] = [];
  let i = 0;
  for (; i < actions.length; i++) {
    if (opts.signal?.aborted) break;
    const result = await runAction(actions[i], opts.signal);
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
export async function runAction(action: RemediationAction, signal?: AbortSignal): Promise<ActionResult> {
  const description = describeAction(action);
  if (signal?.aborted) {
    return { kind: action.kind, description, ok: false, durationMs: 0, output: '', outputTruncated: false, error: 'aborted before it started' };
  }
  const started = performance.now();
  let partial: Omit<ActionResult, 'kind' | 'description' | 'durationMs'>;
  switch (action.kind) {
    case 'command':
      partial = await runCommand(action.argv, action.env ?? {}, action.timeout, signal);
      break;
    case 'systemd':
      partial = await runCommand(systemdArgv(action.unit, action.action), {}, action.timeout, signal);
      break;
    case 'http':
      partial = await runHttp(action, signal);
      break;
  }
  return { kind: action.kind, description, ...partial, durationMs: Math.round(performance.now() - started) };
}

type Outcome = Omit<ActionResult, 'kind' | 'description' | 'durationMs'>;

/**
 * Runs a program in its own process group (`detached`), so a timeout can kill everything it
 * started. Settles when the program itself exits: a command that starts a daemon is done
 * when it returns, even though the daemon still holds the inherited stdout and stderr.
 */
/**
 * The environment a remediation command starts with: enough to find programs and speak the
 * locale, and nothing else. The agent's own environment holds its tokens and notifier keys,
 * which a fix script has no business reading (or printing into the timeline).
 */
export function baseEnv(): Record<string, string> {
  const keep = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'USER', 'LOGNAME', 'SHELL', 'TMPDIR'];
  return Object.fromEntries(keep.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k] as string]));
}

function runCommand(argv: string[], env: Record<string, string>, timeoutMs: number, signal?: AbortSignal): Promise<Outcome> {
  const secrets = Object.entries(env).filter(([k]) => isSecretName(k)).map(([, v]) => v);
  const out = new TailBuffer(OUTPUT_LIMIT + longestSecretBytes(secrets));
  return new Promise((resolve) => {
    let child: ChildProcess;
    try {
      child = spawn(argv[0], argv.slice(1), {
        shell: false,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...baseEnv(), ...env },
      });
    } catch (err) {
      resolve({ ok: false, exitCode: null, output: '', outputTruncated: false, error: spawnError(argv[0], err) });
      return;
    }

    let stopReason: 'timeout' | 'aborted' | undefined;
    let stoppedAt = 0;
    let exit: { code: number | null; sig: NodeJS.Signals | null } = { code: null, sig: null };
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const collect = (chunk: Buffer) => out.push(chunk);
    const streams = [child.stdout, child.stderr].filter((s) => s !== null);
    for (const s of streams) s.on('data', collect);

    const finish = (o: Partial<Outcome>) => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      signal?.removeEventListener('abort', onAbort);
      // Stop collecting, but keep draining: a daemon that inherited these pipes would die of
      // SIGPIPE on its next write if we closed them. unref, so they don't keep the agent alive.
      for (const s of streams) {
        s.off('data', collect);
        s.resume();
        (s as { unref?: () => void }).unref?.();
      }
      const text = finishOutput(out, secrets);
      resolve({ ok: false, ...text, ...o });
    };

    const stopped = (): Partial<Outcome> => ({
      exitCode: exit.code,
      exitSignal: exit.sig,
      timedOut: stopReason === 'timeout' ? true : undefined,
      error: stopReason === 'timeout' ? `timed out after ${formatDuration(timeoutMs)}; killed its process group` : 'aborted; killed its process group',
    });
    let exited = false;
    const stop = (why: 'timeout' | 'aborted') => {
      // Once the command has exited, what it left running (a daemon it started) is not ours to kill.
      if (stopReason || settled || exited) return;
      stopReason = why;
      stoppedAt = Date.now();
      killGroup(child.pid, 'SIGTERM');
      timers.push(setTimeout(() => killGroup(child.pid, 'SIGKILL'), KILL_GRACE_MS));
      // A process stuck in the kernel (D state) survives even SIGKILL for a while; don't wait on it.
      timers.push(setTimeout(() => finish(stopped()), KILL_GRACE_MS + 1000));
    };
    const onAbort = () => stop('aborted');
    signal?.addEventListener('abort', onAbort, { once: true });
    timers.push(setTimeout(() => stop('timeout'), timeoutMs));

    child.on('error', (err) => {
      // Without a pid the program never started (ENOENT, EACCES): there will be no 'exit'.
      if (child.pid === undefined) finish({ exitCode: null, error: spawnError(argv[0], err) });
    });

    child.on('exit', (code, sig) => {
      exit = { code, sig };
      exited = true;
      if (stopReason) {
        // The leader is gone; give what it started the rest of the grace, then SIGKILL.
        void waitGroupGone(child.pid as number, stoppedAt + KILL_GRACE_MS).then(() => finish(stopped()));
        return;
      }
      for (const t of timers) clearTimeout(t);
      const result: Partial<Outcome> = { ok: code === 0, exitCode: code, exitSignal: sig };
      if (code !== 0) result.error = sig ? `killed by ${sig}` : `exited with code ${code}`;
      // Output written just before exit may still sit in the pipes: read until both reach
      // end-of-file, or DRAIN_MS when something it started keeps them open.
      let open = streams.filter((s) => !s.readableEnded).length;
      if (open === 0) return finish(result);
      timers.push(setTimeout(() => finish(result), DRAIN_MS));
      for (const s of streams) {
        if (!s.readableEnded) s.once('end', () => --open === 0 && finish(result));
      }
    });
  });
}

function spawnError(program: string, err: unknown): string {
  const code = (err as { code?: string }).code;
  if (code === 'ENOENT') return `command not found: ${program} (no such file, or not on PATH)`;
  if (code === 'EACCES') return `cannot run ${program}: permission denied (not executable?)`;
  return `cannot run ${program}: ${(err as Error).message ?? String(err)}`;
}

/** Signals a whole process group; a group already gone is fine. */
function killGroup(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, sig);
  } catch (err) {
    // ESRCH: nothing left. EPERM: a member changed user (setuid); nothing more we can do.
    // Either way this runs from a timer, where a throw would take the agent down.
    void err;
  }
}

/**
 * Whether a process group still has a live member. On Linux, /proc is read so that zombies
 * don't count: an orphan's zombie lingers wherever pid 1 does not reap (many containers),
 * and kill(-pgid, 0) would report it alive.
 */
async function groupAlive(pgid: number): Promise<boolean> {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  if (process.platform !== 'linux') return true;
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // Fields after the name: state, ppid, pgrp.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(rest[2]) === pgid && rest[0] !== 'Z' && rest[0] !== 'X') return true;
  }
  return false;
}

/** Waits until the group has no live member; at `untilMs` SIGKILLs it and waits at most 500 ms more. */
async function waitGroupGone(pgid: number, untilMs: number): Promise<void> {
  while ((await groupAlive(pgid)) && Date.now() < untilMs) await pause(25);
  if (!(await groupAlive(pgid))) return;
  killGroup(pgid, 'SIGKILL');
  const hardUntil = Date.now() + 500;
  while ((await groupAlive(pgid)) && Date.now() < hardUntil) await pause(25);
}

function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Calls an HTTP endpoint; a 2xx answer is success. No redirects, no keep-alive, body tail kept. */
function runHttp(action: HttpAction, signal?: AbortSignal): Promise<Outcome> {
  const url = new URL(action.url);
  const secrets = [
    decodeURIComponent(url.password),
    ...Object.entries(action.headers ?? {}).filter(([k]) => isSecretName(k)).map(([, v]) => v),
    ...[...url.searchParams].filter(([k]) => isSecretName(k)).map(([, v]) => v),
  ].filter((s) => s.length > 0);
  const out = new TailBuffer(OUTPUT_LIMIT + longestSecretBytes(secrets));
  const headers: Record<string, string> = { 'User-Agent': 'keepwatch', ...action.headers };
  let body: string | undefined;
  if (typeof action.body === 'string') body = action.body;
  else if (action.body !== undefined) {
    body = JSON.stringify(action.body);
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['Content-Type'] = 'application/json';
  }

  return new Promise((resolve) => {
    let settled = false;
    let stopReason: 'timeout' | 'aborted' | undefined;
    let status: number | undefined;
    const finish = (o: Partial<Outcome>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve({ ok: false, status, ...finishOutput(out, secrets), ...o });
    };
    const stop = (why: 'timeout' | 'aborted') => {
      stopReason = why;
      req.destroy();
      finish({
        timedOut: why === 'timeout' ? true : undefined,
        error: why === 'timeout' ? `timed out after ${formatDuration(action.timeout)}` : 'aborted',
      });
    };
    const onAbort = () => stop('aborted');
    const timer = setTimeout(() => stop('timeout'), action.timeout);
    signal?.addEventListener('abort', onAbort, { once: true });

    const mod = url.protocol === 'https:' ? https : http;
    const req = mod.request(url, { method: action.method, headers, agent: false }, (res) => {
      status = res.statusCode ?? 0;
      const ok = status >= 200 && status < 300;
      const result: Partial<Outcome> = { ok, status, error: ok ? undefined : `HTTP ${status}` };
      let read = 0;
      res.on('data', (chunk: Buffer) => {
        out.push(chunk);
        read += chunk.length;
        if (read >= HTTP_BODY_READ_LIMIT) {
          res.destroy();
          finish(result);
        }
      });
      res.on('end', () => finish(result));
      res.on('error', (err) => finish({ ...result, error: stopReason ? undefined : `reading the body: ${describeNetworkError(err)}` }));
    });
    req.on('error', (err) => {
      if (!stopReason) finish({ error: scrub(describeNetworkError(err), secrets) });
    });
    req.end(body);
  });
}

/**
 * Whether a remediation may run now, given when earlier runs started (`history`, ms since the
 * epoch, any order). Pure, so the engine keeps the history in its store across restarts.
 * Refused when `limit.max` runs already started in the sliding window `(now - within, now]`,
 * or the last run started less than `cooldown` ago; `retryAt` is the first moment both allow it.
 * A start time in the future (the clock went back) counts as recent: refusing is the safe side.
 */
export function remediationAllowed(
  history: readonly number[],
  now: number,
  limit: { max: number; within: number },
  cooldown: number,
): RemediationPermission {
  const max = Math.max(1, Math.floor(limit.max));
  const runs = [...history].filter(Number.isFinite).sort((a, b) => a - b);
  const reasons: string[] = [];
  let retryAt = now;

  const inWindow = runs.filter((t) => t > now - limit.within);
  if (inWindow.length >= max) {
    // The run that must leave the window before one more fits in it.
    const at = inWindow[inWindow.length - max] + limit.within;
    retryAt = Math.max(retryAt, at);
    reasons.push(`rate limit: ${inWindow.length} run${inWindow.length === 1 ? '' : 's'} in the last ${formatDuration(limit.within)} (at most ${max})`);
  }
  const last = runs.at(-1);
  if (last !== undefined && now - last < cooldown) {
    retryAt = Math.max(retryAt, last + cooldown);
    reasons.push(`cool-down: last run ${formatDuration(Math.max(0, now - last))} ago (cool-down ${formatDuration(cooldown)})`);
  }
  return reasons.length === 0 ? { allowed: true } : { allowed: false, reason: reasons.join('; '), retryAt };
}

/** The answer of {@link remediationAllowed}. */
export type RemediationPermission = { allowed: true } | { allowed: false; reason: string; retryAt: number };

/** Keeps the last `limit` bytes pushed into it. */
class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  /** Bytes pushed in all. */
  total = 0;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.total += chunk.length;
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.chunks.length > 1 && this.size - this.chunks[0].length >= this.limit) {
      this.size -= (this.chunks.shift() as Buffer).length;
    }
  }

  bytes(): Buffer {
    const all = Buffer.concat(this.chunks);
    return all.length > this.limit ? all.subarray(all.length - this.limit) : all;
  }
}

// CSI and OSC sequences and two-character escapes, then C0 controls other than tab and newline.
const ANSI_RE = /\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])/g;
const CONTROL_RE = /[\x00-\x08\x0b-\x1f\x7f]/g;

/** The output text: scrubbed of secrets first (the buffer kept enough extra to see a secret cut at its start), then cut to the limit. */
function finishOutput(out: TailBuffer, secrets: string[]): { output: string; outputTruncated: boolean } {
  let bytes = out.bytes();
  // A cut may land inside a multi-byte character: drop its continuation bytes.
  let start = 0;
  if (bytes.length < out.total) while (start < bytes.length && (bytes[start] & 0xc0) === 0x80) start++;
  bytes = bytes.subarray(start);
  let text = scrub(bytes.toString('utf8').replace(ANSI_RE, '').replace(/\r\n/g, '\n').replace(CONTROL_RE, ''), secrets);
  let truncated = bytes.length < out.total;
  if (Buffer.byteLength(text) > OUTPUT_LIMIT) {
    const b = Buffer.from(text);
    let cut = b.length - OUTPUT_LIMIT;
    while (cut < b.length && (b[cut] & 0xc0) === 0x80) cut++;
    text = b.subarray(cut).toString('utf8');
    truncated = true;
  }
  return { output: text, outputTruncated: truncated };
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
