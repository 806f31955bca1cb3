import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseCondition } from '../../agent/evaluate';
import { packageRoot } from '../../agent/paths';
import { notPermitted, parsePingOutput, pingArgs, pingCheck } from '../../checks/ping';
import type { Observation } from '../../checks/types';
import { NOBODY } from '../helpers/as-nobody';
import { runCheck, startRun } from '../helpers/check';

// Recorded outputs (LC_ALL=C). Tests send traffic only to 127.0.0.1; loss and unreachable
// hosts are covered by these recordings.
const IPUTILS_OK = `PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data.
64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.209 ms
64 bytes from 127.0.0.1: icmp_seq=2 ttl=64 time=0.038 ms

--- 127.0.0.1 ping statistics ---
2 packets transmitted, 2 received, 0% packet loss, time 202ms
rtt min/avg/max/mdev = 0.038/0.123/0.209/0.085 ms
`;
const IPUTILS_PARTIAL = `PING 10.0.0.7 (10.0.0.7) 56(84) bytes of data.
64 bytes from 10.0.0.7: icmp_seq=1 ttl=63 time=12.4 ms
64 bytes from 10.0.0.7: icmp_seq=3 ttl=63 time=14.9 ms

--- 10.0.0.7 ping statistics ---
3 packets transmitted, 2 received, 33.3333% packet loss, time 402ms
rtt min/avg/max/mdev = 12.400/13.650/14.900/1.250 ms
`;
const IPUTILS_DOWN = `PING 192.0.2.1 (192.0.2.1) 56(84) bytes of data.

--- 192.0.2.1 ping statistics ---
1 packets transmitted, 0 received, 100% packet loss, time 0ms

`;
const IPUTILS_UNREACHABLE = `PING 10.0.0.99 (10.0.0.99) 56(84) bytes of data.
From 10.0.0.1 icmp_seq=1 Destination Host Unreachable
From 10.0.0.1 icmp_seq=2 Destination Host Unreachable

--- 10.0.0.99 ping statistics ---
2 packets transmitted, 0 received, +2 errors, 100% packet loss, time 1025ms
pipe 2
`;
const IPUTILS_DUPLICATES = `--- 10.0.0.255 ping statistics ---
3 packets transmitted, 3 received, +6 duplicates, 0% packet loss, time 2003ms
rtt min/avg/max/mdev = 0.100/0.200/0.300/0.050 ms
`;
const BUSYBOX_OK = `PING 127.0.0.1 (127.0.0.1): 56 data bytes
64 bytes from 127.0.0.1: seq=0 ttl=64 time=0.058 ms

--- 127.0.0.1 ping statistics ---
3 packets transmitted, 3 packets received, 0% packet loss
round-trip min/avg/max = 0.058/0.073/0.093 ms
`;
const BUSYBOX_DOWN = `PING 192.0.2.1 (192.0.2.1): 56 data bytes

--- 192.0.2.1 ping statistics ---
2 packets transmitted, 0 packets received, 100% packet loss
`;
const DENIED_IPUTILS = `ping: socktype: SOCK_RAW
ping: socket: Operation not permitted
ping: => missing cap_net_raw+p capability or setuid?
`;
const DENIED_OLD = 'ping: socket: Permission denied, attempting raw socket...\nping: socket: Permission denied\n';

describe('ping output parser', () => {
  it.each([
    ['iputils, all replies', IPUTILS_OK, { transmitted: 2, received: 2, errors: 0, lossPercent: 0, rtt: { min: 0.038, avg: 0.123, max: 0.209 } }],
    ['iputils, partial loss', IPUTILS_PARTIAL, { transmitted: 3, received: 2, errors: 0, lossPercent: 33.3333, rtt: { min: 12.4, avg: 13.65, max: 14.9 } }],
    ['iputils, no reply', IPUTILS_DOWN, { transmitted: 1, received: 0, errors: 0, lossPercent: 100 }],
    ['iputils, host unreachable', IPUTILS_UNREACHABLE, { transmitted: 2, received: 0, errors: 2, lossPercent: 100 }],
    ['iputils, duplicates', IPUTILS_DUPLICATES, { transmitted: 3, received: 3, errors: 0, lossPercent: 0, rtt: { min: 0.1, avg: 0.2, max: 0.3 } }],
    ['busybox, all replies', BUSYBOX_OK, { transmitted: 3, received: 3, errors: 0, lossPercent: 0, rtt: { min: 0.058, avg: 0.073, max: 0.093 } }],
    ['busybox, no reply', BUSYBOX_DOWN, { transmitted: 2, received: 0, errors: 0, lossPercent: 100 }],
  ])('%s', (_, text, expected) => {
    expect(parsePingOutput(text)).toEqual(expected);
  });

  it('finds no summary in an error', () => {
    expect(parsePingOutput('ping: nonexistent.invalid: Name or service not known\n')).toBeUndefined();
  });

  it('classifies "not permitted" errors with what to grant', () => {
    for (const text of [DENIED_IPUTILS, DENIED_OLD]) expect(notPermitted(text)).toMatch(/cap_net_raw.*ping_group_range.*CAP_NET_RAW/);
    expect(notPermitted('ping: nonexistent.invalid: Name or service not known')).toBeUndefined();
  });
});

