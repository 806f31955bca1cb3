import type { Argv, CommandModule } from 'yargs';
import { formatBytes } from '../checks/units';
import { formatColumns } from './cli-table';
import { Status, type StatusName } from './evaluate';
import type { CheckStatus, StatusReport } from './status';

/** Seconds between refreshes of `keepwatch status --watch` when none are given (as watch(1)). */
const DEFAULT_WATCH_SECONDS = 2;

/** How long one request may take: a host-level check must answer within a Nagios plugin's 10 s. */
const REQUEST_TIMEOUT_MS = 10_000;

/**
 * Fetches `GET /api/v1/status` from the agent at `url`, with $KEEPWATCH_TOKEN as other client
 * commands send it; or, when it cannot be read (not reachable, refused, not an agent), why in
 * one plain line: for a status check, an agent that does not answer is a result, not a bug.
 */
export async function fetchStatus(url: string, token = process.env.KEEPWATCH_TOKEN): Promise<{ report: StatusReport } | { error: string }> {
  const base = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `http://${url}`;
  let res: Response;
  try {
    res = await fetch(new URL('/api/v1/status', base), {
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      headers: token ? { Authorization: `Bearer ${token}` } : {},
    });
  } catch (err) {
    const why = (err as { cause?: Error }).cause?.message ?? (err as Error).message;
    return { error: `cannot reach the agent at ${url}: ${why} (is it running? set --url or KEEPWATCH_URL)` };
  }
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    return { error: `${url} did not answer as a keepwatch agent: HTTP ${res.status}: ${text.slice(0, 200)}` };
  }
  if (!res.ok) {
    const hint = res.status === 401 ? ' (set KEEPWATCH_TOKEN)' : res.status === 404 ? ' (an agent older than keepwatch status?)' : '';
    return { error: `cannot read the status of ${url}: HTTP ${res.status}: ${json.error ?? text.slice(0, 200)}${hint}` };
  }
  return { report: json as StatusReport };
}

/** A span of time for people: `45s`, `1m30s`, `14m`, `3h12m`, `2d3h` (the second unit only while the first is under 10). */
export function humanSpan(ms: number): string {
  const s = Math.floor(Math.max(0, ms) / 1000);
  const units: Array<[string, number]> = [['d', 86_400], ['h', 3600], ['m', 60], ['s', 1]];
  const i = units.findIndex(([, size]) => s >= size);
  if (i < 0) return '0s';
  const [unit, size] = units[i];
  const n = Math.floor(s / size);
  if (n >= 10 || i === units.length - 1) return `${n}${unit}`;
  const [next, nextSize] = units[i + 1];
  const rest = Math.floor((s % size) / nextSize);
  return rest ? `${n}${unit}${rest}${next}` : `${n}${unit}`;
}

const ago = (iso: string | undefined, now: number) => (iso ? `${humanSpan(now - Date.parse(iso))} ago` : '-');

/** When something comes: `in 48s`, `in <1s`; `due` up to a second past, then `late 5s` (a busy or suspended agent). */
function inTime(iso: string | undefined, now: number): string {
  if (!iso) return '-';
  const left = Date.parse(iso) - now;
  if (left > 0) return left < 1000 ? 'in <1s' : `in ${humanSpan(left)}`;
  return left > -1000 ? 'due' : `late ${humanSpan(-left)}`;
}

const stamp = (iso: string) => iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');

/** A number for a table: whole, or three significant digits (4.105 → 4.11), big ones rounded. */
function num(n: number): string {
  if (Number.isInteger(n) || !Number.isFinite(n)) return String(n);
  return String(Math.abs(n) >= 100 ? Math.round(n) : +n.toPrecision(3));
}

/** The value that matters, as `field=value` with its unit: `latencyMs=4.11ms`, `usedPercent=85.2%`, `freeBytes=12.3 GB`. */
export function formatValue(v: CheckStatus['value']): string {
  if (!v) return '-';
  if (typeof v.value !== 'number') return `${v.field}=${String(v.value)}`;
  const n = v.value;
  const shown =
    v.unit === 'ms' ? `${num(n)}ms`
    : v.unit === 'seconds' ? (n >= 60 ? humanSpan(n * 1000) : `${num(n)}s`)
    : v.unit === 'days' ? `${num(n)}d`
    : v.unit === 'percent' ? `${num(n)}%`
    : v.unit === 'bytes' ? formatBytes(n)
    : num(n);
  return `${v.field}=${shown}`;
}

