import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Argv, CommandModule } from 'yargs';
import { parseDuration } from '../checks/units';
import { fail, usageError } from './cli-errors';
import { MAX_PUSH_MESSAGE } from './server-push';

interface PushArgs {
  check: string;
  url: string;
  status?: string;
  message?: string;
  duration?: string;
  'token-file'?: string;
  /** The command of the wrapper form: what follows `--`, as given (no number parsing). */
  '--'?: string[];
}

const STATUSES = ['ok', 'warn', 'crit'] as const;
/** How much of the wrapped command's output is kept to find its last line (bytes). */
const TAIL_BYTES = 8192;

/**
 * `keepwatch push NAME [--status S] [--message TEXT] [--duration 12s]`: reports to a push
 * check of a running agent (token from --token-file or $KEEPWATCH_PUSH_TOKEN). With
 * `-- command args…` it runs the command, times it, pushes ok (exit 0) or crit (the exit code
 * and the last line of output) and exits with the command's own exit code.
 */
export function pushCommand(url: object): CommandModule<object, PushArgs> {
  return {
    command: 'push <check>',
    describe: 'Report to a push (heartbeat) check of a running agent; with -- COMMAND…, run the command, push ok or crit by its exit code, and exit with that code (for cron lines). Token from --token-file or $KEEPWATCH_PUSH_TOKEN.',
    builder: (y: Argv) =>
      y
        // Arguments after `--` are the command's, kept as written: `-- sleep 0x10` is not 16.
        .parserConfiguration({ 'populate--': true, 'parse-numbers': false, 'parse-positional-numbers': false })
        .positional('check', { type: 'string', describe: 'The push check (its name in the config)' })
        .option('url', url)
        .option('status', { type: 'string', describe: 'ok (default), warn or crit; not with a command (its exit code decides)' })
        .option('message', { type: 'string', describe: `What the job has to say (at most ${MAX_PUSH_MESSAGE} characters)` })
        .option('duration', { type: 'string', describe: 'How long the job took, e.g. 12s or 1h5m; not with a command (it is timed)' })
        .option('token-file', { type: 'string', describe: 'File holding the check\'s token (default: $KEEPWATCH_PUSH_TOKEN); there is no --token, as a command line shows in ps' })
        .example('$0 push nightly-backup --status warn --message "disk 91%"', 'Push a warning')
        .example('$0 push nightly-backup -- /usr/local/bin/backup.sh --full', 'Run the backup and push for it') as unknown as Argv<PushArgs>,
    handler: (argv) => (argv['--']?.length ? wrap(argv, argv['--']) : pushOnce(argv)),
  };
}

