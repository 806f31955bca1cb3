import { z } from 'zod';
import { CounterMemory, measureRates, nameGlob, type Counters, type Measured } from '../counters';
import {
  defineCheck, duration, formatBytes, formatDuration, round, sampleFitsTimeout, sampleWindow, targetDown,
  type Expansion, type FieldSpec,
} from '../types';
import { deviceName, listBlockDevices, readDiskStats, type CounterKey, type DiskCounters } from './diskstats';

export { parseDiskStats, deviceName, listBlockDevices, readDiskStats } from './diskstats';

/** The sample window of a run with no previous reading to compare with (and the timeout leaves room for it). */
const SAMPLE_MS = 1000;

/** Sectors in /proc/diskstats are 512 bytes, whatever the device's own sector size. */
const SECTOR_BYTES = 512;

/**
 * Whole disks not watched unless `include` names them: loop devices (one per snap on Ubuntu),
 * RAM disks and zram (memory, not storage), and device-mapper nodes (LVM, LUKS, multipath),
 * whose dm-N names change between boots and whose I/O is the disks' beneath them again; name
 * one with `device: /dev/mapper/<name>`.
 */
export const SKIPPED_DEVICES: readonly RegExp[] = [/^loop\d/, /^ram\d/, /^zram\d/, /^dm-\d/];

const globs = z.array(z.string().min(1)).min(1);

const schema = z
  .strictObject({
    device: z
      .string()
      .regex(/^\S+$/, { message: 'expected a device name such as sda or nvme0n1, or a path such as /dev/mapper/vg-root' })
      .optional()
      .describe('Device to watch: a name as /proc/diskstats has it (sda, nvme0n1, md0, sda1) or a path under /dev (/dev/mapper/vg-root, /dev/disk/by-id/...). Omit to watch every whole disk, one check each (loop, ram, zram and dm-* skipped).'),
    include: globs
      .optional()
      .describe('Without device: watch only disks matching these globs (e.g. [sd*, nvme*n1]); replaces the built-in list of devices to skip (loop*, ram*, zram*, dm-*).'),
    exclude: globs.optional().describe('Without device: disks to skip besides the built-in ones, as globs (e.g. [sr*, nbd*]).'),
    sample: duration({ min: 100, max: 60_000 })
      .optional()
      .describe(`When a run has no previous reading to compare with (the first after a start): how long to watch the counters (default ${formatDuration(SAMPLE_MS)}, or half the timeout when that is shorter). Must be shorter than the timeout.`),
  })
  .refine((s) => s.device === undefined || (s.include === undefined && s.exclude === undefined), {
    message: 'include and exclude choose among discovered disks; drop them or drop device',
    path: ['device'],
  });

type DiskioSpec = z.output<typeof schema>;

const since = 'since the previous run (or over the sample window on a first run)';

const fields: Record<string, FieldSpec> = {
  readBytesPerSec: { type: 'number', unit: 'bytes', help: `Bytes read per second (conditions take sizes: readBytesPerSec > 100MB), ${since}` },
  writeBytesPerSec: { type: 'number', unit: 'bytes', help: `Bytes written per second (conditions take sizes: writeBytesPerSec > 100MB), ${since}` },
  readIops: { type: 'number', unit: 'none', help: `Reads completed per second (merged requests count once), ${since}` },
  writeIops: { type: 'number', unit: 'none', help: `Writes completed per second (merged requests count once), ${since}` },
  utilPercent: { type: 'number', unit: 'percent', help: 'Share of the time the device had I/O in flight (iostat %util), capped at 100; devices serving requests in parallel (SSD, NVMe, RAID) can be far from saturated at 100' },
  awaitMs: { type: 'number', unit: 'ms', help: 'Average time a read or write took, queueing included (iostat r_await/w_await together), over the I/Os of the interval; 0 without I/O' },
  queueDepth: { type: 'number', unit: 'none', help: 'Average number of requests in flight or queued (iostat aqu-sz)' },
};

/** The last counters of each diskio check, by check name (a check's first run samples instead). */
const memory = new CounterMemory<CounterKey>();

