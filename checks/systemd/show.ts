import { execFile } from 'node:child_process';

/** The properties asked of `systemctl show`. */
export const PROPERTIES = [
  'LoadState', 'ActiveState', 'SubState', 'Result', 'NRestarts', 'MainPID', 'ExecMainStatus',
  'StateChangeTimestampMonotonic',
] as const;

/** Unit types systemd knows; a name without one of these suffixes is a service. */
const SUFFIXES = ['service', 'socket', 'timer', 'mount', 'automount', 'swap', 'target', 'path', 'slice', 'scope', 'device'];

/** Valid unit names: systemd's characters (ASCII letters, digits, `:_.@-\`), at most 255, not starting with `-`. */
export const UNIT_NAME = /^[A-Za-z0-9:_.@\\][A-Za-z0-9:_.@\\-]{0,254}$/;

/** The unit name as systemctl is given it: `nginx` is `nginx.service`. */
export function unitName(unit: string): string {
  const dot = unit.lastIndexOf('.');
  return dot > 0 && SUFFIXES.includes(unit.slice(dot + 1)) ? unit : `${unit}.service`;
}

/** Parses `Key=Value` lines (values may hold `=`); the first occurrence of a key wins. */
export function parseShow(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq);
    if (!(key in out)) out[key] = line.slice(eq + 1);
  }
  return out;
}

/** What running systemctl gave. */
export interface ShowRun {
  stdout: string;
  stderr: string;
  /** Exit status; null when killed. */
  code: number | null;
  aborted: boolean;
  spawnError?: NodeJS.ErrnoException;
}

/**
 * Runs `systemctl [--user] show --no-pager --property=… UNIT` without a shell, in the C locale;
 * killed (SIGKILL) when the run is aborted, answering once it is gone. Never rejects.
 */
export function runShow(unit: string, user: boolean, signal: AbortSignal): Promise<ShowRun> {
  const args = [...(user ? ['--user'] : []), 'show', '--no-pager', `--property=${PROPERTIES.join(',')}`, '--', unit];
  return new Promise((resolve) => {
    if (signal.aborted) return resolve({ stdout: '', stderr: '', code: null, aborted: true });
    // Killed by hand rather than by execFile's `signal`, whose callback comes before the child
    // is gone: this one answers only once the child has exited and been reaped.
    const child = execFile('systemctl', args, {
      killSignal: 'SIGKILL', maxBuffer: 256 * 1024, encoding: 'utf8',
      env: { ...process.env, LC_ALL: 'C', SYSTEMD_PAGER: '', SYSTEMD_COLORS: '0' },
    }, (err, stdout, stderr) => {
      signal.removeEventListener('abort', onAbort);
      if (signal.aborted) return resolve({ stdout, stderr, code: null, aborted: true });
      if (!err) return resolve({ stdout, stderr, code: 0, aborted: false });
      const e = err as NodeJS.ErrnoException & { code?: string | number };
      if (typeof e.code === 'string') return resolve({ stdout, stderr, code: null, aborted: false, spawnError: e });
      resolve({ stdout, stderr, code: typeof e.code === 'number' ? e.code : null, aborted: false });
    });
    const onAbort = () => child.kill('SIGKILL');
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Why systemctl could not answer about any unit, as the message of an unknown run: systemd not
 * running, no user manager, no permission. Undefined when stderr says none of these.
 */
export function cannotAsk(stderr: string, user: boolean): string | undefined {
  if (/has not been booted with systemd|System has not been booted/i.test(stderr)) {
    return 'systemd is not running on this host (PID 1 is not systemd: a container or another init), so there are no units to check; run the agent on a host booted with systemd, or use a process check';
  }
  if (user && /Failed to connect to bus|XDG_RUNTIME_DIR|DBUS_SESSION_BUS_ADDRESS/i.test(stderr)) {
    return 'systemctl --user cannot reach the agent\'s user manager: start one for the agent\'s user (loginctl enable-linger USER) and give the agent XDG_RUNTIME_DIR=/run/user/UID';
  }
  if (/Access denied|Permission denied|Interactive authentication required/i.test(stderr)) {
    return `systemctl may not read unit properties: allow the agent's user to query systemd over D-Bus (a polkit rule) (${firstLine(stderr)})`;
  }
  if (/Failed to connect to bus|Failed to get properties|Connection timed out/i.test(stderr)) {
    return `systemctl could not ask systemd: ${firstLine(stderr)}`;
  }
  return undefined;
}

export function firstLine(text: string): string {
  return (text.split('\n').map((l) => l.trim()).find(Boolean) ?? '').slice(0, 200);
}
