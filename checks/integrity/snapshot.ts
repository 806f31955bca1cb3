import { createHash } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { lstat, open, readlink } from 'node:fs/promises';
import path from 'node:path';

/** What is known of one file: its content's SHA-256 (or a link's target) and its metadata. */
export interface FileRecord {
  kind: 'file' | 'link' | 'other';
  /** Hex SHA-256 of a regular file's content; absent when it could not be read. */
  sha256?: string;
  /** A symbolic link's target (links are recorded, never followed). */
  link?: string;
  size: number;
  /** Permission bits with setuid, setgid and sticky (st_mode & 07777). */
  mode: number;
  uid: number;
  gid: number;
  mtimeMs: number;
  /** The content could not be read (permission denied): metadata only. */
  unreadable?: true;
}

/** The files of one run: records by path, and the paths it could not stat. */
export interface Snapshot {
  files: Map<string, FileRecord>;
  /** Paths that could not even be stat'ed, with why. */
  unstatable: Array<{ path: string; why: string }>;
  /** Bytes read to hash. */
  bytes: number;
}

export interface SnapshotOptions {
  root: string;
  /** Most bytes to hash in the run; a run that would read more fails with a message. */
  maxBytes: number;
  signal: AbortSignal;
  /** Files hashed at once. */
  concurrency?: number;
}

const CHUNK = 64 * 1024;

/**
 * Records every path: lstat for the metadata, and for a regular file its SHA-256, read in
 * 64 KiB chunks (never whole) through a descriptor opened without following links and without
 * blocking (a FIFO swapped in between lstat and open is not waited on). A file that vanished
 * meanwhile is left out; one that cannot be read is recorded with its metadata, `unreadable`.
 */
export async function snapshot(paths: readonly string[], opts: SnapshotOptions): Promise<Snapshot> {
  const files = new Map<string, FileRecord>();
  const unstatable: Snapshot['unstatable'] = [];
  const out = { files, unstatable, bytes: 0 };
  const budget = {
    take(n: number) {
      if (out.bytes + n > opts.maxBytes) {
        throw new Error(`hashing would read more than maxBytes (${opts.maxBytes} bytes) in one run; raise maxBytes or narrow the paths`);
      }
      out.bytes += n;
    },
  };
  let next = 0;
  const worker = async () => {
    while (next < paths.length) {
      const p = paths[next++];
      opts.signal.throwIfAborted();
      const r = await recordOf(path.join(opts.root, p), budget, opts.signal);
      if ('why' in r) unstatable.push({ path: p, why: r.why });
      else if (r.record) files.set(p, r.record);
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? 4, paths.length) }, worker));
  // In the order of `paths`, whichever worker finished first.
  out.files = new Map(paths.filter((p) => files.has(p)).map((p) => [p, files.get(p)!]));
  return out;
}

type Outcome = { record?: FileRecord } | { why: string };

async function recordOf(real: string, budget: { take(n: number): void }, signal: AbortSignal, attempt = 0): Promise<Outcome> {
  let st: Stats;
  try {
    st = await lstat(real);
  } catch (err) {
    return gone(err) ? {} : { why: describe(err) };
  }
  if (st.isDirectory()) return {};
  if (st.isSymbolicLink()) {
    try {
      return { record: { ...meta(st, 'link'), link: await readlink(real) } };
    } catch (err) {
      return gone(err) ? {} : { record: { ...meta(st, 'link'), unreadable: true } };
    }
  }
  if (!st.isFile()) return { record: meta(st, 'other') };
  let fh;
  try {
    fh = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if (gone(err)) return {};
    // ELOOP: it became a link between lstat and open; look again (once).
    if ((err as NodeJS.ErrnoException).code === 'ELOOP' && attempt === 0) return recordOf(real, budget, signal, 1);
    return { record: { ...meta(st, 'file'), unreadable: true } };
  }
  try {
    const now = await fh.stat();
    if (!now.isFile()) return { record: meta(now, 'other') };
    budget.take(now.size);
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(CHUNK);
    let read = 0;
    for (;;) {
      signal.throwIfAborted();
      const { bytesRead } = await fh.read(buf, 0, CHUNK, null);
      if (!bytesRead) break;
      read += bytesRead;
      // A file that grows while it is read counts what was read beyond its size.
      if (read > now.size) budget.take(bytesRead);
      hash.update(buf.subarray(0, bytesRead));
    }
    return { record: { ...meta(now, 'file'), sha256: hash.digest('hex') } };
  } catch (err) {
    if (denied(err)) return { record: { ...meta(st, 'file'), unreadable: true } };
    throw err;
  } finally {
    await fh.close();
  }
}

function meta(st: Stats, kind: FileRecord['kind']): FileRecord {
  return { kind, size: st.size, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtimeMs: Math.round(st.mtimeMs) };
}

const gone = (err: unknown) => ['ENOENT', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '');
const denied = (err: unknown) => ['EACCES', 'EPERM'].includes((err as NodeJS.ErrnoException).code ?? '');

function describe(err: unknown): string {
  return denied(err) ? 'permission denied' : (err as Error).message;
}