/** Per-disk throughput, IOPS, utilisation, latency and queue depth from the kernel's counters. */
export const diskioCheck = defineCheck({
  type: 'diskio',
  category: 'performance',
  summary: 'Reports per-disk read/write bytes per second, IOPS, utilisation, await and queue depth (from /proc/diskstats); without device, one check per whole disk.',
  schema,
  fields,
  // A disk busy all the time queues every request behind the others: worth a look, not a page
  // (an NVMe drive at 100% may still have room, so no critical level is assumed).
  defaults: { warn: ['utilPercent > 90'] },
  validate: sampleFitsTimeout,
  async expand(spec) {
    if (spec.device !== undefined) return undefined; // one named device: the entry stays as written
    if (process.platform !== 'linux') return undefined; // the run says why it cannot watch anything
    let chosen: string[];
    try {
      const [stats, disks] = await Promise.all([readDiskStats(), listBlockDevices()]);
      const counted = new Set(stats.map((s) => s.name));
      const real = disks.filter((d) => d.sectors > 0 && !d.hidden && counted.has(d.name)).map((d) => d.name);
      chosen = selectDevices(real, spec);
    } catch {
      return undefined;
    }
    return chosen.length ? chosen.map((d) => expansion(spec, d)) : undefined;
  },
  async run({ name, spec, signal, timeoutMs }) {
    if (spec.device === undefined) {
      const stats = await readDiskStats(signal); // not Linux, no /proc: that is the message
      throw new Error(
        'diskio check: no disk to watch: every disk here is skipped (loop, ram, zram, dm-*), empty or excluded; ' +
        `name one with device: (devices here: ${stats.map((s) => s.name).join(', ') || 'none'})`,
      );
    }
    const dev = await deviceName(spec.device);
    let known: string[] = [];
    let last: DiskCounters | undefined;
    const read = async () => {
      const all = await readDiskStats(signal);
      const found = dev === undefined ? undefined : all.find((d) => d.name === dev);
      if (!found) {
        known = all.map((d) => d.name);
        throw new MissingDevice();
      }
      last = found;
      return { identity: `${found.major}:${found.minor}`, counters: found.counters as Counters<CounterKey> };
    };
    let m: Measured<CounterKey>;
    try {
      m = await measureRates({ memory, name, read, sampleMs: sampleWindow(spec, timeoutMs, SAMPLE_MS), signal });
    } catch (err) {
      if (err instanceof MissingDevice) {
        const what = dev === undefined ? `${spec.device} does not exist` : `no device ${dev}${dev !== spec.device ? ` (${spec.device})` : ''} in /proc/diskstats`;
        return targetDown('error', `${what}; devices here: ${summarise(known)}`);
      }
      throw err;
    }
    return observe(last!.name, m);
  },
});

class MissingDevice extends Error {}

/** The values of an interval, and its message; a line without times (an old kernel's partition) has no utilisation, await or queue. */
export function diskValues(m: Pick<Measured<CounterKey>, 'rates' | 'deltas' | 'elapsedS'>): Record<string, number> {
  const r = m.rates as Partial<Counters<CounterKey>>;
  const d = m.deltas as Partial<Counters<CounterKey>>;
  const values: Record<string, number> = {
    readBytesPerSec: round((r.readSectors ?? 0) * SECTOR_BYTES),
    writeBytesPerSec: round((r.writeSectors ?? 0) * SECTOR_BYTES),
    readIops: round(r.reads ?? 0, 2),
    writeIops: round(r.writes ?? 0, 2),
  };
  if (d.ioMs !== undefined) values.utilPercent = round(Math.min(100, (d.ioMs / (m.elapsedS * 1000)) * 100));
  if (d.readMs !== undefined && d.writeMs !== undefined) {
    const ios = (d.reads ?? 0) + (d.writes ?? 0);
    values.awaitMs = ios > 0 ? round((d.readMs + d.writeMs) / ios, 2) : 0;
  }
  if (d.weightedMs !== undefined) values.queueDepth = round(d.weightedMs / (m.elapsedS * 1000), 2);
  return values;
}

function observe(dev: string, m: Measured<CounterKey>) {
  const values = diskValues(m);
  let message = `${dev}: read ${formatBytes(values.readBytesPerSec)}/s (${values.readIops} IOPS), ` +
    `write ${formatBytes(values.writeBytesPerSec)}/s (${values.writeIops} IOPS)`;
  if (values.utilPercent !== undefined) message += `, ${values.utilPercent}% busy`;
  if (values.awaitMs) message += `, await ${values.awaitMs}ms`;
  message += m.sampled ? ` over ${span(m.elapsedS)}` : ` over the last ${span(m.elapsedS)}`;
  if (m.resets.length) message += `; counters went down (${m.resets.join(', ')}): counted from 0`;
  return { values, message };
}

function span(seconds: number): string {
  return seconds < 10 ? `${round(seconds, 1)}s` : formatDuration(Math.round(seconds) * 1000);
}

/** The devices of a message: loop, ram, zram and dm-* left out when there are many. */
function summarise(names: string[]): string {
  if (names.length <= 20) return names.join(', ') || 'none';
  const shown = names.filter((n) => !SKIPPED_DEVICES.some((g) => g.test(n)));
  return `${shown.slice(0, 20).join(', ')}, … (${names.length} in all)`;
}

/** The disks a check without `device` watches, sorted (see {@link SKIPPED_DEVICES}). */
export function selectDevices(names: readonly string[], spec: Pick<DiskioSpec, 'include' | 'exclude'>): string[] {
  const include = spec.include?.map(nameGlob);
  const exclude = (spec.exclude ?? []).map(nameGlob);
  return [...new Set(names)]
    .filter((n) => (include ? include.some((g) => g.test(n)) : !SKIPPED_DEVICES.some((g) => g.test(n))) && !exclude.some((g) => g.test(n)))
    .sort();
}

function expansion(spec: DiskioSpec, device: string): Expansion<DiskioSpec> {
  // The expanded spec names one device, so the discovery filters no longer apply to it.
  const { include: _include, exclude: _exclude, ...rest } = spec;
  return { suffix: device, spec: { ...rest, device }, labels: { device } };
}
