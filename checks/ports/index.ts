import path from 'node:path';
import { z } from 'zod';
import { defineCheck, findingFields, findingValues, type FieldSpec, type Finding } from '../types';
import { endpoint, isLoopback, readListening, socketOwners, type ListeningSocket, type Proto, type SocketOwner } from './proc-net';

const MINUTE = 60_000;

export { decodeAddress, formatIpv6, isLoopback, parseProcNet } from './proc-net';

/** `22/tcp`, `60000-61000/udp`, `22/tcp@sshd`. */
const ENTRY = /^(\d{1,5})(?:-(\d{1,5}))?\/(tcp|udp)(?:@([^/\s]+))?$/;

/** One entry of `allow` or `required`. */
export interface PortRule {
  text: string;
  from: number;
  to: number;
  proto: Proto;
  /** The process that must hold the socket: its kernel name or the last part of argv[0]. */
  process?: string;
}

/** Parses `port[-port]/proto[@process]`, or undefined when it is not one. */
export function parseRule(text: string): PortRule | undefined {
  const m = ENTRY.exec(text.trim());
  if (!m) return undefined;
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  if (from < 1 || to > 65_535 || to < from) return undefined;
  return { text: text.trim(), from, to, proto: m[3] as Proto, process: m[4] };
}

const rules = z
  .array(z.string().refine((s) => parseRule(s) !== undefined, {
    message: 'expected port/proto or port/proto@process: 22/tcp, 53/udp, 22/tcp@sshd, 60000-61000/udp (ports 1 to 65535)',
  }));

const schema = z.strictObject({
  allow: rules.describe(
    'Sockets allowed to listen, as port/proto[@process]: 22/tcp@sshd, 9470/tcp, 53/udp, 60000-61000/udp. tcp and udp cover IPv4 and IPv6; ' +
    '@process is the kernel name (/proc/PID/comm) or argv[0]. [] means nothing may listen.',
  ),
  required: rules
    .optional()
    .describe('Entries that must be listening (same form as allow, and allowed by being listed); one that is not is a missing finding.'),
  ignoreLoopback: z
    .boolean()
    .default(false)
    .describe('Leave out sockets bound to 127.0.0.0/8 or ::1 (only this machine can reach them); sockets on 0.0.0.0 or :: always count.'),
  procRoot: z
    .string()
    .refine((p) => path.isAbsolute(p), { message: 'expected an absolute path such as /proc' })
    .default('/proc')
    .describe('Where proc is mounted (for tests and containers); the socket tables are read from <procRoot>/net/.'),
});

type PortsSpec = z.output<typeof schema>;

const fields: Record<string, FieldSpec> = {
  listening: { type: 'number', unit: 'count', help: 'Ports listening (distinct port/proto; IPv4 and IPv6 on one port count once), after ignoreLoopback' },
  unexpected: { type: 'number', unit: 'count', help: 'Listening ports with a socket that no allow entry covers' },
  missing: { type: 'number', unit: 'count', help: 'required entries with no matching socket' },
  unattributed: { type: 'number', unit: 'count', help: 'Listening ports with a socket whose process could not be identified (another user\'s, without root)' },
  ...findingFields({
    high: 'Findings of severity high (unexpected ports reachable from the network)',
    medium: 'Findings of severity medium (unexpected loopback-only ports, missing ports)',
    info: 'Findings of severity info (processes that could not be identified)',
  }),
};

/** Compares the sockets listening on this machine with an allow-list. */
export const portsCheck = defineCheck({
  type: 'ports',
  category: 'security',
  schedule: { every: 10 * MINUTE }, // a new listener should be noticed within minutes
  summary: 'Lists listening TCP/UDP sockets (with their processes where readable) and reports those the allow-list does not cover, and required ones missing (Linux).',
  schema,
  fields,
  // An unexpected listener is usually a deploy nobody added to the list, so a warning (a
  // ticket), not a page; whoever treats it as a sign of intrusion sets crit: "unexpected > 0".
  defaults: { warn: ['unexpected > 0', 'missing > 0'] },
  async run({ spec, signal }) {
    if (process.platform !== 'linux' && spec.procRoot === '/proc') {
      throw new Error(`the ports check reads /proc/net and works on Linux only, not on ${process.platform}`);
    }
    const all = await readListening(spec.procRoot);
    signal.throwIfAborted();
    const owners = await socketOwners(spec.procRoot, new Set(all.map((s) => s.inode).filter((n) => n > 0)), signal);
    return assess(spec, all, owners.byInode, owners.hidden);
  },
});

/** A socket with what is known of its holder. */
interface Seen extends ListeningSocket {
  owners: SocketOwner[];
  /** True when the holder could not be identified (not a kernel socket). */
  unknown: boolean;
}

