import type { Dirent, Stats } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';

/** Never walked: kernel and runtime filesystems, whose "files" are not files. */
export const SKIPPED_TREES = ['/proc', '/sys', '/dev', '/run'];

/** What the walk saw of one file or directory, by its host path (without the root prefix). */
export type Visit = (hostPath: string, st: Stats) => void;

export interface WalkOptions {
  /** Host filesystem prefix: `/host` when the host's / is mounted there. */
  root: string;
  /** Host paths to skip with everything under them (besides SKIPPED_TREES). */
  exclude: readonly string[];
  /** Stay on the filesystem each start path is on (st_dev), as `find -xdev`. */
  oneFilesystem: boolean;
  /** Stop after this many entries. */
  maxFiles: number;
  /** Stop at this wall-clock time (ms since the epoch, from `now`). */
  deadline: number;
  now(): number;
  signal: AbortSignal;
}

export interface WalkResult {
  filesScanned: number;
  /** Directories that could not be listed (EACCES, EPERM, an I/O error). */
  dirsSkipped: number;
  /** The first few of them, to name in a finding. */
  skippedSample: string[];
  /** Start paths that do not exist (or are symlinks, which are never followed). */
  missing: string[];
  /** Whether the budget (files or time) ended the walk before everything was seen. */
  cut?: 'files' | 'time';
}

/** How many directories are worked on at once (each with a batch of lstat calls in flight). */
const CONCURRENCY = 4;

/** Skipped directories named in the result. */
const SAMPLE = 5;

/** Entries of one directory examined at once. */
const BATCH = 32;

function childPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/**
 * Walks the start paths with lstat, never following a symlink, staying on each start's
 * filesystem, skipping /proc, /sys, /dev and /run, and visiting each directory once (a bind
 * mount of a directory inside itself cannot loop it). Stops at the file or time budget and
 * says so; a directory it may not list is counted, not fatal: the coverage is the result.
 */
export async function walk(starts: readonly string[], visit: Visit, opts: WalkOptions): Promise<WalkResult> {
  const res: WalkResult = { filesScanned: 0, dirsSkipped: 0, skippedSample: [], missing: [] };
  const skip = (p: string) => {
    res.dirsSkipped++;
    if (res.skippedSample.length < SAMPLE) res.skippedSample.push(p);
  };
  const skipped = [...SKIPPED_TREES, ...opts.exclude].map((p) => p.replace(/\/+$/, ''));
  const isSkipped = (p: string) => skipped.some((s) => s !== '' && (p === s || p.startsWith(`${s}/`)));
  const seen = new Set<string>();
  const queue: Array<{ dir: string; dev: number }> = [];

  const budgetLeft = () => {
    if (opts.signal.aborted) throw opts.signal.reason;
    if (res.filesScanned >= opts.maxFiles) res.cut = 'files';
    else if (opts.now() >= opts.deadline) res.cut = 'time';
    return res.cut === undefined;
  };

  const enter = (hostPath: string, st: Stats, dev: number) => {
    if (!st.isDirectory() || isSkipped(hostPath) || (opts.oneFilesystem && st.dev !== dev)) return;
    const key = `${st.dev}:${st.ino}`;
    if (seen.has(key)) return;
    seen.add(key);
    queue.push({ dir: hostPath, dev });
  };

  for (const start of starts) {
    if (!budgetLeft()) break;
    if (isSkipped(start)) continue;
    let st: Stats;
    try {
      st = await lstat(onHost(opts.root, start));
    } catch (err) {
      if (isDenied(err)) skip(start);
      else res.missing.push(start);
      continue;
    }
    if (st.isSymbolicLink()) { res.missing.push(start); continue; }
    res.filesScanned++;
    visit(start, st);
    enter(start, st, st.dev);
  }

  const worker = async () => {
    while (queue.length > 0 && budgetLeft()) {
      const { dir, dev } = queue.pop()!;
      let entries: Dirent[];
      try {
        entries = await readdir(onHost(opts.root, dir), { withFileTypes: true });
      } catch (err) {
        // Gone since it was seen: nothing was missed. Anything else (EACCES, EIO) is a gap in coverage.
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ENOTDIR') skip(dir);
        continue;
      }
      // lstat a batch at once: the thread pool works on several while this worker waits.
      for (let i = 0; i < entries.length; i += BATCH) {
        if (!budgetLeft()) return;
        const batch = entries.slice(i, i + Math.min(BATCH, opts.maxFiles - res.filesScanned));
        res.filesScanned += batch.length;
        const stats = await Promise.all(batch.map((e) =>
          // A symlink's own mode is always 0777 and means nothing; it is never followed.
          e.isSymbolicLink() ? undefined : lstat(onHost(opts.root, childPath(dir, e.name))).catch((err: NodeJS.ErrnoException) => err)));
        let denied = false;
        batch.forEach((e, j) => {
          const st = stats[j];
          if (st === undefined) return;
          if (st instanceof Error) {
            // Gone since the listing is nothing missed; otherwise the directory is listable but
            // not searchable (r without x) and its entries cannot be examined.
            if ((st as NodeJS.ErrnoException).code !== 'ENOENT') denied = true;
            return;
          }
          const hostPath = childPath(dir, e.name);
          visit(hostPath, st);
          enter(hostPath, st, dev);
        });
        if (denied) {
          skip(dir);
          break;
        }
      }
    }
  };
  // Workers share the queue; one may find it empty while another is about to fill it, so
  // they are started again until the queue stays empty or the budget is spent.
  while (queue.length > 0 && res.cut === undefined) {
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  }
  return res;
}

function isDenied(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EACCES' || code === 'EPERM';
}

/** The path on this machine of a host path, under the root prefix. */
export function onHost(root: string, hostPath: string): string {
  return root === '/' ? hostPath : path.join(root, hostPath);
}
