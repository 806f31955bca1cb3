import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  DEFAULT_LOG_MATCH,
  LOG_TAIL_BYTES,
  compileLogPattern,
  logsSchema,
  readLogTail,
  summariseSnapshot,
  takeSnapshot,
  type LogSpec,
  type Snapshot,
} from '../../agent/responders/snapshot';
import { setSecrets } from '../../agent/secrets';
import { procfs, ProcTables, systemConstants, type ProcSource } from '../../checks/proc-table';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'keepwatch-snapshot-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

const spec = (p: string, over: Partial<LogSpec> = {}): LogSpec => ({ path: p, match: DEFAULT_LOG_MATCH, lines: 20, ...over });

/** A CPU sample that takes no time (the clock, if any, is the test's). */
const noWait = async () => undefined;

/** A small fake process table, so a test about something else does not depend on how busy /proc is. */
function fakeTables(): ProcTables {
  const source: ProcSource = {
    listPids: async () => [1, 2],
    read: async (pid, file) => (file === 'stat' ? `${pid} (p${pid}) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 50 0 ${pid} 0` : `p${pid}\0`),
  };
  return new ProcTables({ source });
}

/** Options for snapshots whose subject is not the process list: a fake table, no sample wait, time to spare. */
const quiet = () => ({ procTables: fakeTables(), wait: noWait, timeoutMs: 10_000 });

