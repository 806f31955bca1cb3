#!/usr/bin/env -S node --max-semi-space-size=8
// The V8 flag keeps the young generation at 2 x 8 MB instead of 2 x 16 MB: a busy agent makes
// short-lived garbage only, so this saves ~25 MB RSS at 1,000 checks for little CPU. The
// same flags are in package.json's start script, the Dockerfile and the benchmark.
import os from 'node:os';
import pino from 'pino';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { Agent } from './agent';
import { loadOrExit, NO_CHECKS_WARNING, resolveConfigPath, validateCommand } from './cli-config';
import { statusCommand } from './cli-status';
import { formatColumns } from './cli-table';
import { expandChecks, loadConfigFileAsync } from './config/load';
import { configJsonSchema, parseListen } from './config/schema';
import { Status } from './evaluate';
import { createLogger, setSecrets, type Logger } from './logger';
import { Metrics } from './metrics';
import { INCIDENT_STATES, type CheckConfig, type CheckResult } from './model';
import { packageVersion } from './paths';
import { installProcessGuard } from './process-guard';
import { runCheckOnce } from './runner';
import { AgentServer } from './server';
import { Store, StoreError } from './store/store';

// libuv's default of 4 worker threads serves every file read, DNS lookup and statfs; a few
// hung calls (a dead NFS mount, a silent resolver) would stall every other check. Must be
// set before the pool's first use, which is after this module loads.
process.env.UV_THREADPOOL_SIZE ??= '16';

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** The log level from --log-level or $KEEPWATCH_LOG_LEVEL; exits on a level pino doesn't know. */
function levelOverride(flag?: string): string | undefined {
  const level = flag ?? (process.env.KEEPWATCH_LOG_LEVEL || undefined);
  if (level !== undefined && !LOG_LEVELS.includes(level)) {
    process.stderr.write(`KEEPWATCH_LOG_LEVEL: unknown level "${level}" (valid: ${LOG_LEVELS.join(', ')})\n`);
    process.exit(1);
  }
  return level;
}

/**
 * Longest a clean stop may take before the process exits anyway: check timeouts, remediation
 * and delivery aborts add up, and Kubernetes sends SIGKILL at 30 s.
 */
const STOP_DEADLINE_MS = 25_000;

