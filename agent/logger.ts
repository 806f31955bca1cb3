import pino, { type DestinationStream, type Logger } from 'pino';
import { prettyStream, type LogFormat } from './log-pretty';
import { scrub } from './secrets';

export { setSecrets } from './secrets';

export type { Logger } from 'pino';

/** Field paths redacted wherever they appear in a log object (pino's `redact`). */
const REDACT_PATHS = [
  'token', '*.token', 'readToken', '*.readToken', 'password', '*.password', 'secret', '*.secret',
  'authorization', '*.authorization', 'headers.authorization', 'headers.Authorization', '*.headers.authorization',
  '*.headers.Authorization', 'api.token', 'api.readToken', 'config.api.token', 'config.api.readToken',
];

const REDACTED = '[REDACTED]';

export interface LoggerOptions {
  level?: string;
  /** Where lines go (default stdout); tests pass a stream to read them back. */
  destination?: DestinationStream;
  /** `json` (default) or `pretty`: one readable line per record, redacted the same. */
  format?: LogFormat;
  /** Pretty only: colour the level (the destination is a terminal). */
  color?: boolean;
}

/** The one root logger: JSON lines (or pretty ones), secrets redacted by path and scrubbed by value. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const destination = opts.destination ?? pino.destination({ dest: 1, sync: true });
  return pino(
    {
      level: opts.level ?? process.env.KEEPWATCH_LOG_LEVEL ?? 'info',
      base: { pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: REDACTED },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      hooks: { streamWrite: scrub },
    },
    opts.format === 'pretty' ? prettyStream(destination, opts.color) : destination,
  );
}