describe('ping arguments', () => {
  const spec = (raw: Record<string, unknown> = {}) => pingCheck.schema.parse({ host: '127.0.0.1', ...raw });
  it('passes count, interval and wait in seconds, numeric output', () => {
    expect(pingArgs(spec(), 10_000)).toEqual(['-n', '-c', '3', '-i', '0.2', '-W', '1', '127.0.0.1']);
  });
  it('shortens the wait and then the count to end before the timeout', () => {
    expect(pingArgs(spec(), 1000)).toEqual(['-n', '-c', '3', '-i', '0.2', '-W', '0.5', '127.0.0.1']);
    expect(pingArgs(spec({ count: 10, interval: '1s' }), 3000)).toEqual(['-n', '-c', '3', '-i', '1', '-W', '0.9', '127.0.0.1']);
    expect(pingArgs(spec(), 200)).toEqual(['-n', '-c', '1', '-i', '0.2', '-W', '0.18', '127.0.0.1']);
  });
  it('refuses a host that would read as an option', () => {
    expect(pingCheck.schema.safeParse({ host: '-f' }).success).toBe(false);
  });
});

describe('ping check', () => {
  it('pings 127.0.0.1 with the real ping', async () => {
    const obs = await runCheck(pingCheck, { host: '127.0.0.1', count: 2 });
    expect(obs.up).toBeUndefined();
    expect(obs.values).toMatchObject({ lossPercent: 0, received: 2 });
    for (const k of ['rttMinMs', 'rttAvgMs', 'rttMaxMs']) expect(obs.values[k]).toBeGreaterThanOrEqual(0);
    expect(obs.values.rttMinMs).toBeLessThanOrEqual(obs.values.rttMaxMs as number);
    expect(obs.message).toMatch(/^ping 127\.0\.0\.1: 2\/2 replies, 0% loss, rtt min\/avg\/max [\d.]+\/[\d.]+\/[\d.]+ ms$/);
  });

  it('warns on loss by default', () => {
    const warn = (pingCheck.defaults as { warn: string[] }).warn.map((c) => parseCondition(c, pingCheck.fields as never));
    expect(warn.some((c) => c.test({ lossPercent: 33.3333 }))).toBe(true);
    expect(warn.some((c) => c.test({ lossPercent: 0 }))).toBe(false);
  });

  it('reports a name that does not resolve as a dns failure', async () => {
    const obs = await runCheck(pingCheck, { host: 'keepwatch-nonexistent.invalid', count: 1 });
    expect(obs).toMatchObject({ up: false, failure: 'dns' });
    expect(obs.message).toMatch(/^ping keepwatch-nonexistent\.invalid: .*(not known|resolution|unknown)/);
  });

  it('kills ping when the run is aborted and reports a timeout', async () => {
    const pids = () => execFileSync('pgrep', ['-x', 'ping'], { encoding: 'utf8' }).split('\n').filter(Boolean);
    const { run, abort } = startRun(pingCheck, { host: '127.0.0.1', count: 100, interval: '1s' }, { timeoutMs: 600_000 });
    let mine: string[] = [];
    for (let i = 0; i < 50 && mine.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      mine = (() => { try { return pids(); } catch { return []; } })().filter((p) => execFileSync('ps', ['-o', 'ppid=', '-p', p], { encoding: 'utf8' }).trim() === String(process.pid));
    }
    expect(mine).toHaveLength(1);
    const t0 = performance.now();
    abort();
    const obs = await run;
    expect(performance.now() - t0).toBeLessThan(200);
    expect(obs).toMatchObject({ up: false, failure: 'timeout' });
    await new Promise((r) => setTimeout(r, 100));
    expect(() => process.kill(Number(mine[0]), 0)).toThrow();
  });

  // A stand-in ping on PATH that prints a recorded output: how loss and unreachable hosts are
  // tested without sending traffic anywhere but 127.0.0.1.
  it.each([
    ['partial loss is up, with the loss and times', IPUTILS_PARTIAL, '', 1, { values: { lossPercent: 33.3333, received: 2, rttMinMs: 12.4, rttAvgMs: 13.65, rttMaxMs: 14.9 }, message: 'ping 10.0.0.7: 2/3 replies, 33.3333% loss, rtt min/avg/max 12.4/13.65/14.9 ms' }],
    ['no reply is a critical timeout', IPUTILS_DOWN, '', 1, { up: false, failure: 'timeout', values: { lossPercent: 100, received: 0 }, message: 'ping 10.0.0.7: 0/1 replies, 100% loss, no reply' }],
    ['unreachable is critical, refused', IPUTILS_UNREACHABLE, '', 1, { up: false, failure: 'refused', values: { lossPercent: 100, received: 0 }, message: 'ping 10.0.0.7: 0/2 replies, 100% loss, 2 errors (Destination Host Unreachable)' }],
    ['busybox no reply is a critical timeout', BUSYBOX_DOWN, '', 1, { up: false, failure: 'timeout', values: { lossPercent: 100, received: 0 } }],
    ['a network without a route is refused', '', 'ping: connect: Network is unreachable', 2, { up: false, failure: 'refused', message: 'ping 10.0.0.7: ping: connect: Network is unreachable' }],
  ])('%s (recorded output)', async (_, stdout, stderr, code, expected) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kw-fakeping-'));
    writeFileSync(path.join(dir, 'out'), stdout);
    writeFileSync(path.join(dir, 'err'), stderr);
    writeFileSync(path.join(dir, 'ping'), `#!/bin/sh\ncat "${dir}/out"; cat "${dir}/err" >&2; exit ${code}\n`, { mode: 0o755 });
    const saved = process.env.PATH;
    process.env.PATH = `${dir}:${saved}`;
    try {
      expect(await runCheck(pingCheck, { host: '10.0.0.7' })).toMatchObject(expected);
    } finally {
      process.env.PATH = saved;
      rmSync(dir, { recursive: true });
    }
  });

  it('is unknown, saying what to install, when ping is missing', async () => {
    const empty = mkdtempSync(path.join(os.tmpdir(), 'kw-noping-'));
    const saved = process.env.PATH;
    process.env.PATH = empty;
    try {
      await expect(runCheck(pingCheck, { host: '127.0.0.1' })).rejects.toThrow(/ping is not installed: install iputils-ping/);
    } finally {
      process.env.PATH = saved;
      rmSync(empty, { recursive: true });
    }
  });

  it('is unknown, saying what to grant, when ping may not open its socket (uid 65534, ping without its capability)', async () => {
    // A copy of ping loses its file capability (cap_net_raw); ping_group_range must not admit nobody.
    const range = execFileSync('cat', ['/proc/sys/net/ipv4/ping_group_range'], { encoding: 'utf8' }).trim().split(/\s+/).map(Number);
    expect(range[0] <= NOBODY && NOBODY <= range[1]).toBe(false);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kw-ping-'));
    try {
      copyFileSync(execFileSync('sh', ['-c', 'command -v ping'], { encoding: 'utf8' }).trim(), path.join(dir, 'ping'));
      chmodSync(path.join(dir, 'ping'), 0o755);
      chmodSync(dir, 0o755);
      const result = await runAsNobody({ host: '127.0.0.1', count: 1 }, `${dir}:${process.env.PATH}`);
      expect(result.observation).toBeUndefined();
      expect(result.error).toMatch(/^ping is not permitted to open an ICMP socket: .*setcap cap_net_raw\+ep.*ping_group_range.*CAP_NET_RAW/);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

/** Runs the built ping check once as uid/gid 65534 with the given PATH. */
function runAsNobody(raw: Record<string, unknown>, PATH: string): Promise<{ observation?: Observation; error?: string }> {
  const child = `
const { pingCheck } = require(process.argv[1]);
const ac = new AbortController();
setTimeout(() => ac.abort(new Error('timeout')), 10000).unref();
Promise.resolve()
  .then(() => pingCheck.run({ name: 'ping', spec: pingCheck.schema.parse(JSON.parse(process.argv[2])), signal: ac.signal, timeoutMs: 10000, log: { debug() {}, info() {}, warn() {}, error() {} }, now: Date.now, holdsSecret: () => false }))
  .then((observation) => process.stdout.write(JSON.stringify({ observation })), (err) => process.stdout.write(JSON.stringify({ error: err.message })));
`;
  const built = path.join(packageRoot(), 'dist/checks/ping/index.js');
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', child, built, JSON.stringify(raw)], { uid: NOBODY, gid: NOBODY, env: { ...process.env, PATH }, timeout: 20_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`child failed: ${err.message}\n${stderr}`));
      resolve(JSON.parse(stdout));
    });
  });
}
