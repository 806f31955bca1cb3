import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { MAX_CMDLINE_BYTES, ProcTables, type ProcSource } from '../../checks/proc-table';

/** A fake /proc of `n` sleeping processes that counts what is read and can hold reads back. */
function fakeProc(n: number) {
  const counts = { list: 0, stat: 0, cmdline: 0 };
  const gates: Array<() => void> = [];
  let held = false;
  const source: ProcSource = {
    async listPids() {
      counts.list++;
      // Unsorted on purpose: the cap keeps the lowest pids.
      return Array.from({ length: n }, (_, i) => n - i);
    },
    async read(pid, file) {
      if (held) await new Promise<void>((resolve) => gates.push(resolve));
      counts[file]++;
      if (file === 'cmdline') return `/bin/sleep\0${pid}\0`;
      return `${pid} (sleep) S 1 ${pid} ${pid} 0 -1 0 0 0 0 0 ${pid} 1 0 0 20 0 1 0 ${1000 + pid} 0 ${pid % 7} 0`;
    },
  };
  return {
    source,
    counts,
    hold: () => (held = true),
    release() {
      held = false;
      for (const g of gates.splice(0)) g();
    },
    /** Lets held reads through one at a time until `k` have passed. */
    async pass(k: number) {
      for (let i = 0; i < k; i++) {
        while (gates.length === 0) await new Promise((r) => setImmediate(r));
        gates.shift()!();
      }
    },
  };
}

