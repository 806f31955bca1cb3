import fs from 'node:fs';
import path from 'node:path';
import { checkConfigFile, loadConfigFile, type Config } from './config/load';
import { ConfigError, formatProblem, formatWarning } from './errors';
import type { Logger } from './logger';
import { defaultConfigPath } from './paths';

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

/** What start and `validate` say of a config without checks (a reload refuses one). */
export const NO_CHECKS_WARNING = 'no checks configured: the agent watches nothing, and a reload to a config without checks is refused';

/**
 * Loads the config, or prints every problem to stderr (and the log, when given) and exits.
 * A config without checks loads, with a warning on stderr (the caller logs it too).
 */
export function loadOrExit(file: string, exitCode: number, log?: Logger): Config {
  let config: Config;
  try {
    config = loadConfigFile(file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const p of err.problems) process.stderr.write(`${formatProblem(p)}\n`);
    log?.fatal({ file, errors: err.problems.length }, 'config invalid; not starting');
    process.exit(exitCode);
  }
  if (!config.checks.length) process.stderr.write(`${file}: warning: ${NO_CHECKS_WARNING}\n`);
  return config;
}

/**
 * `keepwatch validate`: exit 0 with a one-line summary, or 1 with every problem located.
 * Warnings (an unset `${VAR}`, no checks) do not fail it: CI validates configs without the
 * production secrets. With `strict` they are errors.
 */
export function validateCommand(argv: { config?: string; strict?: boolean }): void {
  const file = resolveConfigPath(argv.config);
  const report = checkConfigFile(file);
  const warnings = report.warnings.map(argv.strict ? formatProblem : formatWarning);
  if (!report.problems.length && !report.checks) warnings.push(`${file}: ${argv.strict ? '' : 'warning: '}${NO_CHECKS_WARNING}`);
  const errors = [...(argv.strict ? warnings : []), ...report.problems.map(formatProblem)];
  if (!argv.strict) for (const w of warnings) process.stderr.write(`${w}\n`);
  for (const e of errors) process.stderr.write(`${e}\n`);
  if (errors.length) process.exit(1);
  const n = report.checks;
  process.stdout.write(`${file}: ok (${n} check${n === 1 ? '' : 's'})\n`);
}
