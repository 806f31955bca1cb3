/** Reading Linux's block device counters (/proc/diskstats) and the disks /sys/block lists. */
import { readdir, readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import type { Counters } from '../counters';

/** Counters every diskstats line has (old kernels' partition lines had only these). */
export const BASIC_KEYS = ['reads', 'readSectors', 'writes', 'writeSectors'] as const;
/** Counters of the 11-field (and longer) lines: times in milliseconds. */
export const TIME_KEYS = ['readMs', 'writeMs', 'ioMs', 'weightedMs'] as const;
export type CounterKey = (typeof BASIC_KEYS)[number] | (typeof TIME_KEYS)[number];

/** One device's line of /proc/diskstats. */
export interface DiskCounters {
  major: number;
  minor: number;
  name: string;
  /** Only the counters the line has: the four basic ones always, the times from 11 fields on. */
  counters: Partial<Counters<CounterKey>>;
  /** I/Os in flight when read (field 9), from 11 fields on. */
  inFlight?: number;
}

/**
 * Parses /proc/diskstats (Documentation/admin-guide/iostats.rst): `major minor name` and then
 * 11 fields (kernels before 4.18), 15 (4.18: discards) or 17 (5.5: flushes); partitions of
 * kernels before 2.6.25 had 4 (reads, sectors read, writes, sectors written). Sectors are 512
 * bytes whatever the device's own sector size. Fields past the 11th are not needed here.
 */
export function parseDiskStats(text: string): DiskCounters[] {
  const out: DiskCounters[] = [];
  for (const line of text.split('\n')) {
    const parts = line.trim().split(/\s+/);
    if (parts.length < 7 || !/^\d+$/.test(parts[0]) || !/^\d+$/.test(parts[1])) continue;
    const n = parts.slice(3).map(Number);
    if (n.some((x) => !Number.isFinite(x))) continue;
    const [major, minor, name] = [Number(parts[0]), Number(parts[1]), parts[2]];
    if (n.length === 4) {
      out.push({ major, minor, name, counters: { reads: n[0], readSectors: n[1], writes: n[2], writeSectors: n[3] } });
    } else if (n.length >= 11) {
      out.push({
        major, minor, name,
        counters: {
          reads: n[0], readSectors: n[2], readMs: n[3],
          writes: n[4], writeSectors: n[6], writeMs: n[7],
          ioMs: n[9], weightedMs: n[10],
        },
        inFlight: n[8],
      });
    }
  }
  return out;
}

/** Reads /proc/diskstats; an error says what is wrong (not Linux, no /proc). */
export async function readDiskStats(signal?: AbortSignal, file = '/proc/diskstats'): Promise<DiskCounters[]> {
  if (process.platform !== 'linux') {
    throw new Error(`diskio check: reads Linux's /proc/diskstats; not available on ${process.platform}`);
  }
  let text: string;
  try {
    text = await readFile(file, { encoding: 'utf8', signal });
  } catch (err) {
    if (signal?.aborted) throw err;
    throw new Error(`diskio check: cannot read ${file} (${(err as Error).message}); is /proc mounted?`, { cause: err });
  }
  return parseDiskStats(text);
}

/** A whole disk /sys/block lists. */
export interface BlockDevice {
  /** Its name as /proc/diskstats has it (`sda`, `nvme0n1`, `cciss/c0d0`). */
  name: string;
  /** Size in 512-byte sectors (0 for an empty drive: no medium, an unattached loop or nbd). */
  sectors: number;
  /** A path of a multipath NVMe namespace, which does its I/O through its visible head. */
  hidden: boolean;
}

/** The whole disks of this host (/sys/block: partitions are not listed there). */
export async function listBlockDevices(root = '/sys/block'): Promise<BlockDevice[]> {
  const names = await readdir(root);
  return Promise.all(names.map(async (entry) => {
    const read = (f: string) => readFile(path.join(root, entry, f), 'utf8').then((t) => t.trim(), () => undefined);
    const [size, hidden] = await Promise.all([read('size'), read('hidden')]);
    // sysfs spells a / in a device name (cciss/c0d0) as !.
    return { name: entry.replace(/!/g, '/'), sectors: Number(size ?? 0) || 0, hidden: hidden === '1' };
  }));
}

/**
 * The diskstats name of a configured device: a name (`sda`, `nvme0n1`, `md0`) as it is, a path
 * under /dev (`/dev/sda`, `/dev/mapper/vg-root`, `/dev/disk/by-id/...`) resolved through its
 * links to the node it names (`dm-0`). Undefined for a path that does not exist.
 */
export async function deviceName(device: string): Promise<string | undefined> {
  if (!device.startsWith('/')) return device;
  try {
    const real = await realpath(device);
    return real.startsWith('/dev/') ? real.slice('/dev/'.length) : path.basename(real);
  } catch {
    return undefined;
  }
}
