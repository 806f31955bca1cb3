import type { Finding } from '../types';
import type { FileRecord } from './snapshot';
import { inScope } from './walk';

/** What the check keeps in its state: the files as they were when the baseline was taken. */
export interface Baseline {
  version: 1;
  /** When it was taken (ms since epoch). */
  takenAt: number;
  /** The patterns and exclusions it was taken with: a file they did not cover is not "added" later. */
  patterns: string[];
  exclude: string[];
  files: Record<string, FileRecord>;
}

/** A path that could not be looked at, and why. */
export interface Blind {
  path: string;
  why: string;
  /** A path watched only when readable (skipped quietly unless the baseline has it). */
  optional?: boolean;
}

/** How the files of this run differ from the baseline. */
export interface Diff {
  changed: Array<{ path: string; what: string[] }>;
  added: string[];
  removed: string[];
  /** Paths that could not be read (files, directories, optional paths the baseline has). */
  unreadable: Array<{ path: string; why: string }>;
  /**
   * The baseline as it should now be kept, when the patterns changed: files newly covered are
   * taken in and files no longer covered dropped, quietly (a config change is not an attack);
   * everything else stays as it was, so a change stays reported until it is accepted.
   */
  rescoped?: Baseline;
}

/**
 * Compares this run's files with the baseline. A file of the baseline that is missing now is
 * "removed" only when nothing hid it: one under a directory that could not be listed, or that
 * could not be stat'ed, is unreadable instead.
 */
export function compare(base: Baseline, files: ReadonlyMap<string, FileRecord>, blind: readonly Blind[], scope: { patterns: string[]; exclude: string[] }): Diff {
  const diff: Diff = { changed: [], added: [], removed: [], unreadable: [] };
  const sameScope = sameList(base.patterns, scope.patterns) && sameList(base.exclude, scope.exclude);
  const kept: Record<string, FileRecord> = {};
  const hiddenBy = (p: string) => blind.find((b) => p === b.path || p.startsWith(b.path.endsWith('/') ? b.path : `${b.path}/`));
  const oldScope = (p: string) => sameScope || inScope(p, base.patterns, base.exclude);
  const newScope = (p: string) => sameScope || inScope(p, scope.patterns, scope.exclude);

  for (const [p, was] of Object.entries(base.files)) {
    const now = files.get(p);
    if (now) {
      kept[p] = was;
      const what = differences(was, now);
      if (what.length) diff.changed.push({ path: p, what });
      continue;
    }
    if (!newScope(p)) continue; // no longer watched: dropped from the baseline
    kept[p] = was;
    const hider = hiddenBy(p);
    if (hider) diff.unreadable.push({ path: p, why: hider.path === p ? hider.why : `${hider.path}: ${hider.why}` });
    else diff.removed.push(p);
  }
  for (const [p, now] of files) {
    if (p in base.files) continue;
    if (oldScope(p)) diff.added.push(p);
    else kept[p] = now; // newly watched: taken into the baseline
  }
  for (const [p, now] of files) if (now.unreadable) diff.unreadable.push({ path: p, why: 'permission denied' });
  for (const b of blind) {
    // An optional path (e.g. /etc/shadow for an unprivileged agent) matters only if it was watched.
    if (b.optional && !(b.path in base.files)) continue;
    if (!diff.unreadable.some((u) => u.path === b.path)) diff.unreadable.push({ path: b.path, why: b.why });
  }
  diff.unreadable.sort((a, b) => (a.path < b.path ? -1 : 1));
  if (!sameScope) diff.rescoped = { ...base, patterns: scope.patterns, exclude: scope.exclude, files: sortKeys(kept) };
  return diff;
}

/** What differs between two records of a file, for people: `content`, `mode 0644→0666`, … */
export function differences(was: FileRecord, now: FileRecord): string[] {
  const out: string[] = [];
  if (was.kind !== now.kind) out.push(`type ${was.kind}→${now.kind}`);
  if (was.sha256 && now.sha256 && was.sha256 !== now.sha256) out.push(`content (sha256 ${was.sha256.slice(0, 12)}…→${now.sha256.slice(0, 12)}…)`);
  if (was.link !== now.link && was.kind === 'link' && now.kind === 'link') out.push(`link target ${was.link ?? '?'}→${now.link ?? '?'}`);
  if (was.mode !== now.mode) out.push(`mode ${octal(was.mode)}→${octal(now.mode)}`);
  if (was.uid !== now.uid || was.gid !== now.gid) out.push(`owner ${was.uid}:${was.gid}→${now.uid}:${now.gid}`);
  if (was.size !== now.size) out.push(`size ${was.size}→${now.size} bytes`);
  return out;
}

/** The findings of a diff, with how to accept or undo each. */
export function findingsOf(diff: Diff, check: string, files: ReadonlyMap<string, FileRecord>): Finding[] {
  const refs = ['CIS 1.3.2', 'Lynis FINT-4350', 'Lynis FINT-4402'];
  const accept = `If it was planned, accept it: keepwatch baseline accept ${check} --by NAME --reason TEXT.`;
  const out: Finding[] = [];
  for (const c of diff.changed) {
    const mtime = files.get(c.path)?.mtimeMs;
    out.push({
      id: `integrity.changed.${c.path}`,
      severity: 'high',
      title: `${c.path} changed: ${c.what.join(', ')}${mtime !== undefined ? ` (modified ${new Date(mtime).toISOString()})` : ''}`,
      subject: c.path,
      fix: `${accept} If not, find who changed it (journal, auditd, last) and restore it; dpkg --verify or rpm -Va show package files that differ.`,
      refs,
    });
  }
  for (const p of diff.added) {
    out.push({
      id: `integrity.added.${p}`,
      severity: 'medium',
      title: `${p} is new (not in the baseline)`,
      subject: p,
      fix: `${accept} If not, look at it: a new file in sudoers.d, cron.d or pam.d, or an /etc/ld.so.preload, is a usual way to keep access.`,
      refs,
    });
  }
  for (const p of diff.removed) {
    out.push({
      id: `integrity.removed.${p}`,
      severity: 'high',
      title: `${p} was removed`,
      subject: p,
      fix: `${accept} If not, restore it from a backup or its package.`,
      refs,
    });
  }
  for (const u of diff.unreadable) {
    out.push({
      id: `integrity.unreadable.${u.path}`,
      severity: 'low',
      title: `${u.path} cannot be checked: ${u.why}`,
      subject: u.path,
      fix: "Let the agent's user read it (and search its directories), e.g. through the file's group, or take it out of paths.",
      refs: ['Lynis FINT-4350'],
    });
  }
  return out;
}

const octal = (mode: number) => `0${mode.toString(8).padStart(3, '0')}`;

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
}
