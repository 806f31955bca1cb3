import type { StatsFs } from 'node:fs';
import { readFile, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import {
  defineCheck, formatBytes, isSkippedMountPoint, parseMountInfo, PSEUDO_FS_TYPES, round, targetDown,
  type Expansion, type FieldSpec, type MountEntry,
} from '../types';

const fsTypes = z.array(z.string().min(1)).min(1);

const schema = z
  .strictObject({
    mount: z
      .string()
      .refine((p) => path.isAbsolute(p), { message: 'expected an absolute path such as / or /var/lib/postgresql' })
      .optional()
      .describe('Path whose filesystem to watch (usually a mount point). Omit to watch every real filesystem, one check each.'),
    include: fsTypes
      .optional()
      .describe('Without mount: watch only filesystems of these types (e.g. [ext4, xfs]); replaces the built-in list of pseudo filesystems to skip.'),
    exclude: fsTypes.optional().describe('Without mount: filesystem types to skip besides the built-in pseudo ones (e.g. [nfs4, cifs]).'),
  })
  .refine((s) => s.mount === undefined || (s.include === undefined && s.exclude === undefined), {
    message: 'include and exclude choose among discovered filesystems; drop them or drop mount',
    path: ['mount'],
  });

type DiskSpec = z.output<typeof schema>;

const fields: Record<string, FieldSpec> = {
  usedPercent: { type: 'number', unit: 'percent', help: 'Space used, as df shows it: used / (used + available to users)' },
  freeBytes: { type: 'number', unit: 'bytes', help: 'Space available to unprivileged users (root-reserved blocks excluded)' },
  totalBytes: { type: 'number', unit: 'bytes', help: 'Size of the filesystem' },
  inodesUsedPercent: { type: 'number', unit: 'percent', help: 'Inodes (file slots) used; 0 on filesystems without a fixed inode table' },
};

/** Watches the space and inodes left on one filesystem, or on every real one when no mount is given. */
export const diskCheck = defineCheck({
  type: 'disk',
  category: 'performance',
  summary: 'Reports space and inodes used on a filesystem; without mount, one check per real filesystem.',
  schema,
  fields,
  // A full inode table stops writes as surely as a full disk, and is rarely watched.
  defaults: { warn: ['usedPercent > 80', 'inodesUsedPercent > 90'], crit: ['usedPercent > 90', 'inodesUsedPercent > 95'] },
  async expand(spec) {
    if (spec.mount !== undefined) return undefined; // one named mount: the entry stays as written
    const mounts = await discoverMounts(spec);
    return (mounts.length ? mounts : ['/']).map((m) => expansion(spec, m));
  },
  async run({ spec, signal, timeoutMs, now }) {
    const mount = spec.mount ?? '/';
    // A call in flight is shared (two checks on one mount, run together, get one answer); one
    // out for longer than a run may take is a hung mount, reported at once rather than waited on.
    const pending = pendingStatfs.get(mount);
    if (pending && now() - pending.since >= timeoutMs) {
      return targetDown('timeout', `${mount}: the last statfs has not returned yet (a hung network filesystem?)`);
    }
    let s;
    try {
      // statfs on a dead network mount never returns; give up when the run times out.
      s = await abortable(guardedStatfs(mount, statfs, now), signal);
    } catch (err) {
      if (signal.aborted) throw err;
      throw describeStatfsError(mount, err);
    }
    const used = (s.blocks - s.bfree) * s.bsize;
    const free = s.bavail * s.bsize;
    const values = {
      usedPercent: used + free > 0 ? round((used / (used + free)) * 100) : 0,
      freeBytes: free,
      totalBytes: s.blocks * s.bsize,
      inodesUsedPercent: s.files > 0 ? round(((s.files - s.ffree) / s.files) * 100) : 0,
    };
    let message = `${mount} ${values.usedPercent}% used, ${formatBytes(free)} free of ${formatBytes(values.totalBytes)}`;
    if (values.inodesUsedPercent >= 50) message += `, inodes ${values.inodesUsedPercent}% used`;
    return { values, message };
  },
});

function expansion(spec: DiskSpec, mount: string): Expansion<DiskSpec> {
  // The expanded spec names one mount, so the discovery filters no longer apply to it.
  const { include: _include, exclude: _exclude, ...rest } = spec;
  return { suffix: mount, spec: { ...rest, mount }, labels: { mount } };
}

async function discoverMounts(spec: DiskSpec): Promise<string[]> {
  if (process.platform !== 'linux') return [];
  let text: string;
  try {
    text = await readFile('/proc/self/mountinfo', 'utf8');
  } catch {
    // No /proc (a locked-down sandbox): watching / alone is still useful.
    return [];
  }
  return selectMounts(parseMountInfo(text), spec);
}

/**
 * The mount points worth watching, sorted: real filesystem types, not under kernel or
 * container paths, usable ones only (containers bind-mount files such as /etc/hosts), and
 * one per filesystem, the shortest path, since its bind mounts report the same numbers.
 */
export async function selectMounts(
  entries: MountEntry[],
  spec: Pick<DiskSpec, 'include' | 'exclude'>,
  usable: (mountPoint: string) => Promise<boolean> = isWatchable,
): Promise<string[]> {
  const skipTypes = new Set(spec.exclude ?? []);
  const candidates = entries.filter(
    (m) =>
      (spec.include ? spec.include.includes(m.fsType) : !PSEUDO_FS_TYPES.has(m.fsType)) &&
      !skipTypes.has(m.fsType) &&
      !isSkippedMountPoint(m.mountPoint),
  );
  const ok = await Promise.all(candidates.map((m) => usable(m.mountPoint)));
  const byDevice = new Map<string, string>();
  candidates.forEach((m, i) => {
    if (!ok[i]) return;
    const kept = byDevice.get(m.device);
    if (kept === undefined || m.mountPoint.length < kept.length || (m.mountPoint.length === kept.length && m.mountPoint < kept)) {
      byDevice.set(m.device, m.mountPoint);
    }
  });
  return [...new Set(byDevice.values())].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * A directory whose filesystem has a size. A mount that does not answer in time (a dead
 * NFS server) is kept: its check will then say so at every run instead of vanishing.
 */
async function isWatchable(mountPoint: string): Promise<boolean> {
  const probe = (async () => {
    const [st, fs] = await Promise.all([stat(mountPoint), guardedStatfs(mountPoint)]);
    return st.isDirectory() && fs.blocks > 0;
  })().catch(() => false);
  let timer: NodeJS.Timeout | undefined;
  const slow = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(true), 2000);
  });
  try {
    return await Promise.race([probe, slow]);
  } finally {
    clearTimeout(timer);
  }
}

