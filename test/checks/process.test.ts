import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkSchema } from '../../agent/config/schema';
import { parseCondition } from '../../agent/evaluate';
import { PIDFILE_MAX_BYTES, processCheck } from '../../checks/process';
import { parseAuxv, parseStat, procTables, systemConstants } from '../../checks/proc-table';
import type { Thresholds } from '../../checks/types';
import { fieldsOf, runCheck, startRun } from '../helpers/check';

let dir: string;
const children: ChildProcess[] = [];

/**
 * Starts a child and waits until it has exec'd: until then /proc shows the command line it
 * was forked with (ours), and matches would not be stable. Then the next check run sees it.
 */
async function start(args: string[], opts: { command?: string; argv0?: string } = {}): Promise<ChildProcess> {
  const command = opts.command ?? process.execPath;
  const child = spawn(command, args, { stdio: 'ignore', argv0: opts.argv0 });
  children.push(child);
  const wanted = `${[opts.argv0 ?? command, ...args].join('\0')}\0`;
  const deadline = Date.now() + 10_000;
  while (readCmdline(child.pid!) !== wanted) {
    if (Date.now() > deadline) throw new Error(`child ${child.pid} did not exec ${JSON.stringify(wanted)} within 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await freshTable();
  return child;
}

/**
 * Reads the shared process table now: runs within its max age share a table, and the next
 * check run must not be handed one read before the last start or stop.
 */
async function freshTable(): Promise<void> {
  await procTables.get({ notBefore: performance.now() });
}

function readCmdline(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return undefined; // not there yet, or gone
  }
}

/** CPU seconds (user + system) of a process's main thread so far. */
async function mainThreadCpuSeconds(pid: number): Promise<number> {
  const s = parseStat(readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8'))!;
  return (s.utime + s.stime) / (await systemConstants()).clkTck;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
  await freshTable();
}

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'kw-process-'));
});

afterEach(async () => {
  await Promise.all(children.splice(0).map(stop));
  rmSync(dir, { recursive: true, force: true });
});

describe('process check', () => {
  it('finds a process by pidfile, then sees it gone', async () => {
    const child = await start(['-e', 'setInterval(() => {}, 1000)']);
    const pidfile = path.join(dir, 'app.pid');
    writeFileSync(pidfile, `${child.pid}\n`);

    const up = await runCheck(processCheck, { pidfile, sample: '200ms' });
    expect(up.values.running).toBe(1);
    expect(up.values.rssBytes).toBeGreaterThan(1_000_000);
    expect(up.values.cpuPercent).toBeGreaterThanOrEqual(0);
    expect(up.values.oldestSeconds).toBeGreaterThanOrEqual(0);
    expect(up.values.oldestSeconds).toBeLessThan(30);
    expect(up.message).toMatch(new RegExp(`^1 process from ${pidfile}, [\\d.]+% CPU, [\\d.]+ [KMG]B RSS, oldest up \\d`));

    await stop(child);
    const down = await runCheck(processCheck, { pidfile, sample: '200ms' });
    expect(down.values).toEqual({ running: 0, cpuPercent: 0, rssBytes: 0 });
    expect(down.message).toBe(`pidfile ${pidfile} names pid ${child.pid}, which is not running`);
  });

  it('finds a process by a regular expression on its command line', async () => {
    const marker = `kw-marker-${randomBytes(4).toString('hex')}`;
    const child = await start(['-e', `setInterval(() => {}, 1000) // ${marker}`]);

    const up = await runCheck(processCheck, { match: `${marker}$`, sample: '200ms' });
    expect(up.values.running).toBe(1);
    expect(up.values.rssBytes).toBeGreaterThan(0);

    await stop(child);
    expect((await runCheck(processCheck, { match: marker, sample: '200ms' })).values.running).toBe(0);
  });

  it('sums over several matches and measures their CPU', async () => {
    const marker = `kw-busy-${randomBytes(4).toString('hex')}`;
    const spinner = await start(['-e', `for (;;) {} // ${marker}`]);
    await start(['-e', `setInterval(() => {}, 1000) // ${marker}`]);
    const t0 = performance.now();
    const cpu0 = await mainThreadCpuSeconds(spinner.pid!);
    const obs = await runCheck(processCheck, { match: marker, sample: '500ms' });
    const cpu1 = await mainThreadCpuSeconds(spinner.pid!);
    const wallS = (performance.now() - t0) / 1000;
    expect(obs.values.running).toBe(2);
    // The spinner's one thread wants a whole core; how much it got depends on the machine's
    // load, which /proc tells us: it was off the CPU for at most `offS` of the time around
    // the run, so at most that long within the check's sample. The check must see the rest of
    // the sample as busy, less a clock tick of rounding at each end of either measurement.
    const { clkTck } = await systemConstants();
    const offS = wallS - (cpu1 - cpu0) + 2 / clkTck;
    expect(obs.values.cpuPercent).toBeGreaterThanOrEqual(Math.min(100 * (1 - offS / 0.5), 100) - 1);
    expect(obs.message).toMatch(/^2 processes matching/);
  });

  it('finds a process by name: the kernel name, or argv[0]', async () => {
    const name = `kw${randomBytes(3).toString('hex')}`;
    const link = path.join(dir, name);
    symlinkSync(process.execPath, link);
    await start(['-e', 'setInterval(() => {}, 1000)'], { command: link });
    expect((await runCheck(processCheck, { processName: name, sample: '100ms' })).values.running).toBe(1);

    // argv[0] set by the launcher, and longer than the 15 characters comm keeps.
    const argv0 = `keepwatch-test-${randomBytes(4).toString('hex')}`;
    await start(['-e', 'setInterval(() => {}, 1000)'], { argv0 });
    expect((await runCheck(processCheck, { processName: argv0, sample: '100ms' })).values.running).toBe(1);
  });

  it('reports running 0 for a name nothing has', async () => {
    const obs = await runCheck(processCheck, { processName: `no-such-process-${randomBytes(4).toString('hex')}` });
    expect(obs.values).toEqual({ running: 0, cpuPercent: 0, rssBytes: 0, skipped: 0 });
    expect(obs.message).toMatch(/^no process named "no-such-process-[0-9a-f]+"$/);
  });

  it('does not count the agent itself, unless named by pidfile', async () => {
    const title = `kw-self-${randomBytes(4).toString('hex')}`;
    const saved = process.title;
    process.title = title;
    try {
      expect((await runCheck(processCheck, { match: `^${title}$`, sample: '100ms' })).values.running).toBe(0);
      expect((await runCheck(processCheck, { processName: title, sample: '100ms' })).values.running).toBe(0);
      // The same pattern does find another process with that command line.
      await start(['-e', 'setInterval(() => {}, 1000)'], { argv0: title });
      expect((await runCheck(processCheck, { processName: title, sample: '100ms' })).values.running).toBe(1);
      expect((await runCheck(processCheck, { pidfile: writePid(process.pid), sample: '100ms' })).values.running).toBe(1);
    } finally {
      process.title = saved;
    }
  });

  it('treats a missing pidfile as not running', async () => {
    const obs = await runCheck(processCheck, { pidfile: path.join(dir, 'gone.pid') });
    expect(obs.values.running).toBe(0);
    expect(obs.message).toBe(`pidfile ${path.join(dir, 'gone.pid')} does not exist`);
  });

  it('cannot do its job when the pidfile is unreadable or holds no pid', async () => {
    const garbage = path.join(dir, 'garbage.pid');
    writeFileSync(garbage, 'hello\n');
    await expect(runCheck(processCheck, { pidfile: garbage })).rejects.toThrow(`pidfile ${garbage} does not start with a process id`);

    if (process.getuid?.() !== 0) {
      const locked = path.join(dir, 'locked.pid');
      writeFileSync(locked, '1\n');
      chmodSync(locked, 0o000);
      await expect(runCheck(processCheck, { pidfile: locked })).rejects.toThrow(`cannot read pidfile ${locked}: permission denied`);
    }
  });

  // readFile would wait on the FIFO for a writer (a pool thread per run, forever) and read
  // /dev/zero until 2 GiB were allocated; the bounded reader refuses both at once.
  it('refuses a FIFO, a device or an oversized file as pidfile at once, never hanging', async () => {
    const fifo = path.join(dir, 'fifo.pid');
    execFileSync('mkfifo', [fifo]);
    const big = path.join(dir, 'big.pid');
    writeFileSync(big, `1\n${' '.repeat(PIDFILE_MAX_BYTES)}`);
    // A read of the FIFO would wait for a writer forever: that these settle at all is the point.
    await expect(runCheck(processCheck, { pidfile: fifo })).rejects.toThrow(`cannot read pidfile ${fifo}: not a regular file (a FIFO)`);
    await expect(runCheck(processCheck, { pidfile: '/dev/zero' })).rejects.toThrow('cannot read pidfile /dev/zero: not a regular file (a character device)');
    await expect(runCheck(processCheck, { pidfile: big })).rejects.toThrow(`cannot read pidfile ${big}: larger than the 4 KiB limit (4098 bytes)`);
  });

  it('refuses, at load time, a sample that outlasts the timeout', () => {
    expect(processCheck.validate!(processCheck.schema.parse({ processName: 'x', sample: '2s' }), { timeoutMs: 1000 })).toEqual([
      { key: 'sample', message: 'sample (2s) must be shorter than the timeout (1s)' },
    ]);
  });

  it('stops sampling at once when the signal aborts', async () => {
    // The longest sample there is, a minute, outlasts the test's own timeout: only the abort
    // can end this run in time.
    const { run, abort } = startRun(processCheck, { pidfile: writePid(process.pid), sample: '60s' }, { timeoutMs: 120_000 });
    setTimeout(() => abort(), 50);
    await expect(run).rejects.toThrow();
  });
});

