import { spawn } from 'node:child_process';
import readline from 'node:readline';

/** What one journalctl read returned. */
export interface JournalRead {
  lines: number;
  /** Whether `onLine` stopped the read before its end. */
  stopped: boolean;
}

// journalctl's words when it shows less than asked for: without group systemd-journal (or
// adm) it shows the user's own messages only, and says so with a hint, exit status 0: a
// count from that would be a false all-clear.
const PARTIAL = /not seeing messages from other users and the system|insufficient permissions/i;
const NO_FILES = /No journal files were found/i;
const STDERR_MAX = 8 * 1024;

/** What to read from the journal, and how to word what goes wrong. */
export interface JournalQuery {
  units: readonly string[];
  /** Entries from this moment on (ms since epoch; journalctl takes whole seconds). */
  sinceMs?: number;
  /** Entries after this cursor (journalctl --after-cursor); wins over sinceMs. */
  afterCursor?: string;
  /**
   * short-iso (default): syslog-like lines; verbose: a header per entry with its cursor, then
   * its fields. Not json or export: they make journalctl quiet, and it would no longer say that
   * it found no journal or that it shows the user's own messages only.
   */
  output?: 'short-iso' | 'verbose';
  /** The fields verbose shows (--output-fields), default all. */
  fields?: readonly string[];
  /** The host's filesystem under this prefix (journalctl --root), for an agent in a container. */
  root?: string;
  command?: string;
  signal: AbortSignal;
  /** What needs journalctl, for the message when it is missing (default `reading the journal`). */
  needs?: string;
  /** Said when there is no journal at all (default `is systemd-journald keeping one?`). */
  noFilesHint?: string;
}

/**
 * Streams `journalctl -u UNIT… --since @SECONDS -o short-iso` (or `--after-cursor`, `-o verbose`)
 * line by line to `onLine` (a busy window can be large: nothing is buffered whole); `onLine`
 * returning false stops the read there. Throws when journalctl is missing, fails, cannot see
 * the system's messages, or finds no journal at all, each in words that say what to change;
 * never answers an empty read for a journal it could not see.
 */
export async function readJournal(opts: JournalQuery, onLine: (line: string) => boolean | void): Promise<JournalRead> {
  const args = [
    ...opts.units.flatMap((u) => ['-u', u]),
    ...(opts.afterCursor !== undefined ? [`--after-cursor=${opts.afterCursor}`] : opts.sinceMs !== undefined ? ['--since', `@${Math.floor(opts.sinceMs / 1000)}`] : []),
    '-o', opts.output ?? 'short-iso',
    ...(opts.fields ? [`--output-fields=${opts.fields.join(',')}`] : []),
    '--no-pager',
    ...(opts.root ? ['--root', opts.root] : []),
  ];
  const command = opts.command ?? 'journalctl';
  const child = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    signal: opts.signal,
    env: { ...process.env, SYSTEMD_PAGER: '', SYSTEMD_COLORS: '0', LC_ALL: 'C' },
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    if (stderr.length < STDERR_MAX) stderr += d;
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code));
  });
  let lines = 0;
  let stopped = false;
  const rl = readline.createInterface({ input: child.stdout, crlfDelay: Infinity });
  rl.on('line', (line) => {
    // `-- No entries --`, `-- Boot … --`, `-- Logs begin at … --`
    if (stopped || line.startsWith('-- ')) return;
    lines++;
    if (onLine(line) === false) {
      stopped = true;
      rl.close();
      child.kill();
    }
  });
  let code: number | null;
  try {
    code = await exited;
  } catch (err) {
    if (opts.signal.aborted) throw opts.signal.reason;
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw new Error(`${command} not found: ${opts.needs ?? 'reading the journal'} needs systemd's journalctl on the PATH`, { cause: err });
    throw new Error(`cannot run ${command}: ${e.message}`, { cause: err });
  }
  const said = stderr.trim().split('\n');
  const partial = said.find((l) => PARTIAL.test(l));
  if (partial !== undefined) {
    throw new Error(`journalctl cannot read the ${opts.root ? `journal under ${opts.root}` : 'system journal'}: ${partial.trim()} (the agent's user needs group systemd-journal or adm)`);
  }
  if (code !== 0 && !stopped) throw new Error(`journalctl failed (exit ${code}): ${said[0] || 'no message'}`);
  if (NO_FILES.test(stderr)) {
    throw new Error(`journalctl found no journal files${opts.root ? ` under ${opts.root}` : ''} (${opts.noFilesHint ?? 'is systemd-journald keeping one?'})`);
  }
  return { lines, stopped };
}