/** Problems first: critical, unknown, warning, then ok and checks that have not run yet. */
const ORDER: Record<StatusName | 'pending', number> = { critical: 0, unknown: 1, warning: 2, ok: 3, pending: 4 };

/** Renders a status report as the compact text `keepwatch status` prints; times are reckoned against the agent's clock. */
export function formatStatus(r: StatusReport): string {
  const now = Date.parse(r.now);
  const counts = (['critical', 'unknown', 'warning', 'ok', 'pending'] as const).filter((s) => r.counts[s]).map((s) => `${r.counts[s]} ${s}`);
  const up = r.agent.uptimeSeconds === undefined ? 'starting' : `up ${humanSpan(r.agent.uptimeSeconds * 1000)}`;
  const lines = [`${r.agent.name}: keepwatch ${r.agent.version}, ${up}, at ${stamp(r.now)}: ${r.worst.toUpperCase()} (${counts.join(', ') || 'no checks'})`, ''];

  const checks = [...r.checks].sort((a, b) => ORDER[a.status] - ORDER[b.status]);
  const rows = [['STATUS', 'CHECK', 'TYPE', 'VALUE', 'LAST RUN', 'NEXT RUN', 'MESSAGE']];
  for (const c of checks) {
    rows.push([c.status.toUpperCase(), c.name, c.type, formatValue(c.value), ago(c.lastRun, now), c.running ? 'running' : inTime(c.nextRun, now), c.message ?? '']);
  }
  lines.push(checks.length ? table(rows) : 'no checks configured');

  lines.push('', r.incidents.length ? `INCIDENTS  ${r.incidents.length} open` : 'INCIDENTS  none open');
  if (r.incidents.length) {
    const rows = [['ID', 'SEVERITY', 'STATE', 'CHECK', 'TIER', 'OPENED', 'SLA', 'SUMMARY']];
    for (const i of r.incidents) {
      rows.push([String(i.id), i.severity, i.state + (i.flapping ? ' (flapping)' : ''), i.check, i.tier ?? '-', ago(i.openedAt, now), sla(i.sla, now), i.summary]);
    }
    lines.push(table(rows, { indent: '  ' }));
  }

  lines.push(r.maintenance.length ? `MAINTENANCE  ${r.maintenance.length} active` : 'MAINTENANCE  none active');
  if (r.maintenance.length) {
    const rows = [['WINDOW', 'ENDS', 'COVERS']];
    for (const m of r.maintenance) rows.push([m.name, inTime(m.endsAt, now), covers(m.covers)]);
    lines.push(table(rows, { indent: '  ' }));
  }

  lines.push(r.silences.length ? `SILENCES  ${r.silences.length} active` : 'SILENCES  none active');
  if (r.silences.length) {
    const rows = [['ID', 'CHECKS', 'ENDS', 'BY', 'COVERS', 'COMMENT']];
    for (const s of r.silences) rows.push([s.id.slice(0, 8), s.checks.join(','), inTime(s.endsAt, now), s.createdBy, covers(s.covers), s.comment]);
    lines.push(table(rows, { indent: '  ' }));
  }

  if (!r.outbox) {
    lines.push('OUTBOX  none (the agent runs without a store)');
  } else {
    const failing = r.outbox.failing.reduce((n, f) => n + f.count, 0);
    lines.push(`OUTBOX  ${r.outbox.due} due, ${r.outbox.held} held, ${failing} failing`);
    if (failing) lines.push(table(r.outbox.failing.map((f) => [f.notifier, `${f.count} retrying`, cut((f.lastError ?? '').replace(/\s+/g, ' '), 120)]), { indent: '  ' }));
  }
  return lines.join('\n');
}

/**
 * The CLI's table layout, one line a row: a cell's line breaks (an HTML error page a receiver
 * answered) become spaces, and no line ends in the padding an empty last cell leaves.
 */
function table(rows: string[][], opts: { indent?: string } = {}): string {
  return formatColumns(rows.map((row) => row.map((cell) => cell.replace(/\s*\n\s*/g, ' '))), opts).replace(/ +$/gm, '');
}

