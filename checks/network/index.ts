import { z } from 'zod';
import { CounterMemory, measureRates, nameGlob, type Measured } from '../counters';
import {
  defineCheck, duration, formatBytes, formatDuration, round, sampleFitsTimeout, sampleWindow, targetDown,
  type Expansion, type FieldSpec,
} from '../types';
import { listInterfaces, readLink, readNetDev, type CounterKey, type LinkInfo } from './procnet';

export { parseNetDev, isUp, readLink, readNetDev } from './procnet';

/** The sample window of a run with no previous reading to compare with (and the timeout leaves room for it). */
const SAMPLE_MS = 1000;

/**
 * Interfaces not watched unless `include` names them: loopback, and those that come and go
 * with containers (a veth pair per container, a br-<12 hex> bridge per docker network), each
 * of which would be a check that vanishes at the next reload.
 */
export const SKIPPED_INTERFACES: readonly RegExp[] = [/^lo$/, /^veth/, /^br-[0-9a-f]{12}$/];

const globs = z.array(z.string().min(1)).min(1);

const schema = z
  .strictObject({
    interface: z
      .string()
      .regex(/^[^\s/]{1,15}$/, { message: 'expected an interface name such as eth0 or ens3 (at most 15 characters, no spaces or /)' })
      .optional()
      .describe('Interface to watch (e.g. eth0). Omit to watch every interface of this host (its network namespace), one check each, lo and container veth/br- interfaces skipped.'),
    include: globs
      .optional()
      .describe('Without interface: watch only interfaces matching these globs (e.g. [eth*, ens*, bond0]); replaces the built-in list of interfaces to skip (lo, veth*, docker br-*).'),
    exclude: globs.optional().describe('Without interface: interfaces to skip besides the built-in ones, as globs (e.g. [docker0, virbr*]).'),
    speedMbps: z
      .number()
      .positive()
      .optional()
      .describe('Link capacity in Mb/s for rxUtilPercent/txUtilPercent; wins over the speed the driver reports (set it for virtio and cloud NICs, which report none, or for a link shaped below its NIC speed).'),
    sample: duration({ min: 100, max: 60_000 })
      .optional()
      .describe(`When a run has no previous reading to compare with (the first after a start): how long to watch the counters (default ${formatDuration(SAMPLE_MS)}, or half the timeout when that is shorter). Must be shorter than the timeout.`),
  })
  .refine((s) => s.interface === undefined || (s.include === undefined && s.exclude === undefined), {
    message: 'include and exclude choose among discovered interfaces; drop them or drop interface',
    path: ['interface'],
  });

type NetworkSpec = z.output<typeof schema>;

const rate = (what: string): FieldSpec => ({ type: 'number', help: `${what} per second, since the previous run (or over the sample window on a first run)` });

const fields: Record<string, FieldSpec> = {
  rxBytesPerSec: { ...rate('Bytes received'), unit: 'bytes', help: 'Bytes received per second (conditions take sizes: rxBytesPerSec > 10MB), since the previous run (or over the sample window on a first run)' },
  txBytesPerSec: { ...rate('Bytes sent'), unit: 'bytes', help: 'Bytes sent per second (conditions take sizes: txBytesPerSec > 10MB), since the previous run (or over the sample window on a first run)' },
  rxPacketsPerSec: { ...rate('Packets received'), unit: 'none' },
  txPacketsPerSec: { ...rate('Packets sent'), unit: 'none' },
  rxErrorsPerSec: { ...rate('Receive errors (bad frames, CRC, overruns as the driver counts them)'), unit: 'none' },
  txErrorsPerSec: { ...rate('Transmit errors (carrier, aborted, window, heartbeat)'), unit: 'none' },
  rxDropsPerSec: { ...rate('Received packets dropped (no buffer, unknown protocol or VLAN; common and often harmless)'), unit: 'none' },
  txDropsPerSec: { ...rate('Packets dropped before sending (queue full, no route to the link)'), unit: 'none' },
  up: { type: 'boolean', help: 'Whether the interface passes traffic: operstate up, or unknown (loopback, tun) while administratively up with a carrier' },
  speedMbps: { type: 'number', unit: 'none', help: 'Link speed in Mb/s: the speedMbps key, else what the driver reports; absent when neither says' },
  rxUtilPercent: { type: 'number', unit: 'percent', help: 'Receive throughput as a share of the link speed (absent without a speed)' },
  txUtilPercent: { type: 'number', unit: 'percent', help: 'Send throughput as a share of the link speed (absent without a speed)' },
};

/** The last counters of each network check, by check name (a check's first run samples instead). */
const memory = new CounterMemory<CounterKey>();

