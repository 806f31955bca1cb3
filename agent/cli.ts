#!/usr/bin/env -S node --max-semi-space-size=8
// The V8 flag keeps the young generation at 2 x 8 MB instead of 2 x 16 MB: a busy agent makes
// short-lived garbage only, so this saves ~25 MB RSS at 1,000 checks for little CPU. The
// same flags are in package.json's start script, the Dockerfile and the benchmark.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { Agent } from './agent';
import { auditCommand } from './cli-audit';
import { agentUrl, incidentId } from './cli-api';
import { baselineCommand } from './cli-baseline';
import { costCommand } from './cli-cost';
import { loadOrExit, NO_CHECKS_WARNING, resolveConfigPath, validateCommand } from './cli-config';
import { exitQuietlyOnClosedPipes, onCliFailure } from './cli-errors';
import { incidentsCommand, silenceCommand } from './cli-incidents';
import { pushCommand } from './cli-push';
import { statusCommand } from './cli-status';
import { levelOverride, logOutput, oneShot } from './cli-oneshot';
import { formatColumns } from './cli-table';
import { LOG_FORMATS } from './log-pretty';
import { loadConfigFileAsync } from './config/load';
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

export { logOutput } from './cli-oneshot';

/** Why the listener could not start, in words (`address already in use`), else the system's message. */
function listenFailure(err: NodeJS.ErrnoException): string {
  const words: Record<string, string> = {
    EADDRINUSE: 'address already in use (is another agent running? set agent.listen or --listen)',
    EACCES: 'permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)',
    EADDRNOTAVAIL: 'this host has no such address',
    ENOTFOUND: 'unknown host name',
  };
  return words[err.code ?? ''] ?? err.message;
}

/**
 * A start-up failure that is not in the config (port taken, store locked, data directory not
 * writable): one plain line on stderr as config errors have, the fatal record in the log, exit 1.
 */
function cannotStart(log: Logger, message: string, fields: Record<string, unknown>): never {
  process.stderr.write(`keepwatch: ${message}\n`);
  log.fatal({ ...fields, error: message }, 'cannot start');
  process.exit(1);
}

/**
 * Longest a clean stop may take before the process exits anyway: check timeouts, remediation
 * and delivery aborts add up, and Kubernetes sends SIGKILL at 30 s.
 */
const STOP_DEADLINE_MS = 25_000;

async function runCommand(argv: { config?: string; listen?: string; 'log-level'?: string; 'log-format'?: string }): Promise<void> {
  const file = resolveConfigPath(argv.config);
  const level = levelOverride(argv['log-level']);
  const log = createLogger({ level: level ?? 'info', ...logOutput(argv['log-format'], 1) });
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
    cannotStart(log, err.message, { dataDir: config.agent.dataDir });
  }
  stopHooks.push(() => store.close());
  const metrics = new Metrics({ version: packageVersion() });
  guard.attach((source, kind) => metrics.recordStrayError(source, kind));
  try {
    agent = await Agent.create(config, { log, metrics, loadConfig: () => loadConfigFileAsync(file, { requireChecks: true }), logLevel: level, store });
  } catch (err) {
    cannotStart(log, `cannot start the checks: ${(err as Error).message}`, { err });
  }
  server = new AgentServer(agent, log);
  const { host, port } = parseListen(argv.listen ?? config.agent.listen);
  try {
    const addr = await server.listen(host, port);
    log.info({ address: `${addr.address}:${addr.port}`, config: file, version: packageVersion() }, 'listening');
  } catch (err) {
    cannotStart(log, `cannot listen on ${host}:${port}: ${listenFailure(err as NodeJS.ErrnoException)}`, { listen: `${host}:${port}`, code: (err as NodeJS.ErrnoException).code });
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
  const { config, log, checks: all } = await oneShot(argv.config);
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

/** `--config`'s value: a file name; empty (an unset variable in a script) or given twice is a usage error. */
function configFlag(value: unknown): string | undefined {
  if (Array.isArray(value)) throw new Error(`--config is given ${value.length} times; give one file`);
  if (typeof value === 'string' && !value.trim()) throw new Error('--config needs a file name, and it was empty (is the variable that should hold it unset?); leave --config out to use $KEEPWATCH_CONFIG, ./keepwatch.yaml or the embedded default');
  return value as string | undefined;
}

/** `--listen`'s value, checked now so that a bad one is a usage error, not a crash at start-up. */
function listenFlag(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value) || !String(value).trim()) throw new Error('--listen needs one address, e.g. 127.0.0.1:9470');
  try {
    parseListen(String(value));
  } catch (err) {
    throw new Error(`--listen: ${(err as Error).message}`);
  }
  return String(value);
}