/** A long text cut to `max` characters with an ellipsis. */
const cut = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

function sla(clock: StatusReport['incidents'][number]['sla'], now: number): string {
  if (!clock) return '-';
  const left = Date.parse(clock.due) - now;
  return clock.breached || left <= 0 ? `${clock.clock} breached ${humanSpan(-left)} ago` : `${clock.clock} ${humanSpan(left)} left`;
}

function covers(names: string[]): string {
  if (!names.length) return 'no checks';
  return names.length <= 3 ? names.join(', ') : `${names.slice(0, 3).join(', ')} +${names.length - 3} more`;
}

/** Clears the screen once, then redraws from the top: each line clears its own rest, and what is below the block goes. */
const HOME = '\x1b[H';
const CLEAR_LINE = '\x1b[K';
const CLEAR_BELOW = '\x1b[J';

/** One refresh as written: in place on a terminal, else a new block after a blank line. */
export function frame(block: string, tty: boolean, first: boolean): string {
  if (!tty) return `${first ? '' : '\n'}${block}\n`;
  return `${first ? '\x1b[2J' : ''}${HOME}${block.split('\n').map((l) => l + CLEAR_LINE).join('\n')}\n${CLEAR_BELOW}`;
}

interface StatusArgs {
  url: string;
  watch?: string;
  json: boolean;
}

/** Parses `--watch [seconds]`: absent → no watch, bare → the default, else a positive number of seconds. */
export function watchSeconds(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (value === '') return DEFAULT_WATCH_SECONDS;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--watch: expected seconds between refreshes, such as 5 or 0.5, not "${value}"`);
  return n;
}

async function once(argv: StatusArgs): Promise<void> {
  const got = await fetchStatus(argv.url);
  if ('error' in got) {
    process.stderr.write(`${got.error}\n`);
    return void process.exit(Status.Unknown);
  }
  const { report } = got;
  const text = argv.json ? JSON.stringify(report, null, 2) : formatStatus(report);
  process.stdout.write(`${text}\n`, () => process.exit(report.exitCode));
}

/**
 * Refreshes until interrupted; Ctrl-C (or SIGTERM) exits with the last refresh's status code.
 * An agent that cannot be reached is a refresh too: the line says why, and the next one tries again.
 */
async function watch(argv: StatusArgs, seconds: number): Promise<void> {
  const tty = process.stdout.isTTY === true;
  let code: Status = Status.Unknown;
  const stop = () => process.stdout.write(tty ? '\n' : '', () => process.exit(code));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  for (let first = true; ; first = false) {
    const started = Date.now();
    const got = await fetchStatus(argv.url);
    let block = '';
    if ('report' in got) {
      code = got.report.exitCode;
      block = argv.json ? JSON.stringify(got.report) : formatStatus(got.report);
    } else {
      code = Status.Unknown;
      if (tty) block = `${stamp(new Date().toISOString())}: ${got.error}`;
      else process.stderr.write(`${got.error}\n`);
    }
    if (block) process.stdout.write(argv.json && !tty ? `${block}\n` : frame(block, tty, first));
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, seconds * 1000 - (Date.now() - started))));
  }
}

/** The `keepwatch status` command; `url` is the option every client command shares. */
export function statusCommand(url: object): CommandModule<object, StatusArgs> {
  return {
    command: 'status',
    describe: 'A running agent at a glance: checks, open incidents with their SLA, maintenance, silences, outbox. Exits with the worst check status (0 ok, 1 warning, 2 critical, 3 unknown or unreachable).',
    builder: (y: Argv) =>
      y
        .option('url', url)
        .option('watch', { type: 'string', alias: 'w', describe: `Refresh every N seconds (default ${DEFAULT_WATCH_SECONDS}) until Ctrl-C, in place on a terminal` })
        .option('json', { type: 'boolean', default: false, describe: 'Print the status as JSON (GET /api/v1/status)' })
        .check((a) => (watchSeconds(a.watch as string | undefined), true)) as unknown as Argv<StatusArgs>,
    handler: (argv) => {
      const seconds = watchSeconds(argv.watch);
      return seconds === undefined ? once(argv) : watch(argv, seconds);
    },
  };
}