async function runCommand(argv: { config?: string; listen?: string; 'log-level'?: string }): Promise<void> {
  const file = resolveConfigPath(argv.config);
  const level = levelOverride(argv['log-level']);
  const log = createLogger({ level: level ?? 'info' });
  let agent: Agent | undefined;
  let server: AgentServer | undefined;
  const stopHooks: Array<() => void> = [];
  // Handlers first: a SIGHUP during start-up must not kill the daemon (its default action).
  // A monitoring agent that dies stops watching: what a check lets escape only ends its run.
  const guard = installProcessGuard(log);
  process.on('SIGHUP', () => {
    if (!agent) return void log.warn('SIGHUP during start-up ignored');
    log.info({ config: file }, 'SIGHUP: reloading config');
    void agent.reload();
  });
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'stopping');
    setTimeout(() => {
      log.error({ deadlineMs: STOP_DEADLINE_MS }, 'stop took too long; exiting');
      process.exit(1);
    }, STOP_DEADLINE_MS).unref();
    void Promise.all([server?.close(), agent?.stop()]).then(() => {
      for (const hook of stopHooks) hook();
      log.info('stopped');
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  const config = loadOrExit(file, 1, log);
  if (!config.checks.length) log.warn({ config: file }, NO_CHECKS_WARNING);
  setSecrets(config.secrets);
  let store: Store;
  try {
    store = Store.open(config.agent.dataDir);
  } catch (err) {
    if (!(err instanceof StoreError)) throw err;
    process.stderr.write(`${err.message}\n`);
    log.fatal({ dataDir: config.agent.dataDir, error: err.message }, 'store unavailable; not starting');
    process.exit(1);
  }
  stopHooks.push(() => store.close());
  const metrics = new Metrics({ version: packageVersion() });
  guard.attach((source, kind) => metrics.recordStrayError(source, kind));
  agent = await Agent.create(config, { log, metrics, loadConfig: () => loadConfigFileAsync(file, { requireChecks: true }), logLevel: level, store });
  server = new AgentServer(agent, log);
  const { host, port } = parseListen(argv.listen ?? config.agent.listen);
  try {
    const addr = await server.listen(host, port);
    log.info({ address: `${addr.address}:${addr.port}`, config: file, version: packageVersion() }, 'listening');
  } catch (err) {
    log.fatal({ err, listen: `${host}:${port}` }, 'cannot listen; is another agent running, or set agent.listen / --listen');
    process.exit(1);
  }
  agent.start();
}

/** Severity order for the exit code of `keepwatch check`: critical is worst, then unknown, then warning. */
const RANK: Record<Status, number> = { [Status.Ok]: 0, [Status.Warning]: 1, [Status.Unknown]: 2, [Status.Critical]: 3 };

/** The worst status among results (ok for none). */
export function worstStatus(statuses: Status[]): Status {
  return statuses.reduce((w, s) => (RANK[s] > RANK[w] ? s : w), Status.Ok);
}

/** Picks the checks a `keepwatch check NAME…` asked for; a name also selects its expansions (`disk` → `disk:/`, `disk:/boot`). */
export function selectChecks(all: CheckConfig[], names: string[]): { selected: CheckConfig[]; unknown: string[] } {
  if (!names.length) return { selected: all.filter((c) => c.enabled), unknown: [] };
  const unknown: string[] = [];
  const selected: CheckConfig[] = [];
  for (const n of names) {
    const hits = all.filter((c) => c.name === n || c.name.startsWith(`${n}:`));
    if (!hits.length) unknown.push(n);
    for (const h of hits) if (!selected.includes(h)) selected.push(h);
  }
  return { selected, unknown };
}

/** Renders results as an aligned table. */
export function formatTable(results: CheckResult[]): string {
  const rows = [['STATUS', 'CHECK', 'TYPE', 'TIME', 'MESSAGE']];
  for (const r of results) {
    rows.push([r.statusText.toUpperCase(), r.check, r.type, `${Math.round(r.durationMs)}ms`, r.message]);
  }
  return formatColumns(rows);
}

async function checkCommand(argv: { config?: string; names: string[]; json?: boolean }): Promise<void> {
  const file = resolveConfigPath(argv.config);
  const config = loadOrExit(file, Status.Unknown);
  setSecrets(config.secrets);
  const log = createLogger({ level: levelOverride() ?? 'warn', destination: pino.destination(2) });
  installProcessGuard(log);
  let all: CheckConfig[];
  try {
    all = await expandChecks(config.checks);
  } catch (err) {
    process.stderr.write(`cannot expand checks: ${(err as Error).message}\n`);
    process.exit(Status.Unknown);
  }
  const { selected, unknown } = selectChecks(all, argv.names);
  if (unknown.length) {
    process.stderr.write(`no such check: ${unknown.join(', ')} (checks: ${all.map((c) => c.name).join(', ')})\n`);
    process.exit(Status.Unknown);
  }
  const results = await runAll(selected, config.agent.concurrency, log);
  const code = worstStatus(results.map((r) => r.status));
  // Exit explicitly: a check abandoned at its timeout may still hold a socket open.
  process.stdout.write(argv.json ? `${JSON.stringify(results, null, 2)}\n` : `${formatTable(results)}\n`, () => process.exit(code));
}

async function runAll(checks: CheckConfig[], concurrency: number, log: Logger): Promise<CheckResult[]> {
  const results: CheckResult[] = new Array(checks.length);
  let next = 0;
  const worker = async () => {
    while (next < checks.length) {
      const i = next++;
      results[i] = await runCheckOnce(checks[i], { log });
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, checks.length) }, worker));
  return results;
}