/** The token, or why there is none. */
function readToken(file: string | undefined): { token?: string; problem?: string } {
  if (file !== undefined) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      return { problem: `cannot read --token-file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
    }
    const token = text.replace(/\r?\n$/, '');
    return token ? { token } : { problem: `--token-file ${file} is empty` };
  }
  const env = process.env.KEEPWATCH_PUSH_TOKEN;
  return env ? { token: env } : { problem: 'no token: give --token-file FILE or set KEEPWATCH_PUSH_TOKEN (the push check\'s own token)' };
}

/** Checks the flags of a push; a usage error exits 3. */
function flags(argv: PushArgs, wrapped: boolean): { status?: string; durationMs?: number } {
  if (argv.status !== undefined && !STATUSES.includes(argv.status as (typeof STATUSES)[number])) usageError(`--status must be ok, warn or crit, not "${argv.status}"`);
  if (wrapped && argv.status !== undefined) usageError('--status cannot be combined with a command: its exit code decides (0 is ok, else crit)');
  if (wrapped && argv.duration !== undefined) usageError('--duration cannot be combined with a command: the command is timed');
  if (argv.message !== undefined && argv.message.length > MAX_PUSH_MESSAGE) usageError(`--message may be at most ${MAX_PUSH_MESSAGE} characters`);
  let durationMs: number | undefined;
  if (argv.duration !== undefined) {
    durationMs = parseDuration(argv.duration);
    if (durationMs === undefined) usageError(`--duration must be a duration such as 12s or 1h5m, not "${argv.duration}"`);
  }
  return { status: argv.status, durationMs };
}

/** Sends one push; the reason it failed, or undefined when the agent took it. */
async function send(url: string, check: string, token: string, body: Record<string, unknown>): Promise<string | undefined> {
  const path = `/api/v1/push/${encodeURIComponent(check)}`;
  let res: Response;
  try {
    res = await fetch(new URL(path, url), {
      method: 'POST',
      signal: AbortSignal.timeout(30_000),
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
  } catch (err) {
    return `cannot reach the agent at ${url}: ${(err as { cause?: Error }).cause?.message ?? (err as Error).message} (is it running? set --url or KEEPWATCH_URL)`;
  }
  const text = await res.text().catch(() => '');
  if (res.ok) return undefined;
  let error = text.trim().slice(0, 500);
  try {
    error = (JSON.parse(text) as { error?: string }).error ?? error;
  } catch {
    // not JSON (a proxy's page): shown as it is
  }
  const hint = res.status === 401 ? ' (the token must be the push check\'s own: --token-file or KEEPWATCH_PUSH_TOKEN)' : '';
  return `POST ${path}: HTTP ${res.status}: ${error}${hint}`;
}

async function pushOnce(argv: PushArgs): Promise<void> {
  const { status, durationMs } = flags(argv, false);
  const { token, problem } = readToken(argv['token-file']);
  if (!token) usageError(`keepwatch push: ${problem}`);
  const why = await send(argv.url, argv.check, token, {
    ...(status !== undefined ? { status } : {}),
    ...(argv.message !== undefined ? { message: argv.message } : {}),
    ...(durationMs !== undefined ? { durationMs } : {}),
  });
  if (why) fail(`keepwatch push: ${why}`);
  process.exit(0);
}

/** The last line with something on it, cut to fit a push message. */
function lastLine(tail: string): string | undefined {
  const line = tail.split(/\r?\n/).map((l) => l.trim()).filter(Boolean).pop();
  if (!line) return undefined;
  return line.length > MAX_PUSH_MESSAGE - 40 ? `${line.slice(0, MAX_PUSH_MESSAGE - 41)}…` : line;
}

/** Runs the command with its output passed through, and says how it ended. */
function run(command: string[]): Promise<{ code: number; how: string; ok: boolean; tail: string }> {
  return new Promise((resolve) => {
    let tail = '';
    const keep = (chunk: Buffer) => {
      tail = (tail + chunk.toString('utf8')).slice(-TAIL_BYTES);
    };
    const child = spawn(command[0], command.slice(1), { stdio: ['inherit', 'pipe', 'pipe'] });
    child.stdout.on('data', (c: Buffer) => (keep(c), process.stdout.write(c)));
    child.stderr.on('data', (c: Buffer) => (keep(c), process.stderr.write(c)));
    // Stopping the wrapper stops the job, which then reports how it ended.
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
    const forward = (s: NodeJS.Signals) => child.kill(s);
    for (const s of signals) process.on(s, forward);
    let started = true;
    child.once('error', (err: NodeJS.ErrnoException) => {
      started = false;
      for (const s of signals) process.off(s, forward);
      const code = err.code === 'ENOENT' ? 127 : 126;
      resolve({ code, ok: false, how: `cannot run ${command[0]}: ${err.code === 'ENOENT' ? 'not found' : err.message}`, tail: '' });
    });
    child.once('close', (code, signal) => {
      if (!started) return;
      for (const s of signals) process.off(s, forward);
      if (signal) resolve({ code: 128 + (os.constants.signals[signal] ?? 0), ok: false, how: `killed by ${signal}`, tail });
      else resolve({ code: code ?? 1, ok: code === 0, how: `exit ${code}`, tail });
    });
  });
}

async function wrap(argv: PushArgs, command: string[]): Promise<void> {
  flags(argv, true);
  const t0 = performance.now();
  const ended = await run(command);
  const durationMs = Math.round(performance.now() - t0);
  const line = lastLine(ended.tail);
  const said = argv.message ?? line;
  const message = `${ended.how}${said ? `: ${said}` : ''}`.slice(0, MAX_PUSH_MESSAGE);
  const { token, problem } = readToken(argv['token-file']);
  const why = token ? await send(argv.url, argv.check, token, { status: ended.ok ? 'ok' : 'crit', message, durationMs }) : problem;
  // The command's own exit code either way: a push that failed is said on stderr only.
  if (why) process.stderr.write(`keepwatch push: ${why}\n`);
  process.exit(ended.code);
}
