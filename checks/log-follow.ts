import fs from 'node:fs';
import path from 'node:path';

/*
 * Follows a log file across runs: reads only what was appended since the last run, across
 * rotation (rename and create, copytruncate, dateext copies) and truncation, leaving a line
 * still being written for the next run. Shared by the auth-failures and log checks.
 */

/**
 * Where the last run stopped reading a log: the file (device and inode), the offset just past
 * the last whole line read, and the bytes before that offset, which tell whether the same
 * content is still there (copytruncate keeps the inode) and which rotated copy holds it.
 */
export interface LogPosition {
  dev: number;
  ino: number;
  offset: number;
  /** The last bytes before `offset` (at most SIGNATURE_BYTES). */
  signature: Buffer;
}

/** How much of the read text came out, and from where. */
export interface ReadReport {
  position: LogPosition;
  bytes: number;
  /** Bytes skipped because more than `maxBytes` was written since the last run. */
  skipped: number;
  /** What the reader had to give up on, in words for the message (the log is not lost silently). */
  notes: string[];
}

/** Receives whole lines of text (several per call, each ending in a newline but maybe the last). */
export type TextSink = (text: string) => void;

const SIGNATURE_BYTES = 64;
const CHUNK = 1024 * 1024;
const BACK_CHUNK = 256 * 1024;
// O_NONBLOCK: a FIFO at the path must not wait for a writer; only regular files are read.
const OPEN_FLAGS = fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0);

/** A file the check could not read; the message names it and what is missing. */
export class LogReadError extends Error {
  constructor(message: string, readonly code: string | undefined, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LogReadError';
  }
}

/** Opens a log for reading; refuses what is not a regular file. */
export async function openLog(file: string, accessHint?: string): Promise<{ fh: fs.promises.FileHandle; st: fs.Stats }> {
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(file, OPEN_FLAGS);
  } catch (err) {
    throw describeOpenError(file, err, accessHint);
  }
  const st = await fh.stat();
  if (!st.isFile()) {
    await fh.close();
    throw new LogReadError(`${file} is not a regular file`, 'ERR_NOT_REGULAR_FILE');
  }
  return { fh, st };
}