/** Clock ticks a process has used, from the real /proc. */
function cpuTicks(pid: number): number {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return Number(rest[11]) + Number(rest[12]);
  } catch {
    return 0;
  }
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('takeSnapshot on this machine', () => {
  let busy: ChildProcess | undefined;
  let idle: ChildProcess | undefined;
  afterEach(() => {
    busy?.kill('SIGKILL');
    idle?.kill('SIGKILL');
    busy = idle = undefined;
  });

  test('top processes, disks, memory and load, with sane numbers', async () => {
    // A process that keeps a core busy must top the CPU list. On a loaded test machine other
    // processes may outrank it, and its share of a core is the scheduler's to give, so the
    // ranking is asserted among two processes read from the real /proc: the busy one and an
    // idle one. The whole table is read too, for its sanity (the CPU arithmetic itself is
    // checked exactly against a fake /proc and clock below).
    busy = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
    idle = spawn('sleep', ['60'], { stdio: 'ignore' });
    const [hogPid, idlePid] = [busy.pid!, idle.pid!];
    await until(() => cpuTicks(hogPid) > 0);
    const pair = new ProcTables({ source: { read: procfs.read, listPids: async () => [hogPid, idlePid] } });
    const [s, two] = await Promise.all([
      takeSnapshot({ cpuSampleMs: 500, timeoutMs: 15_000 }),
      takeSnapshot({ cpuSampleMs: 500, timeoutMs: 15_000, procTables: pair }),
    ]);

    expect(s.errors).toEqual([]);
    expect(Date.parse(s.takenAt)).toBeGreaterThan(Date.now() - 60_000);
    expect(s.durationMs).toBeLessThan(15_000);
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);

    const procs = s.processes!;
    expect(procs.cpuSampleMs).toBe(500);
    for (const list of [procs.byCpu, procs.byMemory]) {
      expect(list.length).toBeGreaterThanOrEqual(1);
      expect(list.length).toBeLessThanOrEqual(5);
      for (const p of list) {
        expect(p.pid).toBeGreaterThan(0);
        expect(p.name.length).toBeGreaterThan(0);
        expect(p.command.length).toBeLessThanOrEqual(200);
        expect(p.cpuPercent).toBeGreaterThanOrEqual(0);
        expect(p.cpuPercent).toBeLessThanOrEqual(100 * os.cpus().length * 1.1);
        expect(p.rssBytes).toBeGreaterThanOrEqual(0);
      }
    }
    expect(procs.byCpu.map((p) => p.cpuPercent)).toEqual([...procs.byCpu.map((p) => p.cpuPercent)].sort((a, b) => b - a));
    expect(two.errors).toEqual([]);
    expect(two.processes!.byCpu.map((p) => p.pid)).toEqual([hogPid, idlePid]);
    const [hog, calm] = two.processes!.byCpu;
    expect(hog).toMatchObject({ name: 'node', command: `${process.execPath} -e for (;;) {}` });
    expect(calm).toMatchObject({ name: 'sleep', command: 'sleep 60', cpuPercent: 0 });
    // Ranked by the CPU it used, not by memory: it needs only one clock tick in the 500 ms.
    expect(hog.cpuPercent).toBeGreaterThan(calm.cpuPercent);
    expect(hog.rssBytes).toBeGreaterThan(1_000_000);
    expect(procs.byMemory[0].rssBytes).toBeGreaterThan(1_000_000);
    expect(procs.byMemory.map((p) => p.rssBytes)).toEqual([...procs.byMemory.map((p) => p.rssBytes)].sort((a, b) => b - a));

    const root = s.disks!.find((d) => d.mount === '/');
    expect(root).toBeDefined();
    expect(root!.usedPercent).toBeGreaterThanOrEqual(0);
    expect(root!.usedPercent).toBeLessThanOrEqual(100);
    expect(root!.freeBytes).toBeGreaterThan(0);
    expect(root!.totalBytes).toBeGreaterThanOrEqual(root!.freeBytes);
    expect(new Set(s.disks!.map((d) => d.mount)).size).toBe(s.disks!.length);
    // Two snapshots at once share the statfs calls in flight: neither leaves a disk out.
    expect(two.disks!.find((d) => d.mount === '/')).toMatchObject({ totalBytes: root!.totalBytes });
    expect(two.disks!.map((d) => d.mount).sort()).toEqual(s.disks!.map((d) => d.mount).sort());

    expect(s.memory!.usedPercent).toBeGreaterThan(0);
    expect(s.memory!.usedPercent).toBeLessThanOrEqual(100);
    expect(s.memory!.availableBytes).toBeGreaterThan(0);
    expect(s.memory!.availableBytes).toBeLessThanOrEqual(os.totalmem());
    expect(s.memory!.swapUsedPercent).toBeGreaterThanOrEqual(0);

    expect(s.load!.cores).toBe(os.availableParallelism());
    expect(s.load!.load1).toBeGreaterThanOrEqual(0);
    expect(s.load!.load5PerCore).toBeCloseTo(s.load!.load5 / s.load!.cores, 1);
    expect(s.logs).toBeUndefined();
  });

  test('an abort stops waiting: the parts not done are errors, the rest is kept', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    // The CPU sample never ends by itself: only the abort can end the snapshot before its
    // 10 s timeout, which would say 'not done within 10000 ms' instead.
    const forever = () => new Promise<void>(() => undefined);
    const s = await takeSnapshot({ cpuSampleMs: 4000, timeoutMs: 10_000, signal: ac.signal, procTables: fakeTables(), wait: forever });
    expect(s.errors).toContain('processes: aborted');
    expect(s.processes).toBeUndefined();
    expect(s.load).toBeDefined();
    // Memory and disks are read from the machine: on a loaded one they may not be done within
    // the 200 ms either. Each part is then kept or named as aborted, never both, never neither.
    for (const name of ['memory', 'disks'] as const) {
      const kept = s[name] !== undefined;
      expect({ name, kept, aborted: s.errors.includes(`${name}: aborted`) }).toEqual({ name, kept, aborted: !kept });
    }
    expect(s.errors.filter((e) => !e.endsWith(': aborted'))).toEqual([]);
  });

  test('a snapshot that gives up stops reading the process table at the next batch', async () => {
    let reads = 0;
    const release: Array<() => void> = [];
    const source: ProcSource = {
      listPids: async () => Array.from({ length: 5000 }, (_, i) => i + 1),
      read: async (pid, file) => {
        reads++;
        // The first batch hangs until the snapshot has given up.
        if (reads <= 20) await new Promise<void>((resolve) => release.push(resolve));
        return file === 'stat' ? `${pid} (x) S 1 1 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 50 0 3 0` : 'x\0';
      },
    };
    const s = await takeSnapshot({ cpuSampleMs: 10, timeoutMs: 300, procTables: new ProcTables({ source, batch: 10 }) });
    // (On a loaded machine memory or disks may miss the 300 ms too; this test is about processes.)
    expect(s.errors).toContain('processes: not done within 300 ms');
    expect(s.processes).toBeUndefined();
    for (const r of release.splice(0)) r();
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(reads).toBe(20); // one batch of stat + cmdline, never the other 4,990 processes
  });

  test('counts the processes a capped table did not examine', async () => {
    const source: ProcSource = {
      listPids: async () => [1, 2, 3, 4, 5],
      read: async (pid, file) => (file === 'stat' ? `${pid} (p${pid}) S 1 1 1 0 -1 0 0 0 0 0 ${pid} 0 0 0 20 0 1 0 50 0 ${pid * 10} 0` : `/bin/p${pid}\0--token=hunter22\0`),
    };
    const s = await takeSnapshot({ cpuSampleMs: 10, timeoutMs: 10_000, wait: noWait, procTables: new ProcTables({ source, maxProcesses: 3 }) });
    expect(s.errors).toEqual([]);
    expect(s.processes!.skipped).toBe(2);
    expect(s.processes!.byMemory.map((p) => p.pid)).toEqual([3, 2, 1]);
    expect(s.processes!.byMemory[0]).toMatchObject({ name: 'p3', command: '/bin/p3 --token=[REDACTED]', cpuPercent: 0 });
    expect(summariseSnapshot(s)).toContain('2 processes not examined (only the first 10,000 by pid are)');
  });

  test('CPU use over the sample, per process over its own window, ranks the list', async () => {
    const { clkTck } = await systemConstants();
    // pid 7 burns a whole core, 8 half of one, 9 a tenth; CPU time is counted from a fake clock
    // that only the sample's wait moves, so the shares come out exact.
    const share: Record<number, number> = { 7: 1, 8: 0.5, 9: 0.1, 10: 0 };
    let now = 1_000_000;
    const source: ProcSource = {
      listPids: async () => [10, 9, 8, 7],
      read: async (pid, file) => {
        const ticks = Math.round((now / 1000) * clkTck * share[pid]);
        return file === 'stat' ? `${pid} (p${pid}) R 1 1 1 0 -1 0 0 0 0 0 ${ticks} 0 0 0 20 0 1 0 50 0 ${100 - pid} 0` : `p${pid}\0`;
      },
    };
    const waited: number[] = [];
    const wait = async (ms: number) => {
      waited.push(ms);
      now += ms;
    };
    const s = await takeSnapshot({ cpuSampleMs: 400, timeoutMs: 5000, wait, procTables: new ProcTables({ source, clock: () => now }) });
    expect(waited).toEqual([400]);
    const byCpu = s.processes!.byCpu;
    expect(byCpu.map((p) => p.pid)).toEqual([7, 8, 9, 10]);
    expect(byCpu.map((p) => p.cpuPercent)).toEqual([100, 50, 10, 0]);
    expect(s.processes!.byMemory.map((p) => p.pid)).toEqual([7, 8, 9, 10]);
  });

  test('the CPU sample fits in the timeout', async () => {
    const waited: number[] = [];
    const wait = async (ms: number) => void waited.push(ms);
    const s = await takeSnapshot({ cpuSampleMs: 10_000, timeoutMs: 600, wait, procTables: fakeTables() });
    expect(waited).toEqual([300]);
    expect(s.processes?.cpuSampleMs).toBe(300);
  });
});

