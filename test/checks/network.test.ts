import { readdirSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseCondition } from '../../agent/evaluate';
import { CounterMemory, deltas, measureRates, nameGlob, rates } from '../../checks/counters';
import { isUp, networkCheck, parseNetDev, readLink, SKIPPED_INTERFACES, selectInterfaces } from '../../checks/network';
import { fieldsOf, runCheck, startRun } from '../helpers/check';

/** Sends `bytes` over a TCP connection on 127.0.0.1 and waits until the other end has them all. */
async function loopbackTraffic(bytes: number): Promise<void> {
  let received = 0;
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  const server = net.createServer((s) => s.on('data', (d: Buffer) => {
    received += d.length;
    if (received >= bytes) done();
  }));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await once(client, 'connect');
  client.end(Buffer.alloc(bytes, 7));
  await all;
  client.destroy();
  await new Promise((resolve) => server.close(resolve));
}

describe('counter rates (checks/counters)', () => {
  test.each([
    ['steady growth', { a: 100, b: 0 }, { a: 300, b: 50 }, 2, { a: 100, b: 25 }],
    ['no change', { a: 5 }, { a: 5 }, 1, { a: 0 }],
    ['a reset counts the new value from 0', { a: 1_000_000 }, { a: 400 }, 4, { a: 100 }],
    ['a reset to 0 is a rate of 0, not a negative one', { a: 1_000_000 }, { a: 0 }, 1, { a: 0 }],
    ['a 32-bit wrap counts from 0 (no huge rate)', { a: 2 ** 32 - 10 }, { a: 90 }, 10, { a: 9 }],
    ['one counter resets, the other does not', { a: 10, b: 500 }, { a: 30, b: 20 }, 10, { a: 2, b: 2 }],
    ['a counter new in this reading grows by nothing', {}, { a: 42 }, 1, { a: 0 }],
    ['sub-second interval', { a: 0 }, { a: 50 }, 0.5, { a: 100 }],
  ])('%s', (_, prev, cur, elapsedS, expected) => {
    expect(rates(prev as Record<string, number>, cur as Record<string, number>, elapsedS)).toEqual(expected);
  });

  it('names the counters that went down', () => {
    expect(deltas({ a: 10, b: 10, c: 10 }, { a: 5, b: 20, c: 1 })).toEqual({ deltas: { a: 5, b: 10, c: 1 }, resets: ['a', 'c'] });
  });

  it('refuses an interval that is not positive', () => {
    expect(() => rates({ a: 1 }, { a: 2 }, 0)).toThrow(RangeError);
    expect(() => rates({ a: 1 }, { a: 2 }, -1)).toThrow(RangeError);
  });

  it('samples on a first run, compares with the previous one after, and samples again for a new identity', async () => {
    const memory = new CounterMemory<'n'>();
    let t = 0;
    let counter = 0;
    let identity = 'eth0#2';
    const reads: number[] = [];
    const read = async () => {
      reads.push(t);
      const r = { identity, counters: { n: counter } };
      counter += 100;
      t += 500; // each read takes half a second on this clock
      return r;
    };
    const signal = new AbortController().signal;
    const opts = { memory, name: 'net', read, sampleMs: 1, signal, clock: () => t };
    const first = await measureRates(opts);
    expect(first).toMatchObject({ sampled: true, elapsedS: 0.5, rates: { n: 200 }, resets: [] });
    expect(reads).toHaveLength(2);
    t += 9_500; // the next run, 10s after the last read
    const second = await measureRates(opts);
    expect(second).toMatchObject({ sampled: false, elapsedS: 10, deltas: { n: 100 }, rates: { n: 10 } });
    expect(reads).toHaveLength(3);
    counter = 30; // the counter was reset
    t += 9_500;
    expect(await measureRates(opts)).toMatchObject({ sampled: false, deltas: { n: 30 }, resets: ['n'] });
    identity = 'eth0#7'; // re-created: a new ifindex, nothing to compare with
    t += 9_500;
    const fourth = await measureRates(opts);
    expect(fourth.sampled).toBe(true);
    expect(reads).toHaveLength(6);
    expect(memory.size).toBe(1);
  });

  it('samples when the previous reading is too recent to give a meaningful rate', async () => {
    const memory = new CounterMemory<'n'>();
    let t = 0;
    const read = async () => ({ identity: 'x', counters: { n: t } });
    const opts = { memory, name: 'c', read, sampleMs: 1, signal: new AbortController().signal, clock: () => (t += 10) };
    await measureRates(opts);
    expect((await measureRates(opts)).sampled).toBe(true);
  });

  it('keeps at most its bound of readings, dropping the least recently used', () => {
    const memory = new CounterMemory<'n'>(3);
    for (const name of ['a', 'b', 'c']) memory.set(name, { identity: name, counters: { n: 1 }, at: 0 });
    memory.set('a', { identity: 'a', counters: { n: 2 }, at: 1 }); // a used again: b is now the oldest
    memory.set('d', { identity: 'd', counters: { n: 1 }, at: 2 });
    expect(memory.size).toBe(3);
    expect(memory.get('b')).toBeUndefined();
    expect(memory.get('a')?.counters.n).toBe(2);
  });

  it('stops sampling when the signal aborts', async () => {
    const ac = new AbortController();
    const run = measureRates({ memory: new CounterMemory<'n'>(), name: 'x', read: async () => ({ identity: 'x', counters: { n: 0 } }), sampleMs: 60_000, signal: ac.signal });
    setTimeout(() => ac.abort(new Error('timeout')), 20);
    await expect(run).rejects.toThrow();
  });

  test.each([
    ['veth*', 'veth1a2b3c', true],
    ['veth*', 'eth0', false],
    ['br-[0-9a-f]*', 'br-0123abcd', true],
    ['eth?', 'eth10', false],
    ['cciss/*', 'cciss/c0d0', true],
    ['a.b', 'axb', false],
  ])('glob %s matches %s: %s', (glob, name, expected) => {
    expect(nameGlob(glob).test(name)).toBe(expected);
  });
});

