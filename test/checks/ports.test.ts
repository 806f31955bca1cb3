import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { decodeAddress, formatIpv6, parseProcNet, portsCheck } from '../../checks/ports';
import type { Finding, Observation } from '../../checks/types';
import { runCheckAsNobody } from '../helpers/as-nobody';
import { runCheck, startRun } from '../helpers/check';

const closers: Array<() => Promise<unknown> | void> = [];
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'kw-ports-'));
});

afterEach(async () => {
  for (const close of closers.splice(0)) await close();
  rmSync(dir, { recursive: true, force: true });
});

const selfComm = readFileSync('/proc/self/comm', 'utf8').trim();

async function tcpServer(host: string): Promise<number> {
  const server = net.createServer();
  server.listen(0, host);
  await once(server, 'listening');
  closers.push(() => new Promise((resolve) => server.close(resolve)));
  return (server.address() as net.AddressInfo).port;
}

async function udpSocket(host: string): Promise<number> {
  const sock = dgram.createSocket('udp4');
  sock.bind(0, host);
  await once(sock, 'listening');
  closers.push(() => new Promise<void>((resolve) => sock.close(() => resolve())));
  return sock.address().port;
}

/** Whether this machine has ::1 to listen on. */
async function hasIpv6Loopback(): Promise<boolean> {
  const server = net.createServer();
  try {
    server.listen(0, '::1');
    await once(server, 'listening');
    return true;
  } catch {
    return false;
  } finally {
    server.close();
  }
}