function describeStatfsError(mount: string, err: unknown): Error {
  const code = (err as { code?: string }).code;
  const why =
    code === 'ENOENT' ? 'does not exist' :
    code === 'ENOTDIR' ? 'has a path component that is not a directory' :
    code === 'EACCES' || code === 'EPERM' ? 'cannot be read: permission denied' :
    `cannot be read: ${(err as Error).message}`;
  return new Error(`disk check: ${mount} ${why}`, { cause: err });
}

/**
 * statfs calls still in flight, by path, and when each was made. A call on a dead network
 * mount blocks one of libuv's few worker threads until the server comes back; issuing another
 * each run would soon block them all, and with them every check that reads a file or resolves
 * a name. So while one call on a path is out, no second one is made: callers share its answer.
 */
const pendingStatfs = new Map<string, { since: number; answer: Promise<StatsFs> }>();

/** statfs of `mount`, shared with the call already in flight on it, if any; `now` times a new call. */
export function guardedStatfs(mount: string, impl: (path: string) => Promise<StatsFs> = statfs, now: () => number = Date.now): Promise<StatsFs> {
  let call = pendingStatfs.get(mount);
  if (!call) {
    call = { since: now(), answer: impl(mount) };
    pendingStatfs.set(mount, call);
    const done = () => pendingStatfs.delete(mount);
    call.answer.then(done, done);
  }
  return call.answer;
}

function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
