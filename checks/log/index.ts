import path from 'node:path';
import { z } from 'zod';
import { readJournal } from '../journal';
import { endPosition, LogReadError, NOT_THERE, readNewLines, type LogPosition } from '../log-follow';
import { defineCheck, duration, formatDuration, isValidRegex, size, type CheckContext, type FieldSpec, type Observation } from '../types';
import { ENTRY_FIELDS, VerboseParser } from './journal-entries';
import { lineMatcher, MatchWindow } from './window';

const WINDOW_MS = 5 * 60_000;
const LINES = 10;
export const MAX_LINES = 100;
const MAX_READ = 64 * 1024 * 1024;

const regex = (what: string) => z.string().min(1).refine(isValidRegex, { message: `expected a regular expression (${what})` });
const absolute = (example: string) => z.string().refine((p) => path.isAbsolute(p), { message: `expected an absolute path such as ${example}` });

const schema = z
  .strictObject({
    path: absolute('/var/log/nginx/error.log')
      .optional()
      .describe('The log file to follow (absolute). It may not exist yet; rotation (rename and create, copytruncate) and truncation are followed. Give path or unit.'),
    unit: z
      .string()
      .min(1)
      .optional()
      .describe("A systemd unit whose journal to follow with journalctl (nginx, nginx.service); the regex is matched against each entry's message. Give path or unit."),
    root: absolute('/host')
      .optional()
      .describe("With unit: prefix of the host's filesystem whose journal to read (journalctl --root), for an agent in a container with the host's / mounted there."),
    match: regex('JavaScript syntax').describe('Lines that count: a JavaScript regular expression, unanchored (error, \\[(crit|alert|emerg)\\]).'),
    exclude: regex('JavaScript syntax').optional().describe('Lines matching this regular expression do not count even when match does.'),
    ignoreCase: z.boolean().optional().describe('Match and exclude ignore case (default false).'),
    window: duration({ min: 1000, max: 86_400_000 })
      .optional()
      .describe(`Count the matches of this long before the run (default ${formatDuration(WINDOW_MS)}, at most 1d).`),
    lines: z
      .number()
      .int()
      .min(0)
      .max(MAX_LINES)
      .optional()
      .describe(`How many of the last matching lines in the window to keep for the incident's evidence (default ${LINES}, at most ${MAX_LINES}; each cut to 512 characters).`),
    maxRead: size()
      .optional()
      .describe('Most bytes read per run (default 64MiB): of a file, the oldest part of more is skipped; of the journal, the rest is read by the next run. The message says so.'),
  })
  .superRefine((s, ctx) => {
    if ((s.path === undefined) === (s.unit === undefined)) ctx.addIssue({ code: 'custom', path: ['path'], message: 'give exactly one of path (a file) or unit (the journal)' });
    if (s.root !== undefined && s.unit === undefined) ctx.addIssue({ code: 'custom', path: ['root'], message: 'root is for reading the journal of a unit; with path, give the path as the agent sees it' });
    if (s.maxRead === 0) ctx.addIssue({ code: 'custom', path: ['maxRead'], message: 'maxRead must be more than 0' });
  });

type LogSpec = z.output<typeof schema>;

const fields: Record<string, FieldSpec> = {
  matches: { type: 'number', unit: 'count', help: 'Matching lines in the window' },
  ratePerMin: { type: 'number', unit: 'none', help: 'Matching lines per minute over the window (over the time since the check started while that is shorter)' },
  newMatches: { type: 'number', unit: 'count', help: 'Matching lines this run read' },
  lastMatch: { type: 'string', help: "The newest matching line in the window (cut to 512 characters), '' when none" },
  bytesRead: { type: 'number', unit: 'bytes', help: 'Bytes this run read' },
  skippedBytes: { type: 'number', unit: 'bytes', help: 'Bytes of the file this run skipped unread (more than maxRead written since the last run)' },
};

/** Per check: where it stopped reading, and its window of matches. */
interface Tracked {
  position?: LogPosition;
  cursor?: string;
  window: MatchWindow;
}
const tracked = new Map<string, Tracked>();
const MAX_TRACKED = 256;

/** Follows a log file or a unit's journal and counts the lines matching a regex within a window. */
export const logCheck = defineCheck({
  type: 'log',
  category: 'health',
  summary: 'Follows a log file (across rotation) or a systemd unit\'s journal and counts the lines matching a regex within a window; the last ones go into the incident.',
  schema,
  fields,
  // A log check is written for lines that should not be there: one is worth a look. Paging on
  // them (crit) is the user's call, with a count that suits the log: `crit: "matches > 10"`.
  defaults: { warn: ['matches > 0'] },
  async run(ctx) {
    const { spec } = ctx;
    const now = ctx.now();
    const windowMs = spec.window ?? WINDOW_MS;
    const key = `${ctx.name}\0${spec.path ?? `unit:${spec.unit}`}\0${windowMs}\0${spec.lines ?? LINES}`;
    const prev = tracked.get(key);
    const read = spec.path !== undefined ? await readFile(ctx, spec.path, prev, now) : await readUnit(ctx, spec.unit as string, prev, now);
    read.window.prune(now);
    tracked.delete(key);
    if (tracked.size >= MAX_TRACKED) tracked.delete(tracked.keys().next().value as string);
    tracked.set(key, { position: read.position, cursor: read.cursor, window: read.window });
    if (read.notes.length) ctx.log.warn({ source: spec.path ?? spec.unit, notes: read.notes }, 'log read incompletely');
    return observe(read, { spec, windowMs, now, from: spec.path ?? `the journal of ${spec.unit}` });
  },
});

