import { spawn } from 'node:child_process';

/** The most standard output kept of one run (a plugin's output is a line or a few). */
export const MAX_STDOUT_BYTES = 64 * 1024;
/** The most standard error kept: enough for a usage text or a stack trace's head. */
export const MAX_STDERR_BYTES = 8 * 1024;
/** How long the process group has between SIGTERM and SIGKILL when the run times out. */
export const KILL_GRACE_MS = 500;
/** How long the output may stay open after the plugin exited (a child of it holding the pipe) before it is closed. */
const DRAIN_MS = 200;

/** What one run of a plugin did. */
export interface PluginRun {
  stdout: string;
  stderr: string;
  /** Exit code; null when it was killed by a signal or never started. */
  code: number | null;
  /** The signal that ended it, if one did. */
  signal: NodeJS.Signals | null;
  /** True when the run was aborted (its timeout) and the plugin killed. */
  timedOut: boolean;
  /** True when the plugin wrote more than MAX_STDOUT_BYTES (the rest was read and dropped). */
  truncated: boolean;
  /** Set when the program could not be started at all (ENOENT, EACCES). */
  spawnError?: NodeJS.ErrnoException;
}

/**
 * Runs `argv` without a shell, in a process group of its own, and never rejects. On abort
 * the whole group gets SIGTERM, then SIGKILL after KILL_GRACE_MS; when the run ends, by exit
 * or abort, whatever the plugin left running in its group is killed, so that no child of it
 * outlives the run. Output beyond the caps is read (the plugin never blocks on a full pipe)
 * and dropped. No timer or listener is left behind once the promise settles.
 */
export function runPlugin(
  argv: readonly string[],
  opts: { env: NodeJS.ProcessEnv; cwd?: string; signal: AbortSignal; graceMs?: number },
): Promise<PluginRun> {
  const graceMs = opts.graceMs ?? KILL_GRACE_MS;
  return new Promise((resolve) => {
    if (opts.signal.aborted) {
      resolve({ stdout: '', stderr: '', code: null, signal: null, timedOut: true, truncated: false });
      return;
    }
    const out = capture(MAX_STDOUT_BYTES);
    const err = capture(MAX_STDERR_BYTES);
    let code: number | null = null;
    let exitSignal: NodeJS.Signals | null = null;
    let timedOut = false;
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const child = spawn(argv[0], argv.slice(1), {
      env: opts.env,
      cwd: opts.cwd,
      detached: true, // setsid(): the plugin leads a new process group, so its children can be killed with it
      stdio: ['ignore', 'pipe', 'pipe'],
      shell: false,
    });
    const pid = child.pid;
    const killGroup = (sig: NodeJS.Signals) => {
      if (pid === undefined) return;
      try {
        process.kill(-pid, sig);
      } catch {
        // ESRCH: nothing of the group is left.
      }
    };
    const finish = (patch: Partial<PluginRun> = {}) => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      opts.signal.removeEventListener('abort', onAbort);
      // Whatever of the group is still running (a child that ignored SIGTERM, or one the
      // plugin left behind) ends with the run.
      killGroup('SIGKILL');
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve({ stdout: out.text(), stderr: err.text(), code, signal: exitSignal, timedOut, truncated: out.truncated(), ...patch });
    };
    const onAbort = () => {
      timedOut = true;
      killGroup('SIGTERM');
      timers.push(setTimeout(() => {
        killGroup('SIGKILL');
        // A process that left the group (setsid) may still hold the pipes: stop waiting for them.
        timers.push(setTimeout(() => finish(), graceMs));
      }, graceMs));
    };
    opts.signal.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', out.add);
    child.stderr.on('data', err.add);
    child.on('error', (e: NodeJS.ErrnoException) => {
      // Only a failed start leaves no pid; a failed kill is not an error of the run.
      if (pid === undefined) finish({ spawnError: e });
    });
    child.on('exit', (c, s) => {
      code = c;
      exitSignal = s;
      // A child the plugin left running may hold stdout open: kill the rest of the group, and
      // stop waiting for the pipes shortly after if something outside it still holds them.
      killGroup('SIGKILL');
      timers.push(setTimeout(() => finish(), DRAIN_MS + (timedOut ? graceMs : 0)));
    });
    // A program that never started has only its error to tell.
    child.on('close', () => {
      if (pid !== undefined) finish();
    });
  });
}

/** Collects a stream's bytes up to `max`, then counts and drops the rest. */
function capture(max: number) {
  const chunks: Buffer[] = [];
  let kept = 0;
  let seen = 0;
  return {
    add: (chunk: Buffer) => {
      seen += chunk.length;
      if (kept >= max) return;
      const part = chunk.subarray(0, max - kept);
      chunks.push(part);
      kept += part.length;
    },
    text: () => Buffer.concat(chunks).toString('utf8'),
    truncated: () => seen > kept,
  };
}