/** `accessHint`: what the agent's user needs, in words, when it may not read the file. */
function describeOpenError(file: string, err: unknown, accessHint = "the agent's user needs read access to it"): LogReadError {
  const code = (err as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOENT' ? 'does not exist' :
    code === 'EACCES' || code === 'EPERM'
      ? `cannot be read: permission denied (${accessHint})`
      : `cannot be read: ${(err as Error).message}`;
  return new LogReadError(`${file} ${why}`, code, { cause: err });
}

async function readAt(fh: fs.promises.FileHandle, start: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, start + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

/** Whether the file still holds, just before `pos.offset`, the bytes read there last time. */
async function holdsSignature(fh: fs.promises.FileHandle, size: number, pos: LogPosition): Promise<boolean> {
  if (size < pos.offset) return false;
  const sig = pos.signature;
  if (!sig.length) return true;
  return (await readAt(fh, pos.offset - sig.length, sig.length)).equals(sig);
}

/**
 * Reads [start, end) in chunks and hands whole lines to `sink`. Returns the offset just past
 * the last newline (a line still being written is left for the next run), or `end` when
 * `complete` (a rotated file: nothing more will be written to it).
 */
async function readLines(
  fh: fs.promises.FileHandle, start: number, end: number, opts: { complete: boolean; skipPartial?: boolean; signal: AbortSignal }, sink: TextSink,
): Promise<number> {
  let pos = start;
  let carry: Buffer = Buffer.alloc(0);
  let consumed = start;
  let skipping = opts.skipPartial === true;
  while (pos < end) {
    opts.signal.throwIfAborted();
    const chunk = await readAt(fh, pos, Math.min(CHUNK, end - pos));
    if (!chunk.length) break;
    pos += chunk.length;
    let buf: Buffer = carry.length ? Buffer.concat([carry, chunk]) : chunk;
    if (skipping) {
      // Started inside a line (bytes were skipped): drop its rest.
      const first = buf.indexOf(10);
      if (first < 0) {
        carry = Buffer.alloc(0);
        consumed = pos;
        continue;
      }
      buf = buf.subarray(first + 1);
      skipping = false;
    }
    const nl = buf.lastIndexOf(10);
    if (nl < 0) {
      carry = buf;
      continue;
    }
    sink(buf.toString('utf8', 0, nl + 1));
    // buf ends at file offset pos, so the byte after its last newline is at pos - (bytes after it).
    consumed = pos - (buf.length - nl - 1);
    carry = buf.subarray(nl + 1);
  }
  if (opts.complete && carry.length) {
    sink(`${carry.toString('utf8')}\n`);
    return end;
  }
  return consumed;
}

/**
 * The offset where the lines of the last `sinceMs` begin, searching back from `end` at most
 * `maxBytes`: the start of the first line older than the window (so that it is the one
 * thing read that is not counted), or 0. `reachedStart` says no older line was found.
 */
async function windowStart(
  fh: fs.promises.FileHandle, end: number, sinceMs: number, maxBytes: number, timeOf: (line: string) => number | undefined, signal: AbortSignal,
): Promise<{ offset: number; reachedStart: boolean; capped: boolean }> {
  let pos = end;
  const floor = Math.max(0, end - maxBytes);
  while (pos > floor) {
    signal.throwIfAborted();
    const from = Math.max(floor, pos - BACK_CHUNK);
    const buf = await readAt(fh, from, pos - from);
    // Only lines that start inside this chunk are whole; the one cut at its front is read with the next chunk.
    let lineStart = from === 0 ? 0 : buf.indexOf(10) + 1;
    if (lineStart === 0 && from !== 0) {
      if (from === floor) return { offset: end, reachedStart: false, capped: true }; // one line longer than the cap
      pos = from;
      continue;
    }
    const firstWhole = lineStart;
    while (lineStart < buf.length) {
      const nl = buf.indexOf(10, lineStart);
      const t = timeOf(buf.toString('utf8', lineStart, nl < 0 ? buf.length : nl));
      if (t !== undefined) {
        if (t < sinceMs) return { offset: from + lineStart, reachedStart: false, capped: false };
        break; // the oldest dated line of this chunk is inside the window: look further back
      }
      if (nl < 0) break;
      lineStart = nl + 1;
    }
    if (from === 0) return { offset: 0, reachedStart: true, capped: false };
    if (from === floor) return { offset: from + firstWhole, reachedStart: false, capped: true };
    pos = from + firstWhole;
  }
  return { offset: 0, reachedStart: true, capped: false }; // an empty file
}

/** The last bytes before `offset`, to recognise the content there later. */
async function signatureAt(fh: fs.promises.FileHandle, offset: number): Promise<Buffer> {
  const n = Math.min(SIGNATURE_BYTES, offset);
  return n ? readAt(fh, offset - n, n) : Buffer.alloc(0);
}

/**
 * The rotated copies of a log, newest first: `auth.log.1` (logrotate's default, Debian) and
 * `secure-20240305` (dateext, RHEL's default). Compressed ones cannot be appended to and
 * hold nothing unread, so they are not listed.
 */
export async function rotatedCopies(file: string): Promise<string[]> {
  const dir = path.dirname(file);
  const base = path.basename(file);
  let names: string[];
  try {
    names = await fs.promises.readdir(dir);
  } catch {
    return [];
  }
  const candidates = names.filter((n) => (n === `${base}.1` || (n.startsWith(`${base}-`) && /^[\d-]+$/.test(n.slice(base.length + 1)))));
  const dated = await Promise.all(candidates.map(async (n) => {
    const p = path.join(dir, n);
    const st = await fs.promises.stat(p).catch(() => undefined);
    return st?.isFile() ? { p, mtime: st.mtimeMs } : undefined;
  }));
  return dated.filter((d): d is { p: string; mtime: number } => d !== undefined).sort((a, b) => b.mtime - a.mtime).map((d) => d.p);
}

/** Reads what the rotated copy holding `pos` has after it, if one does. */
async function readRotatedRest(file: string, pos: LogPosition, signal: AbortSignal, sink: TextSink): Promise<number | undefined> {
  for (const candidate of await rotatedCopies(file)) {
    let opened;
    try {
      opened = await openLog(candidate);
    } catch {
      continue;
    }
    const { fh, st } = opened;
    try {
      // Renamed: same inode. Copied (copytruncate): a new inode whose bytes before the offset are the ones read.
      const same = st.dev === pos.dev && st.ino === pos.ino;
      if (!(same && st.size >= pos.offset) && !(pos.offset > 0 && (await holdsSignature(fh, st.size, pos)))) continue;
      await readLines(fh, pos.offset, st.size, { complete: true, signal }, sink);
      return st.size - pos.offset;
    } finally {
      await fh.close();
    }
  }
  return undefined;
}

/**
 * Reads the lines a log gained since `pos`, following rotation: when the file at the path is
 * no longer the one read (another inode: renamed away) or no longer holds what was read
 * (shorter than the offset, or other bytes there: truncated by copytruncate), the rest of the
 * old content is read from its rotated copy, then the new file from its start. Without `pos`
 * (the first run), the lines of the last `sinceMs` are read from the end, and from the newest
 * rotated copy too when the file is younger than that. At most `maxBytes` is read per file;
 * more is skipped (oldest first) and said in the notes.
 */
export async function readNewLines(
  file: string,
  pos: LogPosition | undefined,
  opts: { sinceMs: number; maxBytes: number; signal: AbortSignal; timeOf: (line: string) => number | undefined; accessHint?: string },
  sink: TextSink,
): Promise<ReadReport> {
  const notes: string[] = [];
  let bytes = 0;
  let skipped = 0;
  let opened: { fh: fs.promises.FileHandle; st: fs.Stats };
  try {
    opened = await openLog(file, opts.accessHint);
  } catch (err) {
    // Renamed away and not yet recreated: what is left of the old file is in its copy.
    if (!pos || (err as LogReadError).code !== 'ENOENT') throw err;
    const rest = await readRotatedRest(file, pos, opts.signal, sink);
    if (rest === undefined) throw err;
    return { position: NOT_THERE, bytes: rest, skipped, notes };
  }
  const { fh, st } = opened;
  try {
    let start: number;
    if (!pos) {
      const w = await windowStart(fh, st.size, opts.sinceMs, opts.maxBytes, opts.timeOf, opts.signal);
      if (w.capped) notes.push(`read only the last ${opts.maxBytes} bytes of ${file}`);
      if (w.reachedStart) {
        const [older] = await rotatedCopies(file);
        if (older) bytes += await readTail(older, opts, sink, notes);
      }
      start = w.offset;
    } else if (st.dev === pos.dev && st.ino === pos.ino && (await holdsSignature(fh, st.size, pos))) {
      start = pos.offset;
    } else {
      const rest = pos.offset > 0 || pos.ino >= 0 ? await readRotatedRest(file, pos, opts.signal, sink) : 0;
      if (rest === undefined) notes.push(`${file} was rotated and no rotated copy holds the lines after the last read; they are not counted`);
      else bytes += rest;
      start = 0;
    }
    let skipPartial = false;
    if (st.size - start > opts.maxBytes) {
      skipped = st.size - start - opts.maxBytes;
      notes.push(`${st.size - start - opts.maxBytes} bytes of ${file} skipped (more than maxRead since the last run)`);
      start = st.size - opts.maxBytes;
      skipPartial = true;
    }
    const end = await readLines(fh, start, st.size, { complete: false, skipPartial, signal: opts.signal }, sink);
    bytes += end - start;
    return { position: { dev: st.dev, ino: st.ino, offset: end, signature: await signatureAt(fh, end) }, bytes, skipped, notes };
  } finally {
    await fh.close();
  }
}

/**
 * The position of a file that is not there (yet): whatever appears at the path later is read
 * from its start.
 */
export const NOT_THERE: LogPosition = Object.freeze({ dev: -1, ino: -1, offset: 0, signature: Buffer.alloc(0) });

/**
 * Where to start following a log from now on: just past its last whole line (so a line being
 * written now is read once it is whole), or its end when the last 64 KiB hold no newline.
 * Throws {@link LogReadError} as {@link openLog} does.
 */
export async function endPosition(file: string, accessHint?: string): Promise<LogPosition> {
  const { fh, st } = await openLog(file, accessHint);
  try {
    const from = Math.max(0, st.size - BACK_CHUNK / 4);
    const tail = await readAt(fh, from, st.size - from);
    const nl = tail.lastIndexOf(10);
    const offset = nl < 0 ? (from === 0 ? 0 : st.size) : from + nl + 1;
    return { dev: st.dev, ino: st.ino, offset, signature: await signatureAt(fh, offset) };
  } finally {
    await fh.close();
  }
}

/** Reads the lines of the last `sinceMs` of a complete (rotated) file. */
async function readTail(
  file: string, opts: { sinceMs: number; maxBytes: number; signal: AbortSignal; timeOf: (line: string) => number | undefined }, sink: TextSink, notes: string[],
): Promise<number> {
  let opened;
  try {
    opened = await openLog(file);
  } catch (err) {
    notes.push(`the rotated ${(err as Error).message}`);
    return 0;
  }
  const { fh, st } = opened;
  try {
    const w = await windowStart(fh, st.size, opts.sinceMs, opts.maxBytes, opts.timeOf, opts.signal);
    await readLines(fh, w.offset, st.size, { complete: true, signal: opts.signal }, sink);
    return st.size - w.offset;
  } finally {
    await fh.close();
  }
}
