import { alignedAfter, MAX_TIMER_MS, phaseOf, Scheduler, type JobSpec } from '../../agent/scheduler';

const every = (name: string, ms: number): JobSpec => ({ name, schedule: { kind: 'every', everyMs: ms } });

afterEach(() => {
  jest.useRealTimers();
});

describe('splay', () => {
  test('phases of 1,000 names spread evenly over the interval', () => {
    const buckets = new Array(10).fill(0);
    for (let i = 0; i < 1000; i++) buckets[Math.floor(phaseOf(`check-${i}`) * 10)]++;
    for (const b of buckets) {
      expect(b).toBeGreaterThan(60);
      expect(b).toBeLessThan(140);
    }
  });

  test('a name always gets the same phase, and slots fall on its grid', () => {
    expect(phaseOf('api-health')).toBe(phaseOf('api-health'));
    expect(phaseOf('api-health')).not.toBe(phaseOf('api-health2'));
    const phase = 0.25;
    expect(alignedAfter(0, 1000, phase)).toBe(250);
    expect(alignedAfter(250, 1000, phase)).toBe(1250);
    expect(alignedAfter(1249, 1000, phase)).toBe(1250);
  });

  test('1,000 checks at 30 s fire spread out, not together', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const fired: number[] = [];
    const s = new Scheduler({ concurrency: 10_000, execute: async () => void fired.push(Date.now()) });
    s.setJobs(Array.from({ length: 1000 }, (_, i) => every(`check-${i}`, 30_000)));
    s.start();
    await jest.advanceTimersByTimeAsync(5_000);
    // First runs are spread over the first 5 s, so results come quickly.
    expect(fired.length).toBe(1000);
    // A first run skips an aligned slot less than half an interval after it; past that, steady state.
    await jest.advanceTimersByTimeAsync(60_000);
    fired.length = 0;
    await jest.advanceTimersByTimeAsync(60_000);
    // Every check exactly twice a minute, and no second carries more than 3x the mean (33/s).
    expect(fired.length).toBe(2000);
    const perSecond = new Map<number, number>();
    for (const t of fired) perSecond.set(Math.floor(t / 1000), (perSecond.get(Math.floor(t / 1000)) ?? 0) + 1);
    expect(Math.max(...perSecond.values())).toBeLessThan(100);
    await s.stop();
  });
});

