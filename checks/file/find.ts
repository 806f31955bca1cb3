import type { Dirent, Stats } from 'node:fs';
import { lstat, readdir, readlink, stat } from 'node:fs/promises';
import path from 'node:path';
import { globNameSource } from '../types';

/** The most directory entries one run looks at while expanding a glob. */
export const MAX_ENTRIES = 100_000;

const WILDCARD = /[*?[]/;

/** Whether a path has a wildcard in one of its names. */
export const isGlob = (p: string): boolean => WILDCARD.test(p);

/** A file the path names (or the newest a glob matches). */
export interface Found {
  path: string;
  stats: Stats;
}

/** What the path named: the newest match (undefined when none) and how many matched. */
export interface Lookup {
  newest?: Found;
  count: number;
  /** Why nothing was found when something is there: a dangling link, a glob's directory only. */
  note?: string;
}

/**
 * The agent may not look: thrown with a message saying what to grant, so the run is unknown
 * (a missing permission is not a missing file).
 */
export class NoAccessError extends Error {}

function denied(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EACCES' || code === 'EPERM';
}

/**
 * Looks the configured path up. A plain path is stat'ed (through a symbolic link when
 * `follow`); a glob (`*`, `?`, `[a-z]` in any of its names, as glob(3): a wildcard matches no
 * `/` and no leading dot) is expanded and the newest match by mtime is the file (ties: the
 * last name). Directories never match a glob; a plain path may name one.
 */
export async function lookup(configured: string, follow: boolean, signal: AbortSignal): Promise<Lookup> {
  const look = follow ? stat : lstat;
  if (!isGlob(configured)) {
    try {
      return { newest: { path: configured, stats: await look(configured) }, count: 1 };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (denied(err)) {
        throw new NoAccessError(`cannot look at ${configured}: permission denied; the agent's user needs search (x) permission on every directory above it`);
      }
      if (code === 'ENOENT' || code === 'ENOTDIR') return { count: 0, note: follow ? await dangling(configured) : undefined };
      if (code === 'ELOOP') return { count: 0, note: `${configured} is a loop of symbolic links` };
      throw err;
    }
  }

  const segments = configured.split('/').filter(Boolean);
  const matches: Found[] = [];
  let visited = 0;
  const step = async (dir: string, i: number): Promise<void> => {
    signal.throwIfAborted();
    const seg = segments[i];
    const last = i === segments.length - 1;
    if (!WILDCARD.test(seg)) {
      const next = path.posix.join(dir, seg);
      if (!last) return step(next, i + 1);
      const st = await statOrUndefined(next, look);
      if (st && !st.isDirectory()) matches.push({ path: next, stats: st });
      return;
    }
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (denied(err)) {
        throw new NoAccessError(`cannot list ${dir} to expand ${configured}: permission denied; the agent's user needs read (r) and search (x) permission on it`);
      }
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw err;
    }
    visited += entries.length;
    if (visited > MAX_ENTRIES) throw new Error(`${configured} names more than ${MAX_ENTRIES} directory entries; narrow the glob`);
    const re = new RegExp(`^${seg.startsWith('.') ? '' : '(?!\\.)'}${globNameSource(seg)}$`);
    for (const e of entries) {
      if (!re.test(e.name)) continue;
      const p = path.posix.join(dir, e.name);
      if (!last) {
        // A link to a directory is a directory to walk into, as in the shell.
        if (e.isDirectory() || e.isSymbolicLink()) await step(p, i + 1);
        continue;
      }
      const st = await statOrUndefined(p, look);
      if (st && !st.isDirectory()) matches.push({ path: p, stats: st });
    }
  };
  await step('/', 0);
  let newest: Found | undefined;
  for (const m of matches) {
    if (!newest || m.stats.mtimeMs > newest.stats.mtimeMs || (m.stats.mtimeMs === newest.stats.mtimeMs && m.path > newest.path)) newest = m;
  }
  return { newest, count: matches.length };
}

async function statOrUndefined(p: string, look: typeof stat): Promise<Stats | undefined> {
  try {
    return await look(p);
  } catch (err) {
    if (denied(err)) throw new NoAccessError(`cannot look at ${p}: permission denied; the agent's user needs search (x) permission on its directory`);
    // Gone since the listing, or a dangling link: not a match.
    return undefined;
  }
}

/** Why a path that stat says is missing is still there: a symbolic link to nothing. */
async function dangling(p: string): Promise<string | undefined> {
  try {
    if (!(await lstat(p)).isSymbolicLink()) return undefined;
    return `${p} is a symbolic link to ${await readlink(p)}, which does not exist`;
  } catch {
    return undefined;
  }
}
