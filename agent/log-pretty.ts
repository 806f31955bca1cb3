import type { DestinationStream } from 'pino';

/** The log formats: JSON lines for machines, one readable line per record for people. */
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Fields every record has, shown in the line's head (time, level, message) or not at all (pid). */
const HEAD = new Set(['time', 'level', 'msg', 'pid', 'hostname']);

const COLORS: Record<string, string> = { trace: '90', debug: '36', info: '32', warn: '33', error: '31', fatal: '35' };

/** A value as `key=value` shows it: bare when it has no blank, quote or `=`, else JSON. */
function show(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value) ?? String(value);
}

/**
 * One pino JSON record as a line people read: time, level, message, then `key=value` fields;
 * an error (pino's `err`) as its message in the line and its stack indented below it.
 * The record arrives redacted and scrubbed (pino's `redact` and `streamWrite` run first), so
 * both formats hide the same secrets. A line that is not JSON passes through unchanged.
 */
export function prettyRecord(line: string, color = false): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line);
  } catch {
    return line;
  }
  const level = String(rec.level ?? '');
  const paint = (text: string) => (color && COLORS[level] ? `\x1b[${COLORS[level]}m${text}\x1b[0m` : text);
  const time = typeof rec.time === 'string' ? rec.time.replace('T', ' ') : String(rec.time ?? '');
  const fields: string[] = [];
  let stack = '';
  for (const [key, value] of Object.entries(rec)) {
    if (HEAD.has(key) || value === undefined) continue;
    const err = value as { message?: unknown; stack?: unknown } | null;
    if (key === 'err' && err && typeof err === 'object') {
      fields.push(`err=${show(err.message ?? '')}`);
      if (typeof err.stack === 'string') stack = err.stack.split('\n').map((l) => `    ${l}`).join('\n');
      continue;
    }
    fields.push(`${key}=${show(value)}`);
  }
  const head = `${time} ${paint(level.toUpperCase().padEnd(5))} ${String(rec.msg ?? '')}`;
  return `${[head, ...fields].join(' ')}\n${stack ? `${stack}\n` : ''}`;
}

/** A pino destination that writes each record through prettyRecord to `out`. */
export function prettyStream(out: DestinationStream, color = false): DestinationStream {
  return {
    write(chunk: string) {
      // pino writes one record per call, ending in a newline.
      out.write(chunk.split('\n').filter(Boolean).map((l) => prettyRecord(l, color)).join(''));
    },
  };
}