describe('logs', () => {
  test('the last N matching lines, in order, ANSI stripped and bounded', async () => {
    const file = path.join(tmp, 'app.log');
    const lines = [
      '2024-05-01 10:00:00 INFO started',
      '2024-05-01 10:00:01 ERROR first failure',
      '2024-05-01 10:00:02 info all good',
      '\u001b[31m2024-05-01 10:00:03 FATAL out of memory\u001b[0m',
      '2024-05-01 10:00:04 debug nothing',
      `2024-05-01 10:00:05 panic: ${'x'.repeat(1000)}`,
      '2024-05-01 10:00:06 Error: connection reset\r',
      '2024-05-01 10:00:07 crit disk full',
      '2024-05-01 10:00:08 INFO recovered',
    ];
    fs.writeFileSync(file, `${lines.join('\n')}\n`);
    const s = await takeSnapshot({ logs: [spec(file, { lines: 3 })], ...quiet() });
    expect(s.errors).toEqual([]);
    const [log] = s.logs!;
    expect(log).toMatchObject({ path: file, match: DEFAULT_LOG_MATCH, matched: 5, fileBytes: fs.statSync(file).size });
    expect(log.lines).toHaveLength(3);
    expect(log.lines[0]).toMatch(/^2024-05-01 10:00:05 panic: x+…$/);
    expect(log.lines[0]).toHaveLength(500);
    expect(log.lines.slice(1)).toEqual(['2024-05-01 10:00:06 Error: connection reset', '2024-05-01 10:00:07 crit disk full']);

    const all = await readLogTail(spec(file));
    expect(all.lines[1]).toBe('2024-05-01 10:00:03 FATAL out of memory');
    expect(all.matched).toBe(5);
  });

  test('a secret across the 500-character cut of a log line is scrubbed, not cut', async () => {
    const token = 'kw-admin-9f8e7d6c5b4a3210';
    setSecrets([token]);
    try {
      const file = path.join(tmp, 'app.log');
      const lines = [480, 490, 495, 498].map((at) => `ERROR ${'y'.repeat(at - 6)}${token} and more`);
      fs.writeFileSync(file, `${lines.join('\n')}\n`);
      const log = await readLogTail(spec(file));
      expect(log.lines).toHaveLength(4);
      for (const l of log.lines) {
        expect(l.length).toBeLessThanOrEqual(500);
        for (let i = 0; i + 6 <= token.length; i++) expect(l).not.toContain(token.slice(i, i + 6));
      }
      const summary = summariseSnapshot({ takenAt: '2024-05-01T10:00:00.000Z', durationMs: 1, errors: [], logs: [{ ...log, lines: [`ERROR ${'z'.repeat(180)}${token}`] }] });
      expect(summary).toMatch(/last: ERROR z+\[REDACTED\]$/);
    } finally {
      setSecrets([]);
    }
  });

  test('of a 5 MiB file only the tail is read, and the matches come from its end', async () => {
    const file = path.join(tmp, 'big.log');
    const filler = `${'2024-05-01 10:00:00 INFO request served in 12 ms '.padEnd(99, '.')}\n`;
    const fd = fs.openSync(file, 'w');
    fs.writeSync(fd, 'ERROR at the very start, must not be seen\n');
    for (let i = 0; i < 25; i++) fs.writeSync(fd, filler.repeat(2100)); // 25 × 210 KB
    fs.writeSync(fd, 'ERROR near the end 1\n');
    fs.writeSync(fd, filler.repeat(10));
    fs.writeSync(fd, 'ERROR near the end 2\n');
    fs.closeSync(fd);
    expect(fs.statSync(file).size).toBeGreaterThan(5 * 1024 * 1024);

    const log = await readLogTail(spec(file));
    expect(log.bytesRead).toBeLessThanOrEqual(LOG_TAIL_BYTES);
    expect(log.bytesRead).toBeGreaterThan(LOG_TAIL_BYTES - 200);
    expect(log.fileBytes).toBe(fs.statSync(file).size);
    expect(log.lines).toEqual(['ERROR near the end 1', 'ERROR near the end 2']);
    expect(log.matched).toBe(2);
  });

  test('a missing or unreadable file is an entry in errors, not a throw', async () => {
    const good = path.join(tmp, 'good.log');
    fs.writeFileSync(good, 'ERROR one\n');
    const missing = path.join(tmp, 'missing.log');
    const s = await takeSnapshot({ logs: [spec(missing), spec(tmp), spec(good)], ...quiet() });
    expect(s.errors).toEqual([`log ${missing}: no such file`, `log ${tmp}: not a regular file`]);
    expect(s.logs).toEqual([expect.objectContaining({ path: good, lines: ['ERROR one'] })]);
    expect(s.memory).toBeDefined();
  });

  test('a FIFO nobody writes to does not hang the snapshot', async () => {
    const fifo = path.join(tmp, 'pipe.log');
    const { execFileSync } = await import('node:child_process');
    execFileSync('mkfifo', [fifo]);
    // A hung open would end in 'not done within 10000 ms' instead.
    const s = await takeSnapshot({ logs: [spec(fifo)], ...quiet() });
    expect(s.errors).toEqual([`log ${fifo}: not a regular file`]);
  });

  test('a custom pattern is case-sensitive unless it starts with (?i)', async () => {
    const file = path.join(tmp, 'error.log');
    fs.writeFileSync(file, ['[error] upstream timed out', '[crit] SSL_do_handshake() failed', '[emerg] bind() failed', '[warn] ERROR in caps', '[notice] reopening'].join('\n'));
    const nginx = await readLogTail(spec(file, { match: 'error|crit|emerg' }));
    expect(nginx.lines).toEqual(['[error] upstream timed out', '[crit] SSL_do_handshake() failed', '[emerg] bind() failed']);
    const anyCase = await readLogTail(spec(file, { match: '(?i)error' }));
    expect(anyCase.lines).toEqual(['[error] upstream timed out', '[warn] ERROR in caps']);
    expect(compileLogPattern('(?i)a|b').flags).toBe('i');
    expect(compileLogPattern('a|b').flags).toBe('');
  });

  test('logsSchema: defaults and errors', () => {
    expect(logsSchema.parse([{ path: '/var/log/nginx/error.log' }])).toEqual([
      { path: '/var/log/nginx/error.log', match: '(?i)error|fatal|panic|crit', lines: 20 },
    ]);
    expect(logsSchema.parse([{ path: '/var/log/x.log', match: 'error|crit|emerg', lines: 200 }])[0]).toEqual({
      path: '/var/log/x.log',
      match: 'error|crit|emerg',
      lines: 200,
    });
    const messages = (input: unknown) => {
      const r = logsSchema.safeParse(input);
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(messages([{ path: 'relative.log' }])).toEqual(['0.path: expected an absolute path such as /var/log/nginx/error.log']);
    expect(messages([{ path: '/x.log', match: '(unclosed' }])).toEqual(['0.match: invalid regular expression']);
    expect(messages([{ path: '/x.log', lines: 201 }])).toEqual(['0.lines: Too big: expected number to be <=200']);
    expect(messages([{ path: '/x.log', line: 5 }])).toEqual([expect.stringMatching(/Unrecognized key: "line"/)]);
  });
});

describe('summariseSnapshot', () => {
  test('says the key figures in a few lines', () => {
    const s: Snapshot = {
      takenAt: '2024-05-01T10:00:00.000Z',
      durationMs: 612,
      load: { load1: 3.2, load5: 2.9, load15: 2.5, cores: 2, load1PerCore: 1.6, load5PerCore: 1.45, load15PerCore: 1.25 },
      memory: { usedPercent: 91, availableBytes: 700_000_000, totalBytes: 8e9, swapUsedPercent: 40 },
      disks: [
        { mount: '/boot', fsType: 'ext4', usedPercent: 20, freeBytes: 800e6, totalBytes: 1e9 },
        { mount: '/', fsType: 'ext4', usedPercent: 95, freeBytes: 2.5e9, totalBytes: 50e9 },
      ],
      processes: {
        cpuSampleMs: 500,
        byCpu: [{ pid: 123, name: 'java', command: 'java -jar app.jar', cpuPercent: 180, rssBytes: 3.1e9 }],
        byMemory: [{ pid: 123, name: 'java', command: 'java -jar app.jar', cpuPercent: 180, rssBytes: 3.1e9 }],
      },
      logs: [
        { path: '/var/log/nginx/error.log', match: 'error', lines: ['a', 'b', '[error] upstream timed out'], matched: 3, bytesRead: 100, fileBytes: 100 },
      ],
      errors: ['log /var/log/app.log: no such file'],
    };
    expect(summariseSnapshot(s).split('\n')).toEqual([
      'load 3.2/2.9/2.5 on 2 cores',
      'memory 91% used (700.0 MB available), swap 40% used',
      '/ 95% used (2.5 GB free), /boot 20% used (800.0 MB free)',
      'top CPU: java (pid 123) 180%',
      'top memory: java (pid 123) 3.1 GB',
      '/var/log/nginx/error.log: 3 matching lines, last: [error] upstream timed out',
      'not collected: log /var/log/app.log: no such file',
    ]);
  });

  test('a snapshot with nothing in it', () => {
    expect(summariseSnapshot({ takenAt: '2024-05-01T10:00:00.000Z', durationMs: 0, errors: [] })).toBe('');
  });
});
