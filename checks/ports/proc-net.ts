import { readdir, readFile, readlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { MAX_PROCESSES } from '../types';

/** A transport: `tcp` and `udp` cover IPv4 and IPv6 alike. */
export type Proto = 'tcp' | 'udp';

/** One listening socket as /proc/net/{tcp,tcp6,udp,udp6} shows it. */
export interface ListeningSocket {
  proto: Proto;
  family: 4 | 6;
  /** The local address, printed as usual: `0.0.0.0`, `127.0.0.1`, `::`, `::1`, `::ffff:10.0.0.1`. */
  address: string;
  port: number;
  /** The user that owns the socket (readable by anyone, unlike the process). */
  uid: number;
  /** The socket's inode: what /proc/PID/fd links name. 0 for sockets the kernel itself holds. */
  inode: number;
}

/** The process holding a socket open. */
export interface SocketOwner {
  pid: number;
  /** The kernel's process name (`/proc/PID/comm`, at most 15 characters). */
  comm: string;
  /** The last part of argv[0], when it differs from comm (a launcher, a long name). */
  argv0?: string;
}

/** The files read, with the transport and family each holds. */
export const PROC_NET_FILES: ReadonlyArray<{ file: string; proto: Proto; family: 4 | 6 }> = [
  { file: 'tcp', proto: 'tcp', family: 4 },
  { file: 'tcp6', proto: 'tcp', family: 6 },
  { file: 'udp', proto: 'udp', family: 4 },
  { file: 'udp6', proto: 'udp', family: 6 },
];

/** TCP_LISTEN in the kernel's tcp_states.h, as /proc/net/tcp prints it. */
const TCP_LISTEN = '0A';

/**
 * Decodes an address column of /proc/net: the kernel prints each 32-bit word of the address
 * (one for IPv4, four for IPv6) as a host-order number in hex, so on little-endian machines
 * the bytes of every word come reversed (`0100007F` is 127.0.0.1).
 */
export function decodeAddress(hex: string, littleEndian = os.endianness() === 'LE'): string {
  if (!/^[0-9A-Fa-f]+$/.test(hex) || (hex.length !== 8 && hex.length !== 32)) throw new Error(`not an address: ${hex}`);
  const bytes: number[] = [];
  for (let w = 0; w < hex.length; w += 8) {
    const word = [0, 2, 4, 6].map((i) => parseInt(hex.slice(w + i, w + i + 2), 16));
    bytes.push(...(littleEndian ? word.reverse() : word));
  }
  return bytes.length === 4 ? bytes.join('.') : formatIpv6(bytes);
}

/** An IPv6 address in its RFC 5952 form; IPv4-mapped ones end in dotted quads (`::ffff:127.0.0.1`). */
export function formatIpv6(bytes: readonly number[]): string {
  const mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  if (mapped) return `::ffff:${bytes.slice(12).join('.')}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1]);
  // The longest run of two or more zero groups (the first of equal ones) becomes `::`.
  let best = { at: -1, len: 1 };
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.len) best = { at: i, len: j - i };
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.at < 0) return hex.join(':');
  return `${hex.slice(0, best.at).join(':')}::${hex.slice(best.at + best.len).join(':')}`;
}

/** Whether an address is reachable only from this machine: 127.0.0.0/8, ::1, or 127.x mapped into IPv6. */
export function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.');
}

/** `0.0.0.0:22`, `[::]:22`: an address and port as people write them. */
export function endpoint(s: Pick<ListeningSocket, 'address' | 'port' | 'family'>): string {
  return s.family === 6 ? `[${s.address}]:${s.port}` : `${s.address}:${s.port}`;
}

/**
 * The listening sockets in one /proc/net file: TCP sockets in state LISTEN, and UDP sockets
 * with no remote end (bound and not connected: they take datagrams from anyone). Lines that
 * do not parse are skipped, so a kernel that adds columns changes nothing.
 */
export function parseProcNet(text: string, proto: Proto, family: 4 | 6, littleEndian = os.endianness() === 'LE'): ListeningSocket[] {
  const out: ListeningSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const [local, remote, state, uid, inode] = [f[1], f[2], f[3], f[7], f[9]];
    const [lhex, lport] = local.split(':');
    const [rhex, rport] = remote.split(':');
    if (!lport || !rport) continue;
    const listening = proto === 'tcp' ? state === TCP_LISTEN : /^0+$/.test(rhex) && /^0+$/.test(rport);
    if (!listening) continue;
    let address: string;
    try {
      address = decodeAddress(lhex, littleEndian);
    } catch {
      continue; // not a socket line
    }
    out.push({ proto, family, address, port: parseInt(lport, 16), uid: Number(uid), inode: Number(inode) });
  }
  return out;
}

/**
 * Every listening socket of the agent's network namespace, read from `<procRoot>/net/`. A file
 * that does not exist is skipped (tcp6 and udp6 are absent with IPv6 disabled); one that exists
 * and cannot be read is an error, since the answer would be incomplete.
 */
export async function readListening(procRoot: string): Promise<ListeningSocket[]> {
  const all: ListeningSocket[] = [];
  let found = 0;
  for (const { file, proto, family } of PROC_NET_FILES) {
    const p = path.join(procRoot, 'net', file);
    let text: string;
    try {
      text = await readFile(p, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') continue;
      throw new Error(`cannot read ${p} (${code ?? (err as Error).message}): the ports check needs to read the socket tables in ${path.join(procRoot, 'net')}`, { cause: err });
    }
    found++;
    all.push(...parseProcNet(text, proto, family));
  }
  if (found === 0) throw new Error(`none of ${path.join(procRoot, 'net')}/{tcp,tcp6,udp,udp6} exists: the ports check reads Linux's /proc`);
  return all;
}

/** Which processes hold the sockets asked about, and how much of /proc could not be seen. */
export interface Owners {
  byInode: Map<number, SocketOwner[]>;
  /** Processes whose open files we may not list (another user's, without root). */
  hidden: number;
}

/** Processes whose file descriptors are listed at once; the event loop gets a turn between batches. */
const BATCH = 32;

/** Errors that mean "gone, or not ours to see": not a failure. */
const GONE = new Set(['ENOENT', 'ESRCH', 'EACCES', 'EPERM', 'ENOTDIR']);

/**
 * Finds the processes holding the given socket inodes open, by reading the links in
 * /proc/PID/fd (`socket:[12345]`). Listing another user's descriptors needs root (or
 * CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE): those processes are counted in `hidden`, and their
 * sockets stay without an owner. Stops as soon as every inode has one; checks the signal
 * between batches and reads at most MAX_PROCESSES processes.
 */
export async function socketOwners(procRoot: string, inodes: ReadonlySet<number>, signal: AbortSignal): Promise<Owners> {
  const byInode = new Map<number, SocketOwner[]>();
  let hidden = 0;
  if (inodes.size === 0) return { byInode, hidden };
  const pids = (await readdir(procRoot)).filter((e) => /^\d+$/.test(e)).map(Number).sort((a, b) => a - b).slice(0, MAX_PROCESSES);
  const holders = new Map<number, number[]>(); // pid → inodes it holds
  for (let i = 0; i < pids.length; i += BATCH) {
    signal.throwIfAborted();
    if (i > 0) await yieldToLoop();
    const rows = await Promise.all(pids.slice(i, i + BATCH).map((pid) => socketsOf(procRoot, pid, inodes)));
    for (const [k, row] of rows.entries()) {
      if (row === 'hidden') hidden++;
      else if (row.length) holders.set(pids[i + k], row);
    }
    // One holder names a socket; finding all of them (pre-forked workers share one) would
    // mean reading every process on the machine, every run.
    const named = new Set([...holders.values()].flat());
    if ([...inodes].every((n) => named.has(n))) break;
  }
  signal.throwIfAborted();
  for (const [pid, held] of holders) {
    const owner = await describe(procRoot, pid);
    if (!owner) continue;
    for (const inode of held) byInode.set(inode, [...(byInode.get(inode) ?? []), owner]);
  }
  return { byInode, hidden };
}

async function socketsOf(procRoot: string, pid: number, inodes: ReadonlySet<number>): Promise<number[] | 'hidden'> {
  const dir = path.join(procRoot, String(pid), 'fd');
  let fds: string[];
  try {
    fds = await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (code === 'EACCES' || code === 'EPERM') return 'hidden';
    if (GONE.has(code)) return [];
    throw err;
  }
  const found: number[] = [];
  for (const fd of fds) {
    let target: string;
    try {
      target = await readlink(path.join(dir, fd));
    } catch (err) {
      if (GONE.has((err as NodeJS.ErrnoException).code ?? '')) continue; // closed meanwhile
      throw err;
    }
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m && inodes.has(Number(m[1]))) found.push(Number(m[1]));
  }
  return found;
}

async function describe(procRoot: string, pid: number): Promise<SocketOwner | undefined> {
  const read = async (file: string) => {
    try {
      return await readFile(path.join(procRoot, String(pid), file), 'utf8');
    } catch (err) {
      if (GONE.has((err as NodeJS.ErrnoException).code ?? '')) return undefined;
      throw err;
    }
  };
  const comm = (await read('comm'))?.replace(/\n$/, '');
  if (comm === undefined) return undefined;
  const arg0 = (await read('cmdline'))?.split('\0')[0];
  const argv0 = arg0 ? path.basename(arg0) : undefined;
  return argv0 && argv0 !== comm ? { pid, comm, argv0 } : { pid, comm };
}