/** Builds the `keepwatch` command line. */
export function buildCli(args: string[]) {
  const urlOption = {
    type: 'string',
    default: process.env.KEEPWATCH_URL || 'http://127.0.0.1:9470',
    describe: 'The agent to talk to ($KEEPWATCH_URL); http:// is assumed when no scheme is given',
    coerce: agentUrl,
  } as const;
  const configOption = {
    type: 'string',
    describe: 'Config file (default: $KEEPWATCH_CONFIG, else ./keepwatch.yaml, else the embedded default)',
    coerce: configFlag,
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
          .option('listen', { type: 'string', describe: 'Listen address host:port, or a bare port for every interface (overrides agent.listen)', coerce: listenFlag })
          .option('log-level', {
            type: 'string',
            choices: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'],
            describe: 'Log level (overrides agent.logLevel and $KEEPWATCH_LOG_LEVEL)',
          })
          .option('log-format', {
            type: 'string',
            choices: LOG_FORMATS,
            describe: 'Log format: json lines, or pretty (one readable line per record) (default: $KEEPWATCH_LOG_FORMAT, else pretty on a terminal, else json)',
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
      'Check the config without running anything: exit 0, or 1 with every error as file:line:col: path: message. An unset ${VAR} is a warning (CI has no production secrets); run, check and reload refuse it.',
      (y) =>
        y
          .option('config', configOption)
          .option('strict', { type: 'boolean', default: false, describe: 'Fail on warnings too (an unset ${VAR}, a config without checks)' }),
      (argv) => validateCommand(argv),
    )
    .command(
      'incidents [action] [id]',
      'List, show, acknowledge or resolve incidents of a running agent (token from $KEEPWATCH_TOKEN).',
      (y) =>
        y
          .positional('action', { choices: ['list', 'show', 'ack', 'resolve'] as const, default: 'list', describe: 'What to do' })
          .positional('id', { type: 'string', describe: 'Incident id, a positive integer (show, ack, resolve)', coerce: incidentId })
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
          .positional('id', { type: 'string', describe: 'Silence id, or any unique start of it (delete)' })
          .option('url', urlOption)
          .option('check', { type: 'string', array: true, describe: 'create: check name or glob (repeatable)' })
          .option('label', { type: 'string', array: true, describe: 'create: only checks with this label, k=v (repeatable)' })
          .option('for', { type: 'string', describe: 'create: how long, e.g. 30m, 2h (default 1h)' })
          .option('comment', { type: 'string', describe: 'create: why (required)' })
          .option('by', { type: 'string', describe: 'create: who (default: your user name)' })
          .option('force', { type: 'boolean', default: false, describe: 'create: even when no configured check matches (a check about to be added)' })
          .option('all', { type: 'boolean', default: false, describe: 'list: include ended silences' })
          .option('json', { type: 'boolean', default: false, describe: 'Print the API answer as JSON' }),
      (argv) => silenceCommand(argv as never),
    )
    .command(statusCommand(urlOption))
    .command(baselineCommand(urlOption))
    .command(pushCommand(urlOption))
    .command(auditCommand(configOption, { selectChecks, worstStatus, runAll }))
    .command(costCommand(configOption))
    .command(
      'schema',
      'Print the JSON Schema of the config file (for editors and CI).',
      (y) => y,
      () => {
        process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
      },
    )
    .demandCommand(1, 'Name a command: run, check, validate, status, audit, cost, incidents, silence, baseline, push or schema.')
    .strict()
    .fail(onCliFailure)
    .help()
    .alias('h', 'help')
    .version(packageVersion())
    .wrap(Math.min(110, process.stdout.columns ?? 110));
}

if (require.main === module) {
  exitQuietlyOnClosedPipes();
  void buildCli(hideBin(process.argv)).parseAsync();
}
