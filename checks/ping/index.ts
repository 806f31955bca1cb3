import { spawn } from 'node:child_process';
import { z } from 'zod';
import { defineCheck, duration, formatDuration, targetDown, type FieldSpec, type Value } from '../types';

/** The most output read from ping: a few hundred reply lines and the summary. */
const MAX_OUTPUT_BYTES = 64 * 1024;

const schema = z.strictObject({
  host: z.string().min(1).regex(/^[^-\s]/, { message: 'must not start with "-" or a space' }).describe('Host name or IP address to ping (IPv4 or IPv6).'),
  count: z.number().int().min(1).max(100).default(3).describe('Echo requests sent per run (ping -c), 1 to 100.'),
  interval: duration({ min: 200, max: 60_000 }).default(200).describe('Time between requests (ping -i), at least 200ms.'),
  wait: duration({ min: 100, max: 60_000 }).default(1000).describe('How long to wait for a reply once the requests are sent (ping -W); shortened to fit the run timeout.'),
});

type PingSpec = z.output<typeof schema>;

const FIELDS: Record<string, FieldSpec> = {
  lossPercent: { type: 'number', unit: 'percent', help: 'Requests that got no reply, as ping reports it' },
  received: { type: 'number', unit: 'count', help: 'Replies received' },
  rttMinMs: { type: 'number', unit: 'ms', help: 'Fastest round trip (absent when no reply came)' },
  rttAvgMs: { type: 'number', unit: 'ms', help: 'Mean round trip (absent when no reply came)' },
  rttMaxMs: { type: 'number', unit: 'ms', help: 'Slowest round trip (absent when no reply came)' },
};

/** What ping printed as its summary: iputils and busybox formats. */
export interface PingSummary {
  transmitted: number;
  received: number;
  errors: number;
  lossPercent: number;
  rtt?: { min: number; avg: number; max: number };
}

/** Parses the statistics ping prints at the end; undefined when there are none (ping failed first). */
export function parsePingOutput(text: string): PingSummary | undefined {
  // iputils: "3 packets transmitted, 2 received, +1 errors, 33.3333% packet loss, time 2003ms"
  // busybox: "3 packets transmitted, 3 packets received, 0% packet loss"
  const counts = /(\d+) packets transmitted, (\d+) (?:packets )?received,(?: \+(\d+) duplicates,)?(?: \+(\d+) errors,)?(?: \+\d+ corrupted,)? ([\d.]+)% packet loss/.exec(text);
  if (!counts) return undefined;
  const summary: PingSummary = {
    transmitted: Number(counts[1]),
    received: Number(counts[2]),
    errors: Number(counts[4] ?? 0),
    lossPercent: Number(counts[5]),
  };
  // iputils: "rtt min/avg/max/mdev = 0.038/0.123/0.209/0.085 ms"; busybox: "round-trip min/avg/max = 0.058/0.073/0.093 ms"
  const rtt = /(?:rtt|round-trip) min\/avg\/max(?:\/(?:mdev|stddev))? = ([\d.]+)\/([\d.]+)\/([\d.]+)/.exec(text);
  if (rtt) summary.rtt = { min: Number(rtt[1]), avg: Number(rtt[2]), max: Number(rtt[3]) };
  return summary;
}

/** Why ping could not run at all, from its error output: the fix to make, or undefined if it is not that. */
export function notPermitted(stderr: string): string | undefined {
  if (/Operation not permitted|Permission denied|missing cap_net_raw/i.test(stderr)) {
    return 'ping is not permitted to open an ICMP socket: give it the capability (setcap cap_net_raw+ep "$(command -v ping)", as Debian\'s iputils-ping package does), ' +
      'allow unprivileged ICMP for the agent\'s group (sysctl net.ipv4.ping_group_range), or grant the agent CAP_NET_RAW (systemd AmbientCapabilities=CAP_NET_RAW)';
  }
  return undefined;
}

/** The ping arguments for a run: count, interval and reply wait shrunk so that ping ends before the run's timeout. */
export function pingArgs(spec: PingSpec, timeoutMs: number): string[] {
  const budget = timeoutMs - Math.min(100, timeoutMs * 0.1);
  let count = spec.count;
  // Keep at least 100 ms for the last reply: send fewer requests rather than time out.
  while (count > 1 && budget - (count - 1) * spec.interval < 100) count--;
  const wait = Math.max(100, Math.min(spec.wait, budget - (count - 1) * spec.interval));
  const seconds = (ms: number) => String(Math.round(ms) / 1000);
  return ['-n', '-c', String(count), '-i', seconds(spec.interval), '-W', seconds(wait), spec.host];
}