describe('network check', () => {
  it('parses this machine\'s /proc/net/dev, every interface /sys/class/net lists among them', () => {
    const parsed = parseNetDev(readFileSync('/proc/net/dev', 'utf8'));
    expect(parsed.map((i) => i.name).sort()).toEqual(readdirSync('/sys/class/net').sort());
    const lo = parsed.find((i) => i.name === 'lo')!;
    for (const v of Object.values(lo.counters)) expect(Number.isInteger(v) && v >= 0).toBe(true);
    expect(lo.counters.rxBytes).toBe(lo.counters.txBytes); // what loopback sends, it receives
  });

  it('parses long names, names without a space before the numbers, and colons in names', () => {
    const text = [
      'Inter-|   Receive                                                |  Transmit',
      ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
      '    lo:   39906     546    0    0    0     0          0         0    39906     546    0    0    0     0       0          0',
      'enp0s31f6verylo: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16',
      '  eth0:4294967295 8590 1 2 0 0 0 0 966557 7253 3 4 0 0 0 0',
      'eth0:1: 10 20 0 0 0 0 0 0 30 40 0 0 0 0 0 0',
      'garbage line',
    ].join('\n');
    expect(parseNetDev(text)).toEqual([
      { name: 'lo', counters: { rxBytes: 39906, rxPackets: 546, rxErrors: 0, rxDrops: 0, txBytes: 39906, txPackets: 546, txErrors: 0, txDrops: 0 } },
      { name: 'enp0s31f6verylo', counters: { rxBytes: 1, rxPackets: 2, rxErrors: 3, rxDrops: 4, txBytes: 9, txPackets: 10, txErrors: 11, txDrops: 12 } },
      { name: 'eth0', counters: { rxBytes: 4294967295, rxPackets: 8590, rxErrors: 1, rxDrops: 2, txBytes: 966557, txPackets: 7253, txErrors: 3, txDrops: 4 } },
      { name: 'eth0:1', counters: { rxBytes: 10, rxPackets: 20, rxErrors: 0, rxDrops: 0, txBytes: 30, txPackets: 40, txErrors: 0, txDrops: 0 } },
    ]);
  });

  test.each([
    ['up', 0x1003, '1', true],
    ['up', undefined, undefined, true],
    ['unknown', 0x9, '1', true], // loopback
    ['unknown', 0x8, '1', false], // administratively down
    ['unknown', 0x1, undefined, false], // no carrier
    ['down', 0x1003, '0', false],
    ['lowerlayerdown', 0x1, '0', false],
    ['dormant', 0x1, '1', false],
  ])('operstate %s with flags %s and carrier %s is up: %s', (state, flags, carrier, expected) => {
    expect(isUp(state, flags, carrier)).toBe(expected);
  });

  it('reads lo\'s link: up (operstate unknown, UP and a carrier), no speed', async () => {
    const lo = await readLink('lo');
    expect(lo).toMatchObject({ operstate: 'unknown', up: true, adminUp: true });
    expect(lo.speedMbps).toBeUndefined();
    expect(lo.ifindex).toBe(Number(readFileSync('/sys/class/net/lo/ifindex', 'utf8')));
  });

  it('expands to every interface here but lo and container ones, one check each, labelled', async () => {
    const expansions = (await networkCheck.expand!(networkCheck.schema.parse({})))!;
    const expected = readdirSync('/sys/class/net').filter((n) => !SKIPPED_INTERFACES.some((g) => g.test(n))).sort();
    expect(expansions.map((e) => e.suffix)).toEqual(expected);
    expect(expected).not.toContain('lo');
    for (const e of expansions) {
      expect(e.spec).toEqual({ interface: e.suffix });
      expect(e.labels).toEqual({ interface: e.suffix });
      expect(networkCheck.schema.safeParse(e.spec).success).toBe(true);
    }
    const only = (await networkCheck.expand!(networkCheck.schema.parse({ include: ['lo'], sample: '200ms' })))!;
    expect(only).toEqual([{ suffix: 'lo', spec: { interface: 'lo', sample: 200 }, labels: { interface: 'lo' } }]);
    expect(await networkCheck.expand!(networkCheck.schema.parse({ interface: 'lo' }))).toBeUndefined();
  });

  it('selects interfaces by the built-in skip list, include and exclude', () => {
    const names = ['lo', 'eth0', 'eth1', 'veth3f2a1b0', 'br-0123456789ab', 'br-lan', 'docker0', 'wg0'];
    expect(selectInterfaces(names, {})).toEqual(['br-lan', 'docker0', 'eth0', 'eth1', 'wg0']);
    expect(selectInterfaces(names, { exclude: ['docker0', 'eth1'] })).toEqual(['br-lan', 'eth0', 'wg0']);
    expect(selectInterfaces(names, { include: ['eth*', 'lo'] })).toEqual(['eth0', 'eth1', 'lo']);
  });

  it('sees traffic on lo between two runs, at least what was sent over the time between them', async () => {
    const started = performance.now();
    const first = await runCheck(networkCheck, { interface: 'lo', sample: '100ms' }, { name: 'network:lo-traffic' });
    expect(first.message).toMatch(/^lo up: rx [\d.]+ [KMG]?B\/s, tx [\d.]+ [KMG]?B\/s over 0\.1s$/);
    const bytes = 4_000_000;
    await loopbackTraffic(bytes);
    // The next reading must be at least 100ms after the last one to be compared with it.
    const sinceFirst = performance.now() - started;
    if (sinceFirst < 250) await sleep(250 - sinceFirst);
    const obs = await runCheck(networkCheck, { interface: 'lo' }, { name: 'network:lo-traffic' });
    const bound = (performance.now() - started) / 1000; // longer than the interval between the readings
    const v = obs.values as Record<string, number | boolean>;
    expect(obs.up).toBeUndefined();
    expect(obs.message).toMatch(/over the last [\d.]+s$/);
    expect(v.rxBytesPerSec as number).toBeGreaterThanOrEqual(bytes / bound);
    expect(v.txBytesPerSec as number).toBeGreaterThanOrEqual(bytes / bound);
    expect(v.rxPacketsPerSec as number).toBeGreaterThan(0);
    expect(v.up).toBe(true);
    expect(v.speedMbps).toBeUndefined();
    const declared = Object.keys(fieldsOf(networkCheck, { interface: 'lo' }));
    expect(Object.keys(v).sort()).toEqual(declared.filter((k) => !['speedMbps', 'rxUtilPercent', 'txUtilPercent'].includes(k)).sort());
  });

  it('gives utilisation against a configured speed, with every declared value', async () => {
    const obs = await runCheck(networkCheck, { interface: 'lo', speedMbps: 10_000, sample: '100ms' }, { name: 'network:lo-speed' });
    const v = obs.values as Record<string, number>;
    expect(Object.keys(v).sort()).toEqual(Object.keys(fieldsOf(networkCheck, {})).sort());
    expect(v.speedMbps).toBe(10_000);
    expect(v.rxUtilPercent).toBeGreaterThanOrEqual(0);
    expect(v.rxUtilPercent).toBeLessThanOrEqual(100);
    expect(obs.message).toMatch(/^lo up \(10000 Mb\/s\): /);
  });

  it('reports a named interface that does not exist as a critical target failure listing those there are', async () => {
    const obs = await runCheck(networkCheck, { interface: 'nosuch0', sample: '100ms' }, { name: 'network:nosuch' });
    expect(obs.up).toBe(false);
    expect(obs.failure).toBe('error');
    expect(obs.message).toMatch(/^no interface nosuch0; interfaces here: .*\blo\b/);
  });

  it('is unknown, saying why, when every interface was skipped', async () => {
    await expect(runCheck(networkCheck, {}, { name: 'network-none' })).rejects.toThrow(/no interface to watch.*name one with interface:.*\blo\b/);
  });

  it('stops sampling at once when the signal aborts', async () => {
    const { run, abort } = startRun(networkCheck, { interface: 'lo', sample: '60s' }, { timeoutMs: 120_000 });
    setTimeout(() => abort(), 50);
    await expect(run).rejects.toThrow();
  });

  it('validates its keys', () => {
    const s = networkCheck.schema;
    expect(s.safeParse({ interface: 'eth0', exclude: ['docker0'] }).success).toBe(false);
    expect(s.safeParse({ interface: 'has space' }).success).toBe(false);
    expect(s.safeParse({ interface: 'a'.repeat(16) }).success).toBe(false);
    expect(s.safeParse({ speedMbps: 0 }).success).toBe(false);
    expect(s.safeParse({ sample: '10ms' }).success).toBe(false);
    expect(networkCheck.validate!(s.parse({ sample: '2s' }), { timeoutMs: 1000 })).toHaveLength(1);
    expect(networkCheck.validate!(s.parse({}), { timeoutMs: 1000 })).toEqual([]);
  });

  it('has default conditions on errors only, that parse against its fields', () => {
    expect(networkCheck.defaults).toEqual({ warn: ['rxErrorsPerSec > 1', 'txErrorsPerSec > 1'] });
    const f = fieldsOf(networkCheck, {});
    expect(parseCondition('rxBytesPerSec > 10MB', f).value).toBe(10_000_000);
    expect(parseCondition('rxUtilPercent > 80%', f).value).toBe(80);
  });
});