/** Per-interface throughput, packets, errors and drops per second, from the kernel's counters. */
export const networkCheck = defineCheck({
  type: 'network',
  category: 'performance',
  summary: 'Reports per-interface bytes, packets, errors and drops per second (from /proc/net/dev), link up and speed; without interface, one check per interface.',
  schema,
  fields,
  // Errors mean a bad cable, a duplex mismatch or a failing NIC; drops are often harmless
  // (frames for unknown protocols or VLANs), and a down link is normal for an unused port or
  // a bridge with no members: those are left to the user's own conditions.
  defaults: { warn: ['rxErrorsPerSec > 1', 'txErrorsPerSec > 1'] },
  validate: sampleFitsTimeout,
  async expand(spec) {
    if (spec.interface !== undefined) return undefined; // one named interface: the entry stays as written
    if (process.platform !== 'linux') return undefined; // the run says why it cannot watch anything
    let names: string[];
    try {
      names = (await readNetDev()).map((i) => i.name);
    } catch {
      return undefined;
    }
    const chosen = selectInterfaces(names, spec);
    return chosen.length ? chosen.map((i) => expansion(spec, i)) : undefined;
  },
  async run({ name, spec, signal, timeoutMs }) {
    const iface = spec.interface;
    if (iface === undefined) {
      await readNetDev(signal); // not Linux, no /proc: that is the message
      throw new Error(
        'network check: no interface to watch: every interface here is skipped (lo, veth*, docker br-*) or excluded; ' +
        `name one with interface: (interfaces here: ${(await listInterfaces().catch(() => [])).join(', ') || 'none'})`,
      );
    }
    let link: LinkInfo | undefined;
    let known: string[] = [];
    const read = async () => {
      const all = await readNetDev(signal);
      const found = all.find((i) => i.name === iface);
      if (!found) {
        known = all.map((i) => i.name);
        throw new MissingInterface();
      }
      link = await readLink(iface, signal);
      return { identity: `${iface}#${link.ifindex ?? ''}`, counters: found.counters };
    };
    let m: Measured<CounterKey>;
    try {
      m = await measureRates({ memory, name, read, sampleMs: sampleWindow(spec, timeoutMs, SAMPLE_MS), signal });
    } catch (err) {
      if (err instanceof MissingInterface) return targetDown('error', `no interface ${iface}; interfaces here: ${known.join(', ') || 'none'}`);
      throw err;
    }
    return observe(iface, link!, spec, m);
  },
});

class MissingInterface extends Error {}

function observe(iface: string, link: LinkInfo, spec: NetworkSpec, m: Measured<CounterKey>) {
  const r = m.rates;
  const values: Record<string, number | boolean> = {
    rxBytesPerSec: round(r.rxBytes),
    txBytesPerSec: round(r.txBytes),
    rxPacketsPerSec: round(r.rxPackets),
    txPacketsPerSec: round(r.txPackets),
    rxErrorsPerSec: round(r.rxErrors, 4),
    txErrorsPerSec: round(r.txErrors, 4),
    rxDropsPerSec: round(r.rxDrops, 4),
    txDropsPerSec: round(r.txDrops, 4),
    up: link.up,
  };
  const speed = spec.speedMbps ?? link.speedMbps;
  if (speed !== undefined) {
    values.speedMbps = speed;
    values.rxUtilPercent = utilisation(r.rxBytes, speed);
    values.txUtilPercent = utilisation(r.txBytes, speed);
  }
  let message = `${iface} ${link.up ? 'up' : link.operstate === 'up' || link.operstate === 'unknown' ? 'not running' : link.operstate}`;
  if (speed !== undefined) message += ` (${speed} Mb/s)`;
  message += `: rx ${formatBytes(values.rxBytesPerSec as number)}/s, tx ${formatBytes(values.txBytesPerSec as number)}/s`;
  const bad = (['rxErrors', 'txErrors', 'rxDrops', 'txDrops'] as const).filter((k) => m.deltas[k] > 0);
  if (bad.length) message += `, ${bad.map((k) => `${m.deltas[k]} ${k.slice(0, 2)} ${k.slice(2).toLowerCase()}`).join(', ')}`;
  message += m.sampled ? ` over ${span(m.elapsedS)}` : ` over the last ${span(m.elapsedS)}`;
  if (m.resets.length) message += `; counters went down (${m.resets.join(', ')}): counted from 0`;
  return { values, message };
}

/** Throughput in bytes/s as a percentage of a link of `mbps` megabits/s, capped at 100. */
function utilisation(bytesPerSec: number, mbps: number): number {
  return round(Math.min(100, ((bytesPerSec * 8) / (mbps * 1e6)) * 100), 2);
}

function span(seconds: number): string {
  return seconds < 10 ? `${round(seconds, 1)}s` : formatDuration(Math.round(seconds) * 1000);
}

/** The interfaces a check without `interface` watches, sorted (see {@link SKIPPED_INTERFACES}). */
export function selectInterfaces(names: readonly string[], spec: Pick<NetworkSpec, 'include' | 'exclude'>): string[] {
  const include = spec.include?.map(nameGlob);
  const exclude = (spec.exclude ?? []).map(nameGlob);
  return [...new Set(names)]
    .filter((n) => (include ? include.some((g) => g.test(n)) : !SKIPPED_INTERFACES.some((g) => g.test(n))) && !exclude.some((g) => g.test(n)))
    .sort();
}

function expansion(spec: NetworkSpec, iface: string): Expansion<NetworkSpec> {
  // The expanded spec names one interface, so the discovery filters no longer apply to it.
  const { include: _include, exclude: _exclude, ...rest } = spec;
  return { suffix: iface, spec: { ...rest, interface: iface }, labels: { interface: iface } };
}
