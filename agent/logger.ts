import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Field paths redacted wherever they appear in a log object (pino's `redact`). */
const REDACT_PATHS = [
  'token', '*.token', 'readToken', '*.readToken', 'password', '*.password', 'secret', '*.secret',
  'authorization', '*.authorization', 'headers.authorization', 'headers.Authorization', '*.headers.authorization',
  '*.headers.Authorization', 'api.token', 'api.readToken', 'config.api.token', 'config.api.readToken',
];

const REDACTED = '[REDACTED]';

/**
 * Secret values currently known (from the loaded config). Every log line is scrubbed of them
 * just before it is written, so a token can't leak through an error message or a URL either.
 */
const secrets = { list: [] as string[] };

/** Tells the logger which values to scrub; called whenever a config is loaded. */
export function setSecrets(values: Iterable<string>): void {
  // Longest first, so a secret that contains another is replaced whole. Very short values
  // would scrub ordinary words, and JSON-escaping is applied so quotes in secrets still match.
  secrets.list = [...new Set(values)]
    .filter((v) => v.length >= 4)
    .flatMap((v) => [v, JSON.stringify(v).slice(1, -1)])
    .sort((a, b) => b.length - a.length);
}

function scrub(line: string): string {
  let out = line;
  for (const s of secrets.list) if (out.includes(s)) out = out.split(s).join(REDACTED);
  return out;
}

export interface LoggerOptions {
  level?: string;
  /** Where lines go (default stdout); tests pass a stream to read them back. */
  destination?: DestinationStream;
}

/** The one root logger: JSON lines, secrets redacted by path and scrubbed by value. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  return pino(
    {
      level: opts.level ?? process.env.KEEPWATCH_LOG_LEVEL ?? 'info',
      base: { pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: REDACTED },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      hooks: { streamWrite: scrub },
    },
    opts.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}