/** Talks to a running agent's API: `--url` (or $KEEPWATCH_URL), token from $KEEPWATCH_TOKEN. */
async function api(url: string, method: string, path: string, body?: unknown): Promise<any> {
  const token = process.env.KEEPWATCH_TOKEN;
  let res: Response;
  try {
    res = await fetch(new URL(path, url), {
      signal: AbortSignal.timeout(30_000),
      method,
      headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    fail(`cannot reach the agent at ${url}: ${(err as { cause?: Error }).cause?.message ?? (err as Error).message} (is it running? set --url or KEEPWATCH_URL)`);
  }
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    fail(`${method} ${path}: HTTP ${res.status}: ${text.slice(0, 200)}`);
  }
  if (!res.ok) fail(`${method} ${path}: HTTP ${res.status}: ${json.error ?? text}${res.status === 401 || res.status === 403 ? ' (set KEEPWATCH_TOKEN)' : ''}`);
  return json;
}

/** Who runs the CLI, for ack/resolve/silence records (containers may have no passwd entry). */
function whoami(): string {
  try {
    return os.userInfo().username;
  } catch {
    return process.env.USER ?? 'cli';
  }
}

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

const when = (iso?: string) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-');

async function incidentsCommand(argv: { action: string; id?: number; url: string; state?: string; check?: string; by?: string; comment?: string; json?: boolean }): Promise<void> {
  const print = (text: string, data: unknown): void => void process.stdout.write(argv.json ? `${JSON.stringify(data, null, 2)}\n` : `${text}\n`);
  if (argv.action === 'list') {
    const q = new URLSearchParams();
    if (argv.state) q.set('state', argv.state);
    if (argv.check) q.set('check', argv.check);
    const { incidents } = await api(argv.url, 'GET', `/api/v1/incidents${q.size ? `?${q}` : ''}`);
    const rows = [['ID', 'STATE', 'SEVERITY', 'CHECK', 'TIER', 'OPENED', 'SUMMARY']];
    for (const i of incidents) rows.push([String(i.id), i.state + (i.flapping ? ' (flapping)' : ''), i.severity, i.check, i.tier ?? '-', when(i.openedAt), i.summary]);
    return print(incidents.length ? formatColumns(rows) : 'no incidents', incidents);
  }
  if (argv.id === undefined) fail(`incidents ${argv.action} needs an incident id`);
  if (argv.action === 'show') {
    const i = await api(argv.url, 'GET', `/api/v1/incidents/${argv.id}`);
    const fields = [
      ['summary:', i.summary],
      ['opened:', `${when(i.openedAt)}   tier: ${i.tier ?? '-'}`],
      ['acked:', `${when(i.acknowledgedAt)}${i.acknowledgedBy ? ` by ${i.acknowledgedBy}` : ''}`],
      ['resolved:', `${when(i.resolvedAt)}${i.resolvedBy ? ` by ${i.resolvedBy}` : ''}${i.resolution ? ` (${i.resolution})` : ''}`],
      ['sla:', `respond by ${when(i.sla.respondDue)}${i.sla.respondBreached ? ' BREACHED' : ''}, resolve by ${when(i.sla.resolveDue)}${i.sla.resolveBreached ? ' BREACHED' : ''} (${i.sla.coverage})`],
    ];
    const timeline = i.timeline.map((t: { at: string; kind: string; message: string }) => [when(t.at), t.kind, t.message]);
    const lines = [
      `incident ${i.id}: ${i.severity} ${i.state}${i.flapping ? ' (flapping)' : ''} — ${i.check} (${i.type})`,
      formatColumns(fields, { gap: ' ' }),
      'timeline:',
      ...(timeline.length ? [formatColumns(timeline, { indent: '  ' })] : []),
    ];
    return print(lines.join('\n'), i);
  }
  const i = await api(argv.url, 'POST', `/api/v1/incidents/${argv.id}/${argv.action}`, { by: argv.by ?? whoami(), comment: argv.comment });
  print(`incident ${i.id} ${i.state}`, i);
}

async function silenceCommand(argv: { action: string; id?: string; url: string; check?: string[]; label?: string[]; for?: string; comment?: string; by?: string; all?: boolean; json?: boolean }): Promise<void> {
  const print = (text: string, data: unknown): void => void process.stdout.write(argv.json ? `${JSON.stringify(data, null, 2)}\n` : `${text}\n`);
  if (argv.action === 'list') {
    const { silences } = await api(argv.url, 'GET', `/api/v1/silences${argv.all ? '?all=true' : ''}`);
    const rows = [['ID', 'CHECKS', 'UNTIL', 'BY', 'COMMENT']];
    for (const s of silences) rows.push([s.id, s.checks.join(','), when(s.endsAt), s.createdBy, s.comment]);
    return print(silences.length ? formatColumns(rows) : 'no silences', silences);
  }
  if (argv.action === 'delete') {
    if (!argv.id) fail('silence delete needs a silence id');
    const r = await api(argv.url, 'DELETE', `/api/v1/silences/${encodeURIComponent(argv.id)}`);
    return print(`silence ${r.id} expired`, r);
  }
  if (!argv.check?.length) fail('silence needs --check NAME (a name or glob; repeat for several)');
  if (!argv.comment) fail('silence needs --comment saying why');
  const labels = Object.fromEntries((argv.label ?? []).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  const bad = (argv.label ?? []).find((l) => l.indexOf('=') < 1);
  if (bad) fail(`--label ${bad}: expected name=value`);
  const s = await api(argv.url, 'POST', '/api/v1/silences', {
    checks: argv.check,
    labels,
    for: argv.for ?? '1h',
    comment: argv.comment,
    createdBy: argv.by ?? whoami(),
  });
  print(`silence ${s.id}: ${s.checks.join(', ')} until ${when(s.endsAt)}`, s);
}

/** Builds the `keepwatch` command line. */
export function buildCli(args: string[]) {
  const urlOption = {
    type: 'string',
    default: process.env.KEEPWATCH_URL ?? 'http://127.0.0.1:9470',
    describe: 'The agent to talk to ($KEEPWATCH_URL)',
  } as const;
  const configOption = {
    type: 'string',
    describe: 'Config file (default: $KEEPWATCH_CONFIG, else ./keepwatch.yaml, else the embedded default)',
  } as const;
  return yargs(args)
    .scriptName('keepwatch')
    .usage('$0 <command> [options]\n\nProactive monitoring agent: runs checks on schedules, serves Prometheus metrics.')
    .command(
      'run',
      'Run the agent: schedule checks, serve /metrics, /healthz, /readyz and the API. SIGHUP reloads the config.',
      (y) =>
        y
          .option('config', configOption)
          .option('listen', { type: 'string', describe: 'Listen address host:port (overrides agent.listen)' })
          .option('log-level', {
            type: 'string',
            choices: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'],
            describe: 'Log level (overrides agent.logLevel and $KEEPWATCH_LOG_LEVEL)',
          }),
      (argv) => runCommand(argv),
    )
    .command(
      'check [names..]',
      'Run checks once, print a table and exit with the worst status: 0 ok, 1 warning, 2 critical, 3 unknown (critical outranks unknown, unknown outranks warning).',
      (y) =>
        y
          .positional('names', { type: 'string', array: true, default: [] as string[], describe: 'Checks to run (default: all); a name also selects its expansions' })
          .option('config', configOption)
          .option('json', { type: 'boolean', default: false, describe: 'Print results as JSON instead of a table' }),
      (argv) => checkCommand({ config: argv.config, names: argv.names as string[], json: argv.json }),
    )
    .command(
      'validate',
      'Check the config without running anything: exit 0, or 1 with every error as file:line:col: path: message.',
      (y) => y.option('config', configOption),
      (argv) => validateCommand(argv),
    )
    .command(
      'incidents [action] [id]',
      'List, show, acknowledge or resolve incidents of a running agent (token from $KEEPWATCH_TOKEN).',
      (y) =>
        y
          .positional('action', { choices: ['list', 'show', 'ack', 'resolve'] as const, default: 'list', describe: 'What to do' })
          .positional('id', { type: 'number', describe: 'Incident id (show, ack, resolve)' })
          .option('url', urlOption)
          .option('state', { choices: INCIDENT_STATES, describe: 'list: only incidents in this state' })
          .option('check', { type: 'string', describe: 'list: only incidents of this check' })
          .option('by', { type: 'string', describe: 'ack/resolve: who (default: your user name)' })
          .option('comment', { type: 'string', describe: 'ack/resolve: a note for the timeline' })
          .option('json', { type: 'boolean', default: false, describe: 'Print the API answer as JSON' }),
      (argv) => incidentsCommand(argv as never),
    )
    .command(
      'silence [action] [id]',
      'Silence checks for a while (no incident opens or pages), or list/delete silences, on a running agent.',
      (y) =>
        y
          .positional('action', { choices: ['create', 'list', 'delete'] as const, default: 'create', describe: 'What to do' })
          .positional('id', { type: 'string', describe: 'Silence id (delete)' })
          .option('url', urlOption)
          .option('check', { type: 'string', array: true, describe: 'create: check name or glob (repeatable)' })
          .option('label', { type: 'string', array: true, describe: 'create: only checks with this label, k=v (repeatable)' })
          .option('for', { type: 'string', describe: 'create: how long, e.g. 30m, 2h (default 1h)' })
          .option('comment', { type: 'string', describe: 'create: why (required)' })
          .option('by', { type: 'string', describe: 'create: who (default: your user name)' })
          .option('all', { type: 'boolean', default: false, describe: 'list: include ended silences' })
          .option('json', { type: 'boolean', default: false, describe: 'Print the API answer as JSON' }),
      (argv) => silenceCommand(argv as never),
    )
    .command(statusCommand(urlOption))
    .command(
      'schema',
      'Print the JSON Schema of the config file (for editors and CI).',
      (y) => y,
      () => {
        process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
      },
    )
    .demandCommand(1, 'Name a command: run, check, validate, incidents, silence or schema.')
    .strict()
    .help()
    .alias('h', 'help')
    .version(packageVersion())
    .wrap(Math.min(110, process.stdout.columns ?? 110));
}

if (require.main === module) {
  void buildCli(hideBin(process.argv)).parseAsync();
}