describe('ProcTables', () => {
  test('reads stat and command line of every process, in batches', async () => {
    const fake = fakeProc(100);
    const table = await new ProcTables({ source: fake.source, batch: 8 }).get();
    expect(table.total).toBe(100);
    expect(table.skipped).toBe(0);
    expect(table.entries.size).toBe(100);
    expect(table.entries.get(42)).toMatchObject({ pid: 42, comm: 'sleep', utime: 42, stime: 1, starttime: 1042, rssPages: 0, cmdline: '/bin/sleep\u000042\u0000' });
    expect(fake.counts).toEqual({ list: 1, stat: 100, cmdline: 100 });
  });

  test('reads at most maxProcesses, the lowest pids, and counts the rest as skipped', async () => {
    const fake = fakeProc(50);
    const table = await new ProcTables({ source: fake.source, maxProcesses: 20 }).get();
    expect([...table.entries.keys()]).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(table).toMatchObject({ total: 50, skipped: 30 });
    expect(fake.counts.stat).toBe(20);
  });

  test('concurrent callers share one read; a fresh one is read once the last is too old', async () => {
    let now = 0;
    const fake = fakeProc(40);
    const tables = new ProcTables({ source: fake.source, batch: 4, maxAgeMs: 500, clock: () => now });
    const [a, b, c] = await Promise.all([tables.get(), tables.get(), tables.get()]);
    expect(a).toBe(b);
    expect(b).toBe(c);
    expect(fake.counts).toEqual({ list: 1, stat: 40, cmdline: 40 });

    now = 400;
    expect(await tables.get()).toBe(a); // still fresh
    expect(fake.counts.list).toBe(1);
    now = 501;
    const d = await tables.get();
    expect(d).not.toBe(a);
    expect(fake.counts.list).toBe(2);
    // notBefore asks for a reading taken after a given moment (the end of a CPU sample).
    expect(await tables.get({ notBefore: 501 })).toBe(d);
    expect(await tables.get({ notBefore: 502 })).not.toBe(d);
    expect(fake.counts.list).toBe(3);
  });

  test('an aborted caller stops waiting at once, and the read stops at the next batch when nobody waits', async () => {
    const fake = fakeProc(1000);
    const tables = new ProcTables({ source: fake.source, batch: 10 });
    fake.hold();
    const ac = new AbortController();
    const got = tables.get({ signal: ac.signal });
    await fake.pass(15); // the first batch (10 stat + 10 cmdline reads) is under way
    ac.abort(new Error('check timed out'));
    await expect(got).rejects.toThrow('check timed out');
    fake.release();
    // Let whatever was in flight finish: no further batch may start.
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(fake.counts.stat).toBeLessThanOrEqual(10);
    expect(fake.counts.cmdline).toBeLessThanOrEqual(10);

    // The dead read is not handed to the next caller.
    const next = await tables.get();
    expect(next.entries.size).toBe(1000);
  });

  test('one caller giving up does not stop a read another still waits for', async () => {
    const fake = fakeProc(100);
    const tables = new ProcTables({ source: fake.source, batch: 10 });
    fake.hold();
    const quitter = new AbortController();
    const a = tables.get({ signal: quitter.signal });
    const b = tables.get();
    await fake.pass(5);
    quitter.abort(new Error('gone'));
    await expect(a).rejects.toThrow('gone');
    fake.release();
    expect((await b).entries.size).toBe(100);
    expect(fake.counts.list).toBe(1);
  });

  test('a caller whose signal is already aborted reads nothing', async () => {
    const fake = fakeProc(10);
    const ac = new AbortController();
    ac.abort(new Error('stopping'));
    expect(() => new ProcTables({ source: fake.source }).get({ signal: ac.signal })).toThrow('stopping');
    expect(fake.counts.list).toBe(0);
  });

  test('entries() reads the given pids in batches and stops between batches when aborted', async () => {
    const fake = fakeProc(500);
    const tables = new ProcTables({ source: fake.source, batch: 25 });
    const ac = new AbortController();
    fake.hold();
    const got = tables.entries(Array.from({ length: 500 }, (_, i) => i + 1), ac.signal);
    await fake.pass(25);
    ac.abort(new Error('timeout'));
    await expect(got).rejects.toThrow('timeout');
    fake.release();
    expect(fake.counts.stat).toBe(25);
    expect(fake.counts.cmdline).toBe(0);
  });

  test('lets go of a table once it is older than maxAgeMs, even if nobody asks in between', async () => {
    jest.useFakeTimers();
    try {
      const fake = fakeProc(10);
      // A frozen clock would call the table fresh forever: only its release (a timer) makes a new read.
      const tables = new ProcTables({ source: fake.source, maxAgeMs: 30, clock: () => 0 });
      const a = await tables.get();
      expect(await tables.get()).toBe(a);
      await jest.advanceTimersByTimeAsync(29);
      expect(await tables.get()).toBe(a);
      await jest.advanceTimersByTimeAsync(1);
      expect(await tables.get()).not.toBe(a);
      expect(fake.counts.list).toBe(2);
    } finally {
      jest.useRealTimers();
    }
  });

  test('asks for at most 4 KiB of each command line', async () => {
    const asked: number[] = [];
    const huge = `/usr/bin/java\0-cp\0${'x'.repeat(1 << 20)}\0`;
    const source: ProcSource = {
      listPids: async () => [7],
      read: async (pid, file, maxBytes) => {
        if (file === 'stat') return `${pid} (java) S 1 1 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 50 0 3 0`;
        asked.push(maxBytes);
        return huge.slice(0, maxBytes);
      },
    };
    const table = await new ProcTables({ source }).get();
    expect(MAX_CMDLINE_BYTES).toBe(4096);
    expect(asked).toEqual([4096]);
    expect(table.entries.get(7)?.cmdline).toHaveLength(4096);
  });

  test('reads at most 4 KiB of a real command line of 100 KB', async () => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'x'.repeat(100_000)], { stdio: 'ignore' });
    try {
      const tables = new ProcTables();
      const signal = AbortSignal.timeout(5000);
      let cmdline = '';
      // Until the child has exec'd, /proc shows the command line it was forked with.
      while (!cmdline.includes('setInterval')) {
        await new Promise((r) => setTimeout(r, 20));
        cmdline = (await tables.entries([child.pid!], signal, true)).get(child.pid!)?.cmdline ?? '';
      }
      expect(Buffer.byteLength(cmdline)).toBe(4096);
      expect(cmdline.startsWith(`${process.execPath}\0-e\0setInterval(() => {}, 1000)\0xxx`)).toBe(true);
      expect(cmdline).toMatch(/x$/);
    } finally {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
  });

  test('zombies and processes gone between reads are left out', async () => {
    const source: ProcSource = {
      listPids: async () => [1, 2, 3],
      read: async (pid, file) => {
        if (pid === 2) return file === 'stat' ? '2 (defunct) Z 1 2 2 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 50 0 0 0' : '';
        if (pid === 3 && file === 'cmdline') return undefined;
        return `${pid} (x) S 1 1 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 50 0 3 0`;
      },
    };
    const table = await new ProcTables({ source }).get();
    expect([...table.entries.keys()]).toEqual([1]);
    expect(table.total).toBe(3);
  });
});