/** Sends ICMP echo requests with the system ping (iputils) and reports loss and round-trip times. */
export const pingCheck = defineCheck({
  type: 'ping',
  category: 'health',
  summary: 'Pings a host with the system ping (iputils); reports packet loss and round-trip min/avg/max. No reply at all is critical.',
  schema,
  fields: FIELDS,
  defaults: { warn: ['lossPercent > 10'] },
  async run({ spec, signal, timeoutMs }) {
    const args = pingArgs(spec, timeoutMs);
    const r = await runPing(args, signal);
    if (r.spawnError) {
      if (r.spawnError.code === 'ENOENT') throw new Error('ping is not installed: install iputils-ping (Debian, Ubuntu: apt-get install iputils-ping; RHEL: dnf install iputils)');
      throw new Error(`could not run ping: ${r.spawnError.message}`);
    }
    if (r.aborted) return targetDown('timeout', `ping ${spec.host}: no result within ${formatDuration(timeoutMs)}`);
    const denied = notPermitted(r.stderr);
    if (denied) throw new Error(denied);

    const summary = parsePingOutput(r.stdout);
    if (!summary) {
      const err = lastLine(r.stderr) || lastLine(r.stdout) || `exit status ${r.code}`;
      if (/Name or service not known|Temporary failure in name resolution|unknown host|bad address|No address associated/i.test(err)) {
        return targetDown('dns', `ping ${spec.host}: ${err}`);
      }
      if (/unreachable|No route to host/i.test(err)) return targetDown('refused', `ping ${spec.host}: ${err}`);
      throw new Error(`ping ${spec.host} failed: ${err}`);
    }

    const values: Record<string, Value> = { lossPercent: summary.lossPercent, received: summary.received };
    if (summary.rtt) Object.assign(values, { rttMinMs: summary.rtt.min, rttAvgMs: summary.rtt.avg, rttMaxMs: summary.rtt.max });
    const sent = `${summary.received}/${summary.transmitted} replies, ${summary.lossPercent}% loss`;
    if (summary.received === 0) {
      // ICMP errors (host unreachable) say something answered for it: the route, not the wait, failed.
      return summary.errors > 0
        ? targetDown('refused', `ping ${spec.host}: ${sent}, ${summary.errors} errors (${lastReplyError(r.stdout) ?? 'unreachable'})`, values)
        : targetDown('timeout', `ping ${spec.host}: ${sent}, no reply`, values);
    }
    return { values, message: `ping ${spec.host}: ${sent}, rtt min/avg/max ${summary.rtt ? `${summary.rtt.min}/${summary.rtt.avg}/${summary.rtt.max} ms` : 'unknown'}` };
  },
});

function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  return (lines.at(-1) ?? '').slice(0, 200);
}

function lastReplyError(stdout: string): string | undefined {
  return /From \S+ icmp_seq=\d+ (.+)/.exec(stdout)?.[1]?.trim().slice(0, 100);
}

interface PingRun {
  stdout: string;
  stderr: string;
  code: number | null;
  aborted: boolean;
  spawnError?: NodeJS.ErrnoException;
}

/** Runs ping with a C locale; killed when the run is aborted. Never rejects. */
function runPing(args: string[], signal: AbortSignal): Promise<PingRun> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve({ stdout: '', stderr: '', code: null, aborted: true });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let bytes = 0;
    let settled = false;
    const child = spawn('ping', args, { env: { ...process.env, LC_ALL: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (into: Buffer[]) => (chunk: Buffer) => {
      if (bytes >= MAX_OUTPUT_BYTES) return;
      into.push(chunk.subarray(0, MAX_OUTPUT_BYTES - bytes));
      bytes += chunk.length;
    };
    child.stdout.on('data', keep(out));
    child.stderr.on('data', keep(err));
    const finish = (patch: Partial<PingRun>) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      resolve({ stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), code: null, aborted: false, ...patch });
    };
    const onAbort = () => {
      child.kill('SIGKILL');
      finish({ aborted: true });
    };
    signal.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e: NodeJS.ErrnoException) => finish({ spawnError: e }));
    child.on('close', (code) => finish({ code }));
  });
}
