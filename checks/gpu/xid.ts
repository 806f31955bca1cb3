import fs from 'node:fs';
import type { CheckState } from '../types';
import { busKey } from './nvidia-smi';

/** Where the kernel log and the boot id are read; tests point them at files of their own. */
export const xidSource = { kmsg: '/dev/kmsg', bootId: '/proc/sys/kernel/random/boot_id' };

/** The most kernel log read per run (the ring buffer is 128 KiB to a few MiB). */
const MAX_KMSG_BYTES = 16 * 1024 * 1024;
/** A /dev/kmsg read returns one record and fails with EINVAL when the buffer is smaller. */
const READ_BUFFER = 16 * 1024;

/** One Xid the NVIDIA driver logged: `NVRM: Xid (PCI:0000:00:06): 79, pid=…, …`. */
export interface Xid {
  /** The GPU's PCI address as {@link busKey} gives it. */
  bus: string;
  xid: number;
}

/** The Xid in a kernel log message, if it is one (`NVRM: Xid (PCI:0000:3b:00): 79, …`; older drivers omit `PCI:`). */
export function parseXidLine(message: string): Xid | undefined {
  const m = /NVRM: Xid \(((?:PCI:)?[0-9a-f]+:[0-9a-f]+:[0-9a-f]+(?:\.[0-9a-f]+)?)\): (\d+)\b/i.exec(message);
  if (!m) return undefined;
  const bus = busKey(m[1]);
  return bus === undefined ? undefined : { bus, xid: Number(m[2]) };
}

/**
 * The records of /dev/kmsg text: `<prio>,<seq>,<usec>,<flags>[,…];<message>`, one per line;
 * the continuation lines holding a record's dictionary (` SUBSYSTEM=pci`) are skipped.
 */
export function parseKmsg(text: string): Array<{ seq: number; message: string }> {
  const out: Array<{ seq: number; message: string }> = [];
  for (const line of text.split('\n')) {
    const m = /^\d+,(\d+),\d+,[^;]*;(.*)$/.exec(line);
    if (m) out.push({ seq: Number(m[1]), message: m[2] });
  }
  return out;
}

/**
 * The kernel log as /dev/kmsg gives it: opened non-blocking, read record by record until
 * EAGAIN (the end), at most MAX_KMSG_BYTES. EPIPE says records were overwritten while reading:
 * the next read goes on with the oldest left. Synchronous: no read ever waits, and thousands
 * of one-record reads through the thread pool would cost more than they spare.
 */
export function readKmsg(file: string): string {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  try {
    const buf = Buffer.allocUnsafe(READ_BUFFER);
    const chunks: Buffer[] = [];
    let total = 0;
    let overwritten = 0;
    while (total < MAX_KMSG_BYTES) {
      let n: number;
      try {
        n = fs.readSync(fd, buf, 0, buf.length, null);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') break;
        if (code === 'EPIPE' && ++overwritten < 100) continue;
        throw err;
      }
      if (n === 0) break;
      chunks.push(Buffer.from(buf.subarray(0, n)));
      total += n;
    }
    return Buffer.concat(chunks).toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
}

/** Xids of one GPU since the previous run (or since boot), or why they could not be read. */
export type XidCount = { count: number; last?: number; since: 'boot' | 'the last run' } | { unavailable: string };

interface XidMark {
  boot: string;
  seq: number;
}

/**
 * Counts the Xids the kernel logged for the GPU at `bus` (nvidia-smi's pci.bus_id) after the
 * record the previous run stopped at (kept in the check's state with the boot id: sequence
 * numbers start again at each boot). The first run, or the first after a reboot, counts every
 * Xid still in the kernel's ring buffer.
 */
export async function countXids(bus: string, state: CheckState): Promise<XidCount> {
  const key = busKey(bus);
  if (key === undefined) return { unavailable: `Xid errors not read: no PCI address for the GPU ("${bus}")` };
  let text: string;
  try {
    text = readKmsg(xidSource.kmsg);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'EPERM' || code === 'EACCES' ? `reading ${xidSource.kmsg} needs root or CAP_SYSLOG (kernel.dmesg_restrict=1)` :
      code === 'ENOENT' ? `no ${xidSource.kmsg} (a container without the kernel log?)` :
      `${xidSource.kmsg}: ${(err as Error).message}`;
    return { unavailable: `Xid errors not read: ${why}` };
  }
  let boot = '';
  try {
    boot = fs.readFileSync(xidSource.bootId, 'utf8').trim();
  } catch {
    // No boot id: sequence numbers alone, which only go back after a reboot.
  }
  const records = parseKmsg(text);
  const mark = (await state.get('xid')) as XidMark | undefined;
  const maxSeq = records.reduce((m, r) => Math.max(m, r.seq), -1);
  const valid = mark !== undefined && mark.boot === boot && typeof mark.seq === 'number' && mark.seq <= maxSeq;
  const after = valid ? mark.seq : -1;
  let count = 0;
  let last: number | undefined;
  for (const r of records) {
    if (r.seq <= after) continue;
    const x = parseXidLine(r.message);
    if (x?.bus !== key) continue;
    count++;
    last = x.xid;
  }
  if (maxSeq >= 0) await state.set('xid', { boot, seq: maxSeq } satisfies XidMark);
  return { count, last, since: valid ? 'the last run' : 'boot' };
}
