import { constants, type Dirent } from 'node:fs';
import { access, lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { globNameSource } from '../types';

/** A path or glob to watch; an optional one is watched only while the agent can read it. */
export interface Pattern {
  glob: string;
  optional?: boolean;
}

/** What a walk found: the files to record, and where it could not look. */
export interface Walk {
  /** Paths (without the root prefix) of files, links and special files, sorted. */
  paths: string[];
  /**
   * Paths it could not look into: directories it may not list, paths it may not stat, optional
   * paths it may not read. A file of the baseline at or under one is unreadable, not removed.
   */
  blind: Array<{ path: string; optional: boolean; why: string }>;
}

export interface WalkOptions {
  /** Prefix of every path read (`/` on the host; `/host` in a container; a temp dir in tests). */
  root: string;
  /** More files than this is an error: the patterns are too wide for one baseline. */
  maxFiles: number;
  signal: AbortSignal;
}

const WILDCARD = /[*?[]/;

/** Whether a glob has a wildcard (else it names one path, and a directory there stands for the files in it). */
export const isLiteral = (glob: string): boolean => !WILDCARD.test(glob);

/**
 * The files the patterns name, as a shell would expand them, with `**` for any number of
 * directories (zero included), and `*` matching names that start with a dot too (a hidden
 * file in /etc/cron.d is exactly what to notice). A pattern without wildcards that names a
 * directory stands for the files directly in it. Directories themselves are not recorded, and
 * symbolic links are recorded, never followed.
 */
export async function walk(patterns: readonly Pattern[], exclude: readonly string[], opts: WalkOptions): Promise<Walk> {
  const found = new Set<string>();
  const blind = new Map<string, { path: string; optional: boolean; why: string }>();
  const excluded = exclude.map(globRegex);
  // Entries looked at, matched or not: a pattern such as /** must not walk a whole disk.
  let visited = 0;
  const visitLimit = opts.maxFiles * 20;
  const real = (p: string) => path.join(opts.root, p);

  const add = (p: string) => {
    if (excluded.some((re) => re.test(p))) return;
    found.add(p);
    if (found.size > opts.maxFiles) {
      throw new Error(`more than ${opts.maxFiles} files match the paths (maxFiles); narrow them (exclude) or raise maxFiles (at most 100000)`);
    }
  };
  const list = async (dir: string): Promise<Dirent[]> => {
    opts.signal.throwIfAborted();
    try {
      const entries = await readdir(real(dir), { withFileTypes: true });
      visited += entries.length;
      if (visited > visitLimit) throw new WalkTooLarge(visitLimit);
      return entries.sort((a, b) => (a.name < b.name ? -1 : 1));
    } catch (err) {
      if (err instanceof WalkTooLarge) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') blind.set(dir, { path: dir, optional: false, why: describe(err) });
      return [];
    }
  };

  for (const { glob, optional } of patterns) {
    const segments = glob.split('/').filter(Boolean);
    if (isLiteral(glob)) {
      await literal(path.posix.join('/', ...segments), optional ?? false);
      continue;
    }
    const step = async (dir: string, i: number, isDir: boolean): Promise<void> => {
      if (i === segments.length) {
        if (!isDir) add(dir);
        return;
      }
      const seg = segments[i];
      if (seg === '**') {
        await step(dir, i + 1, true);
        const last = i + 1 === segments.length;
        for (const e of await list(dir)) {
          const p = path.posix.join(dir, e.name);
          if (e.isDirectory()) await step(p, i, true);
          else if (last) add(p);
        }
        return;
      }
      if (!WILDCARD.test(seg)) {
        // A plain name needs no listing; whether it is a directory is learnt further down.
        const next = path.posix.join(dir, seg);
        if (i + 1 < segments.length) return step(next, i + 1, true);
        const kind = await kindOf(next);
        if (kind !== undefined && kind !== 'dir') add(next);
        return;
      }
      const re = segmentRegex(seg);
      for (const e of await list(dir)) {
        if (!re.test(e.name)) continue;
        if (i + 1 < segments.length && !e.isDirectory()) continue;
        await step(path.posix.join(dir, e.name), i + 1, e.isDirectory());
      }
    };
    await step('/', 0, true);
  }

  async function kindOf(p: string): Promise<'dir' | 'other' | undefined> {
    try {
      return (await lstat(real(p))).isDirectory() ? 'dir' : 'other';
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') blind.set(p, { path: p, optional: false, why: describe(err) });
      return undefined;
    }
  }

  async function literal(p: string, optional: boolean): Promise<void> {
    if (optional) {
      // Watched only when readable: an unprivileged agent skips /etc/shadow instead of failing.
      try {
        await access(real(p), constants.R_OK);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') blind.set(p, { path: p, optional: true, why: describe(err) });
        return;
      }
    }
    const kind = await kindOf(p);
    if (kind === 'other') add(p);
    if (kind === 'dir') for (const e of await list(p)) if (!e.isDirectory()) add(path.posix.join(p, e.name));
  }

  return { paths: [...found].sort(), blind: [...blind.values()] };
}

class WalkTooLarge extends Error {
  constructor(limit: number) {
    super(`the paths make the walk look at more than ${limit} directory entries (20 x maxFiles); narrow the globs (a ** under a large tree)`);
  }
}

/** Whether `p` is one the patterns watch (minus the excluded): a file of the old baseline still in scope. */
export function inScope(p: string, patterns: readonly string[], exclude: readonly string[]): boolean {
  if (exclude.some((g) => globRegex(g).test(p))) return false;
  return patterns.some((g) => (isLiteral(g) ? normal(g) === p || path.posix.dirname(p) === normal(g) : globRegex(g).test(p)));
}

const normal = (g: string) => path.posix.join('/', ...g.split('/').filter(Boolean));

/** A whole-path glob as a regular expression: `**` spans directories, the other wildcards stay within a name. */
export function globRegex(glob: string): RegExp {
  const parts = glob.split('/').filter(Boolean).map((seg) => (seg === '**' ? '(?:/[^/]+)*' : `/${globNameSource(seg)}`));
  return new RegExp(`^${parts.join('') || '/'}$`);
}

function segmentRegex(seg: string): RegExp {
  return new RegExp(`^${globNameSource(seg)}$`);
}

function describe(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (err as Error).message;
}