/** Judges the sockets against the spec: values, findings and a message (pure). */
export function assess(spec: PortsSpec, all: readonly ListeningSocket[], byInode: ReadonlyMap<number, SocketOwner[]>, hidden: number) {
  const allow = spec.allow.map((t) => parseRule(t)!);
  const required = (spec.required ?? []).map((t) => parseRule(t)!);
  const seen: Seen[] = all.map((s) => {
    const owners = byInode.get(s.inode) ?? [];
    return { ...s, owners, unknown: s.inode > 0 && owners.length === 0 };
  });
  const counted = spec.ignoreLoopback ? seen.filter((s) => !isLoopback(s.address)) : seen;

  const ports = groupByPort(counted);
  const findings: Finding[] = [];
  let unexpected = 0;
  let unattributed = 0;
  for (const [key, sockets] of ports) {
    if (sockets.some((s) => s.unknown)) unattributed++;
    const bad = sockets.filter((s) => ![...allow, ...required].some((r) => covers(r, s)));
    if (bad.length === 0) continue;
    unexpected++;
    const [proto, port] = key.split('/');
    const exposed = bad.some((s) => !isLoopback(s.address));
    const name = bad.find((s) => s.owners.length)?.owners[0];
    findings.push({
      id: `ports.unexpected.${proto}.${port}`,
      severity: exposed ? 'high' : 'medium',
      title: `Unexpected ${proto.toUpperCase()} listener on port ${port}${exposed ? '' : ' (loopback only)'}`,
      subject: bad.map(describeSocket).join('; '),
      fix: `Stop the service${exposed ? ', or bind it to 127.0.0.1 if only local clients need it' : ''}; if it belongs there, add ${port}/${proto}${name ? `@${name.comm}` : ''} to allow.`,
      refs: ['Lynis NETW-3012'],
    });
  }

  let missing = 0;
  for (const r of required) {
    if (seen.some((s) => covers(r, s))) continue;
    missing++;
    const port = r.from === r.to ? String(r.from) : `${r.from}-${r.to}`;
    findings.push({
      id: `ports.missing.${r.proto}.${port}`,
      severity: 'medium',
      title: `Required ${r.proto.toUpperCase()} port ${port} is not listening${r.process ? ` (by ${r.process})` : ''}`,
      subject: r.text,
      fix: `Start the service that should listen on ${port}/${r.proto}, or drop ${r.text} from required.`,
    });
  }

  if (unattributed > 0 && hidden > 0) {
    findings.push({
      id: 'ports.owners-unknown',
      severity: 'info',
      title: `The processes behind ${unattributed} listening port${unattributed === 1 ? '' : 's'} could not be identified`,
      subject: `${hidden} processes of other users`,
      fix: 'Run the agent as root, or grant it CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE (AmbientCapabilities= in its systemd unit), to read other users\' /proc/PID/fd; until then @process in allow cannot be verified for them and port/proto decides.',
    });
  }

  const values = { listening: ports.size, unexpected, missing, unattributed, ...findingValues(findings) };
  const unexpectedList = findings.filter((f) => f.id.startsWith('ports.unexpected.')).map((f) => f.id.split('.').slice(2).reverse().join('/'));
  const parts = [`${ports.size} port${ports.size === 1 ? '' : 's'} listening${spec.ignoreLoopback ? ' (loopback left out)' : ''}`];
  parts.push(unexpected ? `${unexpected} unexpected: ${unexpectedList.slice(0, 10).join(', ')}${unexpectedList.length > 10 ? ', …' : ''}` : 'none unexpected');
  if (required.length) parts.push(missing ? `${missing} required missing` : 'all required listening');
  if (unattributed) parts.push(`${unattributed} with an unknown process`);
  return { values, message: parts.join(', '), findings };
}

/** Sockets by `proto/port`, ports in ascending order. */
function groupByPort(sockets: readonly Seen[]): Map<string, Seen[]> {
  const sorted = [...sockets].sort((a, b) => a.proto.localeCompare(b.proto) || a.port - b.port || a.family - b.family || a.address.localeCompare(b.address));
  const out = new Map<string, Seen[]>();
  for (const s of sorted) {
    const key = `${s.proto}/${s.port}`;
    out.set(key, [...(out.get(key) ?? []), s]);
  }
  return out;
}

/**
 * Whether a rule covers a socket. A rule naming a process matches a socket whose holder has that
 * name; a socket whose holder cannot be identified (another user's, without root) is judged on
 * port and proto alone rather than reported for what we cannot see (unattributed counts them).
 */
function covers(rule: PortRule, s: Seen): boolean {
  if (rule.proto !== s.proto || s.port < rule.from || s.port > rule.to) return false;
  if (rule.process === undefined || s.unknown) return true;
  return s.owners.some((o) => o.comm === rule.process || o.argv0 === rule.process);
}

/** `0.0.0.0:8080 (python3, pid 123)`. */
function describeSocket(s: Seen): string {
  if (s.inode === 0) return `${endpoint(s)} (kernel)`;
  if (s.owners.length === 0) return `${endpoint(s)} (uid ${s.uid}, process unknown)`;
  const o = s.owners[0];
  const more = s.owners.length > 1 ? ` and ${s.owners.length - 1} more` : '';
  return `${endpoint(s)} (${o.comm}, pid ${o.pid}${more})`;
}