describe('runs', () => {
  test('a run never overlaps its previous run; skipped runs are reported', async () => {
    jest.useFakeTimers({ now: 0 });
    let active = 0;
    let maxActive = 0;
    let runs = 0;
    const skips: string[] = [];
    const s = new Scheduler({
      concurrency: 10,
      initialSpreadMs: 0,
      execute: async () => {
        runs++;
        active++;
        maxActive = Math.max(maxActive, active);
        await new Promise((r) => setTimeout(r, 2500));
        active--;
      },
      onSkip: (name, reason) => skips.push(`${name}:${reason}`),
    });
    s.setJobs([every('slow', 1000)]);
    s.start();
    await jest.advanceTimersByTimeAsync(10_000);
    expect(maxActive).toBe(1);
    expect(runs).toBeGreaterThanOrEqual(3);
    expect(runs).toBeLessThanOrEqual(4);
    expect(skips.length).toBeGreaterThanOrEqual(5);
    expect(new Set(skips)).toEqual(new Set(['slow:overlap']));
    const stopped = s.stop(); // waits for the run in flight
    await jest.advanceTimersByTimeAsync(3000);
    await stopped;
  });

  test('at most `concurrency` runs are in flight; the rest queue in order and report lag', async () => {
    jest.useFakeTimers({ now: 0 });
    let active = 0;
    let maxActive = 0;
    const order: string[] = [];
    const queue: number[] = [];
    const lags: number[] = [];
    const s = new Scheduler({
      concurrency: 2,
      initialSpreadMs: 0,
      execute: async (name) => {
        order.push(name);
        active++;
        maxActive = Math.max(maxActive, active);
        await new Promise((r) => setTimeout(r, 1000));
        active--;
      },
      onQueue: (n) => queue.push(n),
      onLag: (sec) => lags.push(sec),
    });
    // Same phase 0 for all: with initialSpreadMs 0 they are all due at once.
    s.setJobs(['a', 'b', 'c', 'd', 'e'].map((n) => every(n, 60_000)));
    s.start();
    await jest.advanceTimersByTimeAsync(3500);
    expect(maxActive).toBe(2);
    expect(order).toHaveLength(5);
    expect(Math.max(...queue)).toBe(3);
    expect(queue[queue.length - 1]).toBe(0);
    // Runs that waited for a slot started late, and the lag says so.
    expect(Math.max(...lags)).toBeGreaterThanOrEqual(2);
    await s.stop();
  });

  test('a throwing execute does not stop the scheduler', async () => {
    jest.useFakeTimers({ now: 0 });
    let calls = 0;
    const s = new Scheduler({
      concurrency: 1,
      initialSpreadMs: 0,
      execute: async () => {
        calls++;
        throw new Error('bug');
      },
      log: { warn: () => undefined },
    });
    s.setJobs([every('x', 1000)]);
    s.start();
    await jest.advanceTimersByTimeAsync(3100);
    expect(calls).toBeGreaterThanOrEqual(3);
    await s.stop();
  });

  test('pace() re-runs a failing job sooner than its interval', async () => {
    jest.useFakeTimers({ now: 0 });
    const times: number[] = [];
    let failing = true;
    const s = new Scheduler({
      concurrency: 1,
      initialSpreadMs: 0,
      execute: async () => void times.push(Date.now()),
      pace: () => (failing && times.length < 4 ? 2000 : undefined),
    });
    s.setJobs([every('flaky', 60_000)]);
    s.start();
    await jest.advanceTimersByTimeAsync(7_000);
    expect(times.slice(0, 4).map((t) => t - times[0])).toEqual([0, 2000, 4000, 6000]);
    failing = false;
    await jest.advanceTimersByTimeAsync(20_000);
    expect(times).toHaveLength(4); // back to the normal 60 s pace
    await s.stop();
  });

  test('runNow runs outside the schedule and refuses while the job is busy', async () => {
    let release!: () => void;
    const s = new Scheduler({
      concurrency: 1,
      execute: () => new Promise<void>((r) => (release = r)),
    });
    s.setJobs([every('manual', 3_600_000)]);
    const first = s.runNow('manual');
    expect(first.started).toBe(true);
    expect(s.busy('manual')).toBe(true);
    expect(s.runNow('manual').started).toBe(false);
    release();
    await first.done;
    expect(s.busy('manual')).toBe(false);
    expect(() => s.runNow('nope')).toThrow(/no such job/);
  });

  test('stop() and removing a job settle runs still queued for a slot', async () => {
    let release!: () => void;
    const s = new Scheduler({ concurrency: 1, execute: (name) => (name === 'a' ? new Promise<void>((r) => (release = r)) : Promise.resolve()) });
    s.setJobs([every('a', 3_600_000), every('b', 3_600_000), every('c', 3_600_000)]);
    const a = s.runNow('a');
    const b = s.runNow('b');
    const c = s.runNow('c');
    expect(s.busy('b')).toBe(true);
    s.setJobs([every('a', 3_600_000), every('c', 3_600_000)]); // b removed while queued
    await b.done;
    const stopped = s.stop();
    await c.done; // dropped by stop, not run
    expect(s.busy('c')).toBe(false);
    release();
    await Promise.all([a.done, stopped]);
  });

  test('setJobs removes, adds and reschedules jobs', async () => {
    jest.useFakeTimers({ now: 0 });
    const ran: string[] = [];
    const s = new Scheduler({ concurrency: 5, initialSpreadMs: 0, execute: async (n) => void ran.push(n) });
    s.setJobs([every('a', 1000), every('b', 1000)]);
    s.start();
    await jest.advanceTimersByTimeAsync(2100);
    s.setJobs([every('b', 5000), every('c', 1000)]);
    ran.length = 0;
    await jest.advanceTimersByTimeAsync(5000);
    expect(ran).not.toContain('a');
    expect(ran.filter((n) => n === 'c').length).toBeGreaterThanOrEqual(4);
    expect(ran.filter((n) => n === 'b').length).toBeLessThanOrEqual(2);
    expect(s.nextRun('a')).toBeUndefined();
    expect(s.nextRun('c')).toBeGreaterThan(Date.now() - 1);
    await s.stop();
  });
});

