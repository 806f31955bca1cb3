/** Reading Linux's per-interface counters (/proc/net/dev) and link state (/sys/class/net). */
import { readdir, readFile } from 'node:fs/promises';
import type { Counters } from '../counters';

export const COUNTER_KEYS = ['rxBytes', 'rxPackets', 'rxErrors', 'rxDrops', 'txBytes', 'txPackets', 'txErrors', 'txDrops'] as const;
export type CounterKey = (typeof COUNTER_KEYS)[number];

/** An interface's counters from /proc/net/dev. */
export interface InterfaceCounters {
  name: string;
  counters: Counters<CounterKey>;
}

/**
 * Parses /proc/net/dev: two header lines, then `name: ` and 16 numbers (8 receive: bytes
 * packets errs drop fifo frame compressed multicast; 8 transmit: bytes packets errs drop fifo
 * colls carrier compressed). The name is right-aligned to 6 columns; a long one, or an old
 * kernel's large counter, leaves no space after the colon (`eth0:123456`), so the name is what
 * precedes the colon that the numbers follow.
 */
export function parseNetDev(text: string): InterfaceCounters[] {
  const out: InterfaceCounters[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(\S.*?):\s*(\d+(?:\s+\d+){15})\s*$/.exec(line);
    if (!m) continue;
    const n = m[2].split(/\s+/).map(Number);
    out.push({
      name: m[1],
      counters: { rxBytes: n[0], rxPackets: n[1], rxErrors: n[2], rxDrops: n[3], txBytes: n[8], txPackets: n[9], txErrors: n[10], txDrops: n[11] },
    });
  }
  return out;
}

/** What /sys/class/net says about an interface's link. */
export interface LinkInfo {
  /** operstate as the kernel words it: up, down, unknown, dormant, lowerlayerdown, notpresent, testing. */
  operstate: string;
  /** Whether it can pass traffic now (see {@link isUp}). */
  up: boolean;
  /** Link speed in Mb/s, when the driver reports one. */
  speedMbps?: number;
  /** The kernel's index of the interface; a re-created interface gets a new one. */
  ifindex?: number;
  /** Administratively up (IFF_UP), whatever the link. */
  adminUp: boolean;
}

const IFF_UP = 0x1;

/**
 * Whether an interface passes traffic: operstate `up`; or `unknown`, which loopback, tun/tap,
 * ppp and some virtual drivers report for ever because they have no link state to speak of,
 * when the interface is administratively up (IFF_UP in `flags`) and has a carrier (`carrier`
 * reads 1; `ip link` shows the two as UP and LOWER_UP). Every other state (down,
 * lowerlayerdown, dormant, notpresent, testing) is down.
 */
export function isUp(operstate: string, flags: number | undefined, carrier: string | undefined): boolean {
  if (operstate === 'up') return true;
  if (operstate === 'unknown') return flags !== undefined && (flags & IFF_UP) !== 0 && carrier === '1';
  return false;
}

/** The link state of `name` from /sys/class/net/<name> (carrier reads fail with EINVAL on a down interface); what a file does not say is left out. */
export async function readLink(name: string, signal?: AbortSignal, root = '/sys/class/net'): Promise<LinkInfo> {
  const dir = `${root}/${name}`;
  const read = (f: string) => readFile(`${dir}/${f}`, { encoding: 'utf8', signal }).then((t) => t.trim(), () => undefined);
  const [operstate, speed, flags, ifindex, carrier] = await Promise.all(['operstate', 'speed', 'flags', 'ifindex', 'carrier'].map(read));
  const flagBits = flags !== undefined && /^0x[0-9a-f]+$/i.test(flags) ? parseInt(flags, 16) : undefined;
  const state = operstate ?? 'unknown';
  // speed is -1, or a read fails with EINVAL, when the driver does not know (virtio, down links).
  const mbps = speed !== undefined && /^\d+$/.test(speed) && Number(speed) > 0 ? Number(speed) : undefined;
  return {
    operstate: state,
    up: isUp(state, flagBits, carrier),
    ...(mbps !== undefined ? { speedMbps: mbps } : {}),
    ...(ifindex !== undefined && /^\d+$/.test(ifindex) ? { ifindex: Number(ifindex) } : {}),
    adminUp: flagBits !== undefined && (flagBits & IFF_UP) !== 0,
  };
}

/** Reads /proc/net/dev; an error says what is wrong (no /proc, not Linux). */
export async function readNetDev(signal?: AbortSignal, file = '/proc/net/dev'): Promise<InterfaceCounters[]> {
  if (process.platform !== 'linux') {
    throw new Error(`network check: reads Linux's /proc/net/dev; not available on ${process.platform}`);
  }
  let text: string;
  try {
    text = await readFile(file, { encoding: 'utf8', signal });
  } catch (err) {
    if (signal?.aborted) throw err;
    throw new Error(`network check: cannot read ${file} (${(err as Error).message}); is /proc mounted?`, { cause: err });
  }
  return parseNetDev(text);
}

/** The interfaces /sys/class/net lists (those of this network namespace). */
export async function listInterfaces(root = '/sys/class/net'): Promise<string[]> {
  return (await readdir(root)).sort();
}
