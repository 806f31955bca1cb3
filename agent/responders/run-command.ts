import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { formatDuration, isSecretName } from '../../checks/types';
import { longestSecretBytes } from '../secrets';
import { finishOutput, OUTPUT_LIMIT, TailBuffer, type ActionOutcome } from './action-output';

/** The waits of a command run. The agent uses {@link COMMAND_TIMING}; tests shorten them. */
export interface CommandTiming {
  /** How long a timed-out command's process group gets between SIGTERM and SIGKILL. */
  killGraceMs: number;
  /**
   * How long, after a command exits, its pipes are still read for output it wrote just before.
   * A command that starts a daemon leaves the daemon holding the pipes, so end-of-file may never come.
   */
  drainMs: number;
}

/** The agent's command timing: 2 s from SIGTERM to SIGKILL, 200 ms to drain the pipes. */
export const COMMAND_TIMING: Readonly<CommandTiming> = Object.freeze({ killGraceMs: 2000, drainMs: 200 });

/**
 * The environment a remediation command starts with: enough to find programs and speak the
 * locale, and nothing else. The agent's own environment holds its tokens and notifier keys,
 * which a fix script has no business reading (or printing into the timeline).
 */
export function baseEnv(): Record<string, string> {
  const keep = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'USER', 'LOGNAME', 'SHELL', 'TMPDIR'];
  return Object.fromEntries(keep.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k] as string]));
}

/**
 * Runs a program in its own process group (`detached`), so a timeout can kill everything it
 * started. Settles when the program itself exits: a command that starts a daemon is done
 * when it returns, even though the daemon still holds the inherited stdout and stderr.
 */
export function runCommand(
  argv: string[],
  env: Record<string, string>,
  timeoutMs: number,
  signal?: AbortSignal,
  timing: Readonly<CommandTiming> = COMMAND_TIMING,
): Promise<ActionOutcome> {
  const { killGraceMs, drainMs } = timing;
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

    const finish = (o: Partial<ActionOutcome>) => {
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

    const stopped = (): Partial<ActionOutcome> => ({
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
      timers.push(setTimeout(() => killGroup(child.pid, 'SIGKILL'), killGraceMs));
      // A process stuck in the kernel (D state) survives even SIGKILL for a while; don't wait on it.
      timers.push(setTimeout(() => finish(stopped()), killGraceMs + 1000));
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
        void waitGroupGone(child.pid as number, stoppedAt + killGraceMs).then(() => finish(stopped()));
        return;
      }
      for (const t of timers) clearTimeout(t);
      const result: Partial<ActionOutcome> = { ok: code === 0, exitCode: code, exitSignal: sig };
      if (code !== 0) result.error = sig ? `killed by ${sig}` : `exited with code ${code}`;
      // Output written just before exit may still sit in the pipes: read until both reach
      // end-of-file, or drainMs when something it started keeps them open.
      let open = streams.filter((s) => !s.readableEnded).length;
      if (open === 0) return finish(result);
      timers.push(setTimeout(() => finish(result), drainMs));
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
