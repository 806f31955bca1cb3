#!/usr/bin/env -S node --max-semi-space-size=8
// The V8 flag keeps the young generation at 2 x 8 MB instead of 2 x 16 MB: a busy agent makes
// short-lived garbage only, so this saves ~25 MB RSS at 1,000 checks for little CPU. The
// same flags are in package.json's start script, the Dockerfile and the benchmark.
import fs from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { Agent } from './agent';
import { expandChecks, loadConfigFile, type CheckConfig, type Config } from './config/load';
import { configJsonSchema, parseListen } from './config/schema';
import { ConfigError, formatProblem } from './errors';
import { Status } from './evaluate';
import { createLogger, setSecrets, type Logger } from './logger';
import { Metrics } from './metrics';
import { defaultConfigPath, packageVersion } from './paths';
import { runCheckOnce, type CheckResult } from './runner';
import { AgentServer } from './server';

// libuv's default of 4 worker threads serves every file read, DNS lookup and statfs; a few
// hung calls (a dead NFS mount, a silent resolver) would stall every other check. Must be
// set before the pool's first use, which is after this module loads.
process.env.UV_THREADPOOL_SIZE ??= '16';

/**
 * Which config file to use: --config, else $KEEPWATCH_CONFIG, else ./keepwatch.yaml,
 * else the embedded default that watches this machine.
 */
export function resolveConfigPath(flag?: string, env = process.env, cwd = process.cwd()): string {
  if (flag) return path.resolve(cwd, flag);
  if (env.KEEPWATCH_CONFIG) return path.resolve(cwd, env.KEEPWATCH_CONFIG);
  const local = path.join(cwd, 'keepwatch.yaml');
  return fs.existsSync(local) ? local : defaultConfigPath();
}

/** Loads the config, or prints every problem to stderr (and the log, when given) and exits. */
function loadOrExit(file: string, exitCode: number, log?: Logger): Config {
  try {
    return loadConfigFile(file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const p of err.problems) process.stderr.write(`${formatProblem(p)}\n`);
    log?.fatal({ file, errors: err.problems.length }, 'config invalid; not starting');
    process.exit(exitCode);
  }
}

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

/** Longest a clean stop may take before the process exits anyway (Kubernetes kills at 30 s). */
const STOP_DEADLINE_MS = 10_000;

async function runCommand(argv: { config?: string; listen?: string; 'log-level'?: string }): Promise<void> {
  const file = resolveConfigPath(argv.config);
  const level = levelOverride(argv['log-level']);
  const log = createLogger({ level: level ?? 'info' });
  let agent: Agent | undefined;
  let server: AgentServer | undefined;
  // Handlers first: a SIGHUP during start-up must not kill the daemon (its default action).
  // A monitoring agent that dies stops watching: a stray rejection is logged, not fatal.
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled promise rejection (a bug; please report it)'));
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
      log.info('stopped');
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  const config = loadOrExit(file, 1, log);
  setSecrets(config.secrets);
  const metrics = new Metrics({ version: packageVersion() });
  agent = await Agent.create(config, { log, metrics, loadConfig: () => loadConfigFile(file), logLevel: level });
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
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ')).join('\n');
}

async function checkCommand(argv: { config?: string; names: string[]; json?: boolean }): Promise<void> {
  const file = resolveConfigPath(argv.config);
  const config = loadOrExit(file, Status.Unknown);
  setSecrets(config.secrets);
  const log = createLogger({ level: levelOverride() ?? 'warn', destination: pino.destination(2) });
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

function validateCommand(argv: { config?: string }): void {
  const file = resolveConfigPath(argv.config);
  const config = loadOrExit(file, 1);
  const n = config.checks.length;
  process.stdout.write(`${file}: ok (${n} check${n === 1 ? '' : 's'})\n`);
}

/** Builds the `keepwatch` command line. */
export function buildCli(args: string[]) {
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
      'schema',
      'Print the JSON Schema of the config file (for editors and CI).',
      (y) => y,
      () => {
        process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
      },
    )
    .demandCommand(1, 'Name a command: run, check, validate or schema.')
    .strict()
    .help()
    .alias('h', 'help')
    .version(packageVersion())
    .wrap(Math.min(110, process.stdout.columns ?? 110));
}

if (require.main === module) {
  void buildCli(hideBin(process.argv)).parseAsync();
}