function writePid(pid: number): string {
  const file = path.join(dir, `${pid}.pid`);
  writeFileSync(file, String(pid));
  return file;
}

describe('process check config', () => {
  it.each([
    [{}, 'say which processes to watch: set one of processName, match or pidfile'],
    [{ processName: 'nginx', match: 'nginx' }, 'set only one of processName, match or pidfile (this check sets processName and match)'],
    [{ processName: '/usr/sbin/nginx' }, 'processName is a name such as nginx, not a path'],
    [{ match: '(' }, 'invalid regular expression'],
    [{ pidfile: 'run/x.pid' }, 'expected an absolute path'],
    [{ processName: 'nginx', sample: '10ms' }, 'must be at least'],
  ])('rejects %j', (raw, message) => {
    const r = processCheck.schema.safeParse(raw);
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.message).join('; ')).toContain(message);
  });

  it('takes its selectors beside the keys every check has', () => {
    // The check's own `name` is a common key: the selectors must not clash with it.
    const schema = checkSchema('process')!;
    expect(schema.safeParse({ name: 'web', type: 'process', match: 'gunicorn' }).success).toBe(true);
    expect(schema.safeParse({ name: 'web', type: 'process', processName: 'nginx', every: '1m' }).success).toBe(true);
    expect(schema.safeParse({ name: 'web', type: 'process' }).success).toBe(false);
  });

  it('has default conditions that parse against its fields', () => {
    const d = processCheck.defaults as Thresholds;
    expect(d).toEqual({ crit: ['running < 1'] });
    expect(parseCondition(d.crit![0], fieldsOf(processCheck, { processName: 'nginx' })).test({ running: 0 })).toBe(true);
  });

  it('parses /proc/PID/stat with spaces and parentheses in the name', () => {
    const line = '4242 (my (odd) proc) S 1 4242 4242 0 -1 4194304 100 0 0 0 250 75 0 0 20 0 1 0 123456 1000000 300 18446744073709551615';
    expect(parseStat(line)).toEqual({ comm: 'my (odd) proc', state: 'S', utime: 250, stime: 75, starttime: 123456, rssPages: 300 });
    expect(parseStat('garbage')).toBeUndefined();
  });

  it('reads page size and clock tick from an auxv dump', () => {
    const words = [33, 0x7fff0000, 6, 16384, 17, 250, 0, 0];
    const le = os.endianness() === 'LE';
    const buf = Buffer.alloc(words.length * 8);
    words.forEach((w, i) => (le ? buf.writeBigUInt64LE(BigInt(w), i * 8) : buf.writeBigUInt64BE(BigInt(w), i * 8)));
    expect(parseAuxv(buf, 8)).toEqual({ pageSize: 16384, clkTck: 250 });
    expect(parseAuxv(Buffer.alloc(0), 8)).toEqual({ pageSize: 4096, clkTck: 100 });
  });
});
