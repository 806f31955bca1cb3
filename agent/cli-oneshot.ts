/**
 * What the one-shot commands (check, audit, cost) start from, and the log settings every
 * command shares: the config (exit 3 when it is bad), a logger on stderr, the expanded checks.
 */
import tty from 'node:tty';
import pino from 'pino';
import { loadOrExit, resolveConfigPath } from './cli-config';
import { usageError } from './cli-errors';
import { expandChecks, type Config } from './config/load';
import { Status } from './evaluate';
import { LOG_FORMATS, type LogFormat } from './log-pretty';
import { createLogger, setSecrets, type Logger } from './logger';
import type { CheckConfig } from './model';
import { installProcessGuard } from './process-guard';

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** The log level from --log-level or $KEEPWATCH_LOG_LEVEL; a usage error for a level pino doesn't know. */
export function levelOverride(flag?: string): string | undefined {
  const level = flag ?? (process.env.KEEPWATCH_LOG_LEVEL || undefined);
  if (level !== undefined && !LOG_LEVELS.includes(level)) usageError(`KEEPWATCH_LOG_LEVEL: unknown level "${level}" (valid: ${LOG_LEVELS.join(', ')})`);
  return level;
}

/**
 * The log format from --log-format, else $KEEPWATCH_LOG_FORMAT, else pretty when the log's
 * file descriptor is a terminal (a person watching) and JSON otherwise (a collector reading);
 * colour only on a terminal without $NO_COLOR. A usage error for an unknown format.
 */
export function logOutput(flag: string | undefined, fd: number, env = process.env, isTty = tty.isatty): { format: LogFormat; color: boolean } {
  const format = flag ?? (env.KEEPWATCH_LOG_FORMAT || undefined);
  if (format !== undefined && !LOG_FORMATS.includes(format as LogFormat)) usageError(`KEEPWATCH_LOG_FORMAT: unknown format "${format}" (valid: ${LOG_FORMATS.join(', ')})`);
  const terminal = isTty(fd);
  return { format: (format as LogFormat | undefined) ?? (terminal ? 'pretty' : 'json'), color: terminal && !env.NO_COLOR };
}

/**
 * Loads the config (exit 3 with the problems when it is bad), logs to stderr (warn unless
 * $KEEPWATCH_LOG_LEVEL says otherwise) and expands the checks (exit 3 when that fails).
 */
export async function oneShot(configFlag: string | undefined): Promise<{ config: Config; log: Logger; checks: CheckConfig[] }> {
  const config = loadOrExit(resolveConfigPath(configFlag), Status.Unknown);
  setSecrets(config.secrets);
  const log = createLogger({ level: levelOverride() ?? 'warn', destination: pino.destination(2), ...logOutput(undefined, 2) });
  installProcessGuard(log);
  try {
    return { config, log, checks: await expandChecks(config.checks) };
  } catch (err) {
    process.stderr.write(`cannot expand checks: ${(err as Error).message}\n`);
    process.exit(Status.Unknown);
  }
}