/** A node child listening on a TCP port of 127.0.0.1, under the argv[0] given. */
async function childListener(argv0: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['-e', "const s=require('net').createServer().listen(0,'127.0.0.1',()=>console.log(s.address().port))"], {
    argv0,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  closers.push(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  return { child, port: Number(line.toString().trim()) };
}

const byId = (o: Observation, id: string): Finding | undefined => o.findings?.find((f) => f.id === id);

describe('address decoding', () => {
  test.each([
    ['0100007F', true, '127.0.0.1'],
    ['7F000001', false, '127.0.0.1'],
    ['00000000', true, '0.0.0.0'],
    ['0101A8C0', true, '192.168.1.1'],
    ['00000000000000000000000000000000', true, '::'],
    ['00000000000000000000000001000000', true, '::1'],
    ['00000000000000000000000000000001', false, '::1'],
    ['0000000000000000FFFF00000100007F', true, '::ffff:127.0.0.1'],
    ['B80D0120000000000000000001000000', true, '2001:db8::1'],
    ['000080FE00000000FF030002000011FE', true, 'fe80::200:3ff:fe11:0'],
  ])('%s (little-endian %s) is %s', (hex, le, address) => {
    expect(decodeAddress(hex, le)).toBe(address);
  });

  test.each([
    [[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1], '2001:db8::1:0:0:1'],
    [[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1], '2001:db8:0:1:1:1:1:1'],
    [[0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], '1::'],
  ])('IPv6 %j prints as %s (RFC 5952)', (bytes, text) => {
    expect(formatIpv6(bytes)).toBe(text);
  });

  test('a column that is no address is refused', () => {
    expect(() => decodeAddress('XYZ', true)).toThrow(/not an address/);
    expect(() => decodeAddress('0100', true)).toThrow(/not an address/);
  });
});

const TCP_HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
const line = (sl: number, local: string, remote: string, st: string, uid: number, inode: number) =>
  `  ${sl}: ${local} ${remote} ${st} 00000000:00000000 00:00000000 00000000 ${uid} 0 ${inode} 1 0000000000000000 100 0 0 10 0\n`;

describe('parseProcNet', () => {
  test('TCP: only LISTEN counts; UDP: only sockets with no remote end', () => {
    const tcp = TCP_HEADER + line(0, '0100007F:1538', '00000000:0000', '0A', 101, 4455) + line(1, '0100007F:1538', '0100007F:D431', '01', 101, 4456);
    expect(parseProcNet(tcp, 'tcp', 4, true)).toEqual([{ proto: 'tcp', family: 4, address: '127.0.0.1', port: 5432, uid: 101, inode: 4455 }]);
    const udp = TCP_HEADER + line(0, '00000000:0035', '00000000:0000', '07', 0, 10) + line(1, '0100007F:E0C4', '0100007F:0035', '01', 0, 11);
    expect(parseProcNet(udp, 'udp', 4, true)).toEqual([{ proto: 'udp', family: 4, address: '0.0.0.0', port: 53, uid: 0, inode: 10 }]);
  });

  test('lines that do not parse are skipped', () => {
    expect(parseProcNet(`${TCP_HEADER}garbage\n  0: nothex:zz 00000000:0000 0A 0 0 0 0 0 1\n\n`, 'tcp', 4, true)).toEqual([]);
  });
});

describe('real sockets', () => {
  test('sockets the test opens on 127.0.0.1 (tcp, udp) and ::1 are found, held by this process', async () => {
    const tcp = await tcpServer('127.0.0.1');
    const udp = await udpSocket('127.0.0.1');
    const v6 = (await hasIpv6Loopback()) ? await tcpServer('::1') : undefined;
    const o = await runCheck(portsCheck, { allow: [] });
    expect(byId(o, `ports.unexpected.tcp.${tcp}`)).toEqual({
      id: `ports.unexpected.tcp.${tcp}`,
      severity: 'medium',
      title: `Unexpected TCP listener on port ${tcp} (loopback only)`,
      subject: `127.0.0.1:${tcp} (${selfComm}, pid ${process.pid})`,
      fix: expect.stringContaining(`add ${tcp}/tcp@${selfComm} to allow`),
      refs: ['Lynis NETW-3012'],
    });
    expect(byId(o, `ports.unexpected.udp.${udp}`)?.subject).toBe(`127.0.0.1:${udp} (${selfComm}, pid ${process.pid})`);
    if (v6 !== undefined) expect(byId(o, `ports.unexpected.tcp.${v6}`)?.subject).toBe(`[::1]:${v6} (${selfComm}, pid ${process.pid})`);
    expect(o.values.unexpected).toBeGreaterThanOrEqual(v6 === undefined ? 2 : 3);
    expect(o.values.listening).toBe(o.values.unexpected);
    expect(o.values.medium).toBeGreaterThanOrEqual(2);
    expect(o.values.findings).toBe(o.findings!.length);
  });

  test('a child process is named by its kernel name or argv[0]; @process must match it', async () => {
    const { child, port } = await childListener('kw-listener');
    const wrong = await runCheck(portsCheck, { allow: [`${port}/tcp@sshd`] });
    expect(byId(wrong, `ports.unexpected.tcp.${port}`)?.subject).toBe(`127.0.0.1:${port} (node, pid ${child.pid})`);
    for (const name of ['node', 'kw-listener']) {
      const right = await runCheck(portsCheck, { allow: [`${port}/tcp@${name}`] });
      expect([name, byId(right, `ports.unexpected.tcp.${port}`)]).toEqual([name, undefined]);
    }
  });

  test('allow entries: exact port, a range, the wrong proto', async () => {
    const tcp = await tcpServer('127.0.0.1');
    const udp = await udpSocket('127.0.0.1');
    const o = await runCheck(portsCheck, { allow: [`${tcp}/tcp`, `${udp - 1}-${udp + 1}/udp`, `${tcp}/udp`] });
    expect(byId(o, `ports.unexpected.tcp.${tcp}`)).toBeUndefined();
    expect(byId(o, `ports.unexpected.udp.${udp}`)).toBeUndefined();
    const swapped = await runCheck(portsCheck, { allow: [`${tcp}/udp`, `${udp}/tcp`] });
    expect(byId(swapped, `ports.unexpected.tcp.${tcp}`)).toBeDefined();
    expect(byId(swapped, `ports.unexpected.udp.${udp}`)).toBeDefined();
  });

  test('required entries are allowed when listening and missing findings when not', async () => {
    const tcp = await tcpServer('127.0.0.1');
    const free = await freePort();
    const o = await runCheck(portsCheck, { allow: [], required: [`${tcp}/tcp@${selfComm}`, `${free}/tcp`, `${free}/udp@nothing`] });
    expect(byId(o, `ports.unexpected.tcp.${tcp}`)).toBeUndefined();
    expect(o.values.missing).toBe(2);
    expect(byId(o, `ports.missing.tcp.${free}`)).toEqual({
      id: `ports.missing.tcp.${free}`,
      severity: 'medium',
      title: `Required TCP port ${free} is not listening`,
      subject: `${free}/tcp`,
      fix: expect.stringContaining(`drop ${free}/tcp from required`),
    });
    expect(byId(o, `ports.missing.udp.${free}`)?.title).toBe(`Required UDP port ${free} is not listening (by nothing)`);
    expect(o.message).toContain('2 required missing');
  });

  test('ignoreLoopback leaves out sockets on 127.0.0.1', async () => {
    const tcp = await tcpServer('127.0.0.1');
    const o = await runCheck(portsCheck, { allow: [], ignoreLoopback: true });
    expect(byId(o, `ports.unexpected.tcp.${tcp}`)).toBeUndefined();
    expect(o.findings!.every((f) => f.severity !== 'medium')).toBe(true);
    expect(o.message).toContain('loopback left out');
  });

  test('run as another user, other users\' sockets are judged on port alone and an info finding says what is needed', async () => {
    const tcp = await tcpServer('127.0.0.1');
    const { observation: o, error } = await runCheckAsNobody('ports', { allow: [`${tcp}/tcp@sshd`] });
    expect(error).toBeUndefined();
    expect(byId(o!, `ports.unexpected.tcp.${tcp}`)).toBeUndefined();
    expect(o!.values.unattributed).toBeGreaterThanOrEqual(1);
    expect(byId(o!, 'ports.owners-unknown')).toMatchObject({ severity: 'info', fix: expect.stringContaining('CAP_SYS_PTRACE') });
    // As root the same socket's holder is known, and it is not sshd.
    const asRoot = await runCheck(portsCheck, { allow: [`${tcp}/tcp@sshd`] });
    expect(byId(asRoot, `ports.unexpected.tcp.${tcp}`)?.subject).toBe(`127.0.0.1:${tcp} (${selfComm}, pid ${process.pid})`);
  });
});

describe('procRoot fixtures', () => {
  /** Writes a fake proc: net files, and processes holding socket inodes. */
  function fakeProc(net: Record<string, string>, procs: Array<{ pid: number; comm: string; inodes: number[]; argv0?: string }> = []) {
    mkdirSync(path.join(dir, 'net'));
    for (const [file, text] of Object.entries(net)) writeFileSync(path.join(dir, 'net', file), text);
    for (const p of procs) {
      mkdirSync(path.join(dir, String(p.pid), 'fd'), { recursive: true });
      writeFileSync(path.join(dir, String(p.pid), 'comm'), `${p.comm}\n`);
      writeFileSync(path.join(dir, String(p.pid), 'cmdline'), `${p.argv0 ?? p.comm}\0--flag\0`);
      symlinkSync('/dev/null', path.join(dir, String(p.pid), 'fd', '0'));
      symlinkSync('pipe:[77]', path.join(dir, String(p.pid), 'fd', '1'));
      p.inodes.forEach((n, i) => symlinkSync(`socket:[${n}]`, path.join(dir, String(p.pid), 'fd', String(i + 3))));
    }
  }
  const le = os.endianness() === 'LE';
  const hex4 = (a: string) => {
    const b = a.split('.').map((x) => Number(x).toString(16).padStart(2, '0').toUpperCase());
    return (le ? b.reverse() : b).join('');
  };
  const port = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');
  const ANY6 = '0'.repeat(32);

  test('IPv4 and IPv6 wildcards on one port make one high finding; the kernel\'s own sockets say so', async () => {
    fakeProc(
      {
        tcp: TCP_HEADER + line(0, `${hex4('0.0.0.0')}:${port(8080)}`, '00000000:0000', '0A', 1000, 500),
        tcp6: TCP_HEADER + line(0, `${ANY6}:${port(8080)}`, `${ANY6}:0000`, '0A', 1000, 501),
        udp: TCP_HEADER + line(0, `${hex4('0.0.0.0')}:${port(2049)}`, '00000000:0000', '07', 0, 0),
      },
      [{ pid: 123, comm: 'python3', inodes: [500, 501], argv0: '/usr/bin/python3' }],
    );
    const o = await runCheck(portsCheck, { allow: ['22/tcp'], procRoot: dir });
    expect(o.values).toMatchObject({ listening: 2, unexpected: 2, unattributed: 0, high: 2 });
    expect(byId(o, 'ports.unexpected.tcp.8080')).toMatchObject({
      severity: 'high',
      title: 'Unexpected TCP listener on port 8080',
      subject: '0.0.0.0:8080 (python3, pid 123); [::]:8080 (python3, pid 123)',
      fix: 'Stop the service, or bind it to 127.0.0.1 if only local clients need it; if it belongs there, add 8080/tcp@python3 to allow.',
    });
    expect(byId(o, 'ports.unexpected.udp.2049')?.subject).toBe('0.0.0.0:2049 (kernel)');
    expect(o.message).toBe('2 ports listening, 2 unexpected: 8080/tcp, 2049/udp');
  });

  test('many sockets: every one is counted, findings are one per port, unknown holders are judged on port alone', async () => {
    let tcp = TCP_HEADER;
    let tcp6 = TCP_HEADER;
    for (let i = 0; i < 600; i++) {
      tcp += line(i, `${hex4(`10.0.${i >> 8}.${i & 255}`)}:${port(20000 + i)}`, '00000000:0000', '0A', 1000, 10_000 + i);
      tcp6 += line(i, `B80D0120000000000000000001000000:${port(20000 + i)}`, `${ANY6}:0000`, '0A', 1000, 20_000 + i);
    }
    // A process holds the first 100 sockets; the rest have no readable holder.
    fakeProc({ tcp, tcp6 }, [{ pid: 42, comm: 'java', inodes: Array.from({ length: 100 }, (_, i) => 10_000 + i) }]);
    const o = await runCheck(portsCheck, { allow: ['20000-20049/tcp@java', '20100-20199/tcp@java'], procRoot: dir });
    // 20000-20049 allowed (IPv6 sockets there have no holder: judged on the port); 20100-20199
    // allowed by port for unknown holders; the rest unexpected.
    expect(o.values).toMatchObject({ listening: 600, unexpected: 450, missing: 0, unattributed: 600 });
    expect(o.findings).toHaveLength(450);
    expect(byId(o, 'ports.unexpected.tcp.20050')?.subject).toBe('10.0.0.50:20050 (java, pid 42); [2001:db8::1]:20050 (uid 1000, process unknown)');
    expect(byId(o, 'ports.owners-unknown')).toBeUndefined(); // nothing hidden: every fd list was readable
    expect(o.message).toMatch(/^600 ports listening, 450 unexpected: 20050\/tcp, .*, …, 600 with an unknown process$/);
  });

  test('a missing tcp6 is skipped; a socket table that cannot be read makes the run unknown, naming it', async () => {
    fakeProc({ tcp: TCP_HEADER, udp: TCP_HEADER });
    await expect(runCheck(portsCheck, { allow: [], procRoot: dir })).resolves.toMatchObject({ values: { listening: 0 } });
    mkdirSync(path.join(dir, 'net', 'udp6'));
    await expect(runCheck(portsCheck, { allow: [], procRoot: dir })).rejects.toThrow(`cannot read ${dir}/net/udp6 (EISDIR)`);
  });

  test('no socket tables at all is unknown', async () => {
    await expect(runCheck(portsCheck, { allow: [], procRoot: dir })).rejects.toThrow(/none of .*\/net\/\{tcp,tcp6,udp,udp6\} exists/);
  });

  test('a run whose signal is aborted rejects with its reason', async () => {
    const { run, abort } = startRun(portsCheck, { allow: [] });
    abort(new Error('timeout'));
    await expect(run).rejects.toThrow('timeout');
  });
});

describe('schema', () => {
  test.each(['22', '22/icmp', '0/tcp', '70000/tcp', '20-10/tcp', '22/tcp@', '22/tcp@/usr/sbin/sshd', 'ssh/tcp'])('refuses %s', (entry) => {
    expect(portsCheck.schema.safeParse({ allow: [entry] }).success).toBe(false);
  });

  test.each(['22/tcp', '53/udp', '22/tcp@sshd', '60000-61000/udp', '65535/tcp@my-daemon.bin'])('accepts %s', (entry) => {
    expect(portsCheck.schema.safeParse({ allow: [entry], required: [entry] }).success).toBe(true);
  });

  test('allow is required', () => {
    expect(portsCheck.schema.safeParse({}).success).toBe(false);
  });
});

async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