interface Read {
  window: MatchWindow;
  position?: LogPosition;
  cursor?: string;
  newMatches: number;
  bytes: number;
  skipped: number;
  notes: string[];
  /** Said first in the message: waiting for the file, started at its end. */
  state?: string;
}

const ACCESS_HINT = "the agent's user needs read access to it: on Debian and Ubuntu most of /var/log is group adm's";

async function readFile(ctx: CheckContext<LogSpec>, file: string, prev: Tracked | undefined, now: number): Promise<Read> {
  const { spec } = ctx;
  const window = prev ? prev.window.clone() : new MatchWindow(spec.window ?? WINDOW_MS, spec.lines ?? LINES, now);
  const read: Read = { window, newMatches: 0, bytes: 0, skipped: 0, notes: [] };
  if (!prev?.position) {
    // The first run: lines written before the agent started are not counted.
    try {
      read.position = await endPosition(file, ACCESS_HINT);
      read.state = `following ${file} from its end`;
    } catch (err) {
      if (!isMissing(err)) throw err;
      read.position = NOT_THERE;
      read.state = `waiting for ${file} (it does not exist yet)`;
    }
    return read;
  }
  const matches = lineMatcher(spec);
  try {
    const report = await readNewLines(
      file,
      prev.position,
      // sinceMs and timeOf serve only a first read, which this is not.
      { sinceMs: now, maxBytes: spec.maxRead ?? MAX_READ, signal: ctx.signal, timeOf: () => undefined, accessHint: ACCESS_HINT },
      (text) => {
        for (let line of text.split('\n')) {
          if (line.endsWith('\r')) line = line.slice(0, -1);
          if (line && matches(line)) {
            read.newMatches++;
            window.add(now, line);
          }
        }
      },
    );
    Object.assign(read, { position: report.position, bytes: report.bytes, skipped: report.skipped, notes: report.notes });
  } catch (err) {
    if (!isMissing(err)) throw err;
    read.position = NOT_THERE;
  }
  // Renamed away and not created again yet (what was left in the old file was read), or not there at all.
  if (read.position?.ino === -1) read.state = `waiting for ${file} (it does not exist)`;
  return read;
}

/** The file (or a directory above it) is not there: a state to wait out, not an error. */
function isMissing(err: unknown): boolean {
  return err instanceof LogReadError && (err.code === 'ENOENT' || err.code === 'ENOTDIR');
}

async function readUnit(ctx: CheckContext<LogSpec>, unit: string, prev: Tracked | undefined, now: number): Promise<Read> {
  const { spec } = ctx;
  const windowMs = spec.window ?? WINDOW_MS;
  // Journal entries are dated: the first run reads the window back and counts it whole.
  const window = prev ? prev.window.clone() : new MatchWindow(windowMs, spec.lines ?? LINES, now - windowMs);
  const read: Read = { window, cursor: prev?.cursor, newMatches: 0, bytes: 0, skipped: 0, notes: [] };
  const maxRead = spec.maxRead ?? MAX_READ;
  const matches = lineMatcher(spec);
  const parser = new VerboseParser((e) => {
    read.cursor = e.cursor;
    const message = e.fields.MESSAGE ?? '';
    if (!message || !matches(message)) return;
    read.newMatches++;
    const at = Number.isFinite(e.at) ? Math.min(now, e.at) : now;
    const who = `${e.fields.SYSLOG_IDENTIFIER ?? unit}${e.fields._PID ? `[${e.fields._PID}]` : ''}`;
    window.add(at, `${new Date(at).toISOString()} ${who}: ${message.replace(/\n/g, ' ')}`);
  });
  let bounded = false;
  await readJournal(
    {
      units: [unit],
      // Without a cursor no entry was read yet: the window back holds nothing counted before.
      ...(prev?.cursor !== undefined ? { afterCursor: prev.cursor } : { sinceMs: now - windowMs }),
      output: 'verbose',
      fields: ENTRY_FIELDS,
      root: spec.root,
      signal: ctx.signal,
      needs: 'the log check with unit:',
      noFilesHint: 'is systemd-journald keeping one? else follow the log file with path:',
    },
    (line) => {
      // Stops between entries: the cursor is then the last entry read, and the next run goes on from it.
      if (parser.push(line) && read.bytes >= maxRead) return !(bounded = true);
      read.bytes += Buffer.byteLength(line) + 1;
      return true;
    },
  );
  if (bounded) read.notes.push(`read ${read.bytes} bytes of the journal (maxRead ${maxRead}); the rest is read by the next run`);
  else parser.end();
  if (read.cursor === undefined) read.state = `no entries of ${unit} in the last ${formatDuration(windowMs)} yet`;
  return read;
}

function observe(read: Read, opts: { spec: LogSpec; windowMs: number; now: number; from: string }): Observation {
  const { window } = read;
  const matches = window.matches;
  const lines = window.lines;
  const last = lines[lines.length - 1] ?? '';
  const rate = window.ratePerMin(opts.now);
  const counted = `${matches} match${matches === 1 ? '' : 'es'} in the last ${formatDuration(opts.windowMs)}`;
  let message = read.state !== undefined && matches === 0
    ? `${read.state}; ${counted}`
    : `${counted} (${read.newMatches} new, ${rate}/min)${last ? `; last: ${last.length > 200 ? `${last.slice(0, 199)}…` : last}` : ''} (${opts.from})`;
  if (read.state?.startsWith('following') && opts.spec.path) message += '; lines written before the agent started are not counted';
  if (read.notes.length) message += `; ${read.notes.join('; ')}`;
  return {
    values: { matches, ratePerMin: rate, newMatches: read.newMatches, lastMatch: last, bytesRead: read.bytes, skippedBytes: read.skipped },
    message,
    ...(lines.length ? { excerpt: lines } : {}),
  };
}