describe('cron', () => {
  // node-cron times its runs with the global setTimeout and Date, so fake timers drive it too.
  const AT = Date.parse('2024-05-01T12:00:00.300Z');

  test('fires on the second with node-cron and reports the next run', async () => {
    jest.useFakeTimers({ now: AT });
    const times: number[] = [];
    const lags: number[] = [];
    const s = new Scheduler({ concurrency: 1, execute: async () => void times.push(Date.now()), onLag: (l) => lags.push(l) });
    s.setJobs([{ name: 'tick', schedule: { kind: 'cron', cron: '* * * * * *' } }]);
    s.start();
    const next = s.nextRun('tick')!;
    expect(next - Date.now()).toBeLessThanOrEqual(1000);
    await jest.advanceTimersByTimeAsync(2600);
    await s.stop();
    expect(times).toEqual([AT + 700, AT + 1700]);
    // Each run started within a second of its slot (node-cron counts later ones as missed).
    expect(Math.max(...lags)).toBeLessThan(1);
    await jest.advanceTimersByTimeAsync(1200);
    expect(times).toHaveLength(2); // stopped means stopped
  });

  test('cron runs the process was too busy to start are counted as missed', async () => {
    jest.useFakeTimers({ now: AT });
    const skips: string[] = [];
    const s = new Scheduler({ concurrency: 1, execute: async () => undefined, onSkip: (n, r) => skips.push(`${n}:${r}`) });
    s.setJobs([{ name: 'tick', schedule: { kind: 'cron', cron: '* * * * * *' } }]);
    s.start();
    // The wall clock jumps 3.2 s while no timer fires, as under a long GC pause, a blocked
    // event loop or a stopped VM: the next heartbeat finds its slots long past.
    jest.setSystemTime(AT + 3200);
    await jest.advanceTimersByTimeAsync(1000);
    await s.stop();
    expect(skips.length).toBeGreaterThanOrEqual(1);
    expect(new Set(skips)).toEqual(new Set(['tick:missed']));
  });

  test('honours the time zone', async () => {
    const s = new Scheduler({ concurrency: 1, execute: async () => undefined });
    s.setJobs([
      { name: 'tokyo-noon', schedule: { kind: 'cron', cron: '0 0 12 * * *', timezone: 'Asia/Tokyo' } },
      { name: 'utc-noon', schedule: { kind: 'cron', cron: '0 0 12 * * *', timezone: 'UTC' } },
    ]);
    s.start();
    expect(new Date(s.nextRun('tokyo-noon')!).getUTCHours()).toBe(3);
    expect(new Date(s.nextRun('utc-noon')!).getUTCHours()).toBe(12);
    await s.stop();
  });
});

describe('long intervals', () => {
  test('every: 30d never sets a timer past the 32-bit limit, and runs once per 30 days', async () => {
    jest.useFakeTimers({ now: 0 });
    const day = 86_400_000;
    const delays: number[] = [];
    const realSetTimeout = global.setTimeout;
    const spy = jest.spyOn(global, 'setTimeout').mockImplementation(((fn: () => void, ms?: number) => {
      delays.push(ms ?? 0);
      return realSetTimeout(fn, ms);
    }) as typeof setTimeout);
    const fired: number[] = [];
    const s = new Scheduler({ concurrency: 1, initialSpreadMs: 0, execute: async () => void fired.push(Date.now()) });
    s.setJobs([every('monthly', 30 * day)]);
    s.start();
    await jest.advanceTimersByTimeAsync(10);
    // Before the fix the scheduler asked for a ~30-day timer, which Node fires after 1 ms.
    expect(Math.max(...delays)).toBeLessThanOrEqual(MAX_TIMER_MS);
    await jest.advanceTimersByTimeAsync(65 * day);
    spy.mockRestore();
    expect(Math.max(...delays)).toBeLessThanOrEqual(MAX_TIMER_MS);
    expect(delays.length).toBeGreaterThan(30);
    // The first run comes at once (no spread), then one run per 30 days: no spin, no replay.
    expect(fired.length).toBe(3);
    expect(fired[1] - fired[0]).toBeGreaterThanOrEqual(15 * day);
    expect(fired[2] - fired[1]).toBe(30 * day);
    await s.stop();
  });
});
