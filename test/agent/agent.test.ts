import { Writable } from 'node:stream';
import { Agent } from '../../agent/agent';
import { ConfigError } from '../../agent/errors';
import { createLogger } from '../../agent/logger';
import { Metrics } from '../../agent/metrics';
import { Store } from '../../agent/store/store';
import { tempDir } from '../helpers/daemon';
import { checkConfig, makeConfig, sleep } from '../helpers/fake-checks';

function deps(extra: Partial<Parameters<typeof Agent.create>[1]> = {}) {
  const lines: string[] = [];
  const log = createLogger({ level: 'info', destination: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) as never });
  const metrics = new Metrics({ version: 'test', defaultMetrics: false });
  return { log, metrics, lines, initialSpreadMs: 0, ...extra };
}

async function metricLine(metrics: Metrics, re: RegExp): Promise<string[]> {
  const body = (await metrics.expose()).body.toString();
  return body.split('\n').filter((l) => re.test(l));
}

afterEach(() => jest.useRealTimers());

test('a hung check and a throwing check never delay or stop another check, even with one slot', async () => {
  // An injected clock: the lag bucket below measures the scheduler, not how busy the machine is.
  jest.useFakeTimers({ now: 0 });
  const fastRuns: number[] = [];
  const config = makeConfig(
    [
      checkConfig('hung', () => new Promise(() => undefined), { timeoutMs: 150, schedule: { kind: 'every', everyMs: 1000 } }),
      checkConfig('throws', async () => { throw new Error('boom'); }, { schedule: { kind: 'every', everyMs: 1000 } }),
      checkConfig('fast', async () => {
        fastRuns.push(Date.now());
        return { values: { value: 0 }, message: 'ok' };
      }, { schedule: { kind: 'every', everyMs: 1000 } }),
    ],
    { agent: { name: 't', listen: '127.0.0.1:0', dataDir: '.', concurrency: 1, logLevel: 'info' } },
  );
  const d = deps();
  const agent = await Agent.create(config, d);
  agent.start();
  await jest.advanceTimersByTimeAsync(3300);
  const stopped = agent.stop(); // the hung run in flight is abandoned at its timeout plus the grace
  await jest.advanceTimersByTimeAsync(1000);
  await stopped;
  expect(fastRuns.length).toBeGreaterThanOrEqual(3);
  expect(agent.getCheck('hung')?.last).toMatchObject({ statusText: 'critical', reason: 'timeout' });
  expect(agent.getCheck('throws')?.last).toMatchObject({ statusText: 'unknown', reason: 'error', message: 'check failed: boom' });
  expect(agent.getCheck('fast')?.last).toMatchObject({ statusText: 'ok' });
  // Scheduler lag stayed small: the hung check held the only slot for at most its timeout
  // (plus the abort grace), never for a whole interval.
  const lag = await metricLine(d.metrics, /^keepwatch_scheduler_lag_seconds_bucket\{le="1"\}/);
  const count = await metricLine(d.metrics, /^keepwatch_scheduler_lag_seconds_count/);
  expect(Number(lag[0].split(' ')[1])).toBe(Number(count[0].split(' ')[1]));
  expect(await metricLine(d.metrics, /^keepwatch_check_runs_total\{check="hung",status="critical",reason="timeout"\} [1-9]/)).toHaveLength(1);
});

test('retryEvery re-checks a failing check until the lifecycle confirms the failure, then slows down', async () => {
  jest.useFakeTimers({ now: 0 });
  // The pace follows the incident lifecycle's own counting, which lives with the store.
  const dir = tempDir();
  const store = Store.open(dir.dir);
  const times: number[] = [];
  let value = 5; // failing
  const config = makeConfig([
    checkConfig('flaky', async () => {
      times.push(Date.now());
      return { values: { value }, message: 'v' };
    }, { schedule: { kind: 'every', everyMs: 60_000 }, retryEveryMs: 5000 }),
  ]);
  const agent = await Agent.create(config, deps({ store }));
  agent.start();
  await jest.advanceTimersByTimeAsync(11_000);
  // Run 1 fails, runs 2 and 3 come 5 s apart and confirm it (openAfter 3).
  expect(times).toEqual([0, 5000, 10000]);
  await jest.advanceTimersByTimeAsync(40_000);
  expect(times).toHaveLength(3); // confirmed: back to the 60 s pace
  value = 0;
  await jest.advanceTimersByTimeAsync(20_000);
  // The next slot finds it recovered; the recovery is confirmed 5 s later (resolveAfter 2) ...
  expect(times).toHaveLength(5);
  expect(times[4] - times[3]).toBe(5000);
  // ... and then it is back to the 60 s pace.
  await jest.advanceTimersByTimeAsync(30_000);
  expect(times).toHaveLength(5);
  const stopped = agent.stop();
  await jest.advanceTimersByTimeAsync(1000);
  await stopped;
  store.close();
  dir.cleanup();
});

test('reload applies a valid config and refuses an invalid one, keeping the old', async () => {
  const d = deps();
  let next: () => ReturnType<typeof makeConfig> = () => makeConfig([]);
  const agent = await Agent.create(
    makeConfig([
      checkConfig('a', async () => ({ values: { value: 0 }, message: 'a' }), { labels: { team: 'x' } }),
      checkConfig('b', async () => ({ values: { value: 0 }, message: 'b' })),
    ]),
    { ...d, loadConfig: () => next() },
  );
  agent.start();
  await agent.runNow('a');
  await agent.runNow('b');
  expect(await metricLine(d.metrics, /^keepwatch_check_status\{check="a".*team="x"\} 0$/)).toHaveLength(1);

  next = () => makeConfig([
    checkConfig('b', async () => ({ values: { value: 0 }, message: 'b' }), { labels: { zone: 'eu' } }),
    checkConfig('c', async () => ({ values: { value: 0 }, message: 'c' })),
  ]);
  expect(await agent.reload()).toEqual({ ok: true, checks: 2 });
  expect(agent.checkNames()).toEqual(['b', 'c']);
  expect(await metricLine(d.metrics, /check="a"/)).toEqual([]);
  // b keeps its last result, now exported with its new labels.
  expect(await metricLine(d.metrics, /^keepwatch_check_status\{check="b",type="scripted",category="health",zone="eu"\} 0$/)).toHaveLength(1);
  expect(await metricLine(d.metrics, /^keepwatch_config_last_reload_successful 1$/)).toHaveLength(1);

  next = () => {
    throw new ConfigError([{ file: 'k.yaml', line: 3, col: 5, path: 'checks[0].type', message: 'unknown check type "htp"' }]);
  };
  const refused = await agent.reload();
  expect(refused).toEqual({ ok: false, errors: ['k.yaml:3:5: checks[0].type: unknown check type "htp"'] });
  expect(agent.checkNames()).toEqual(['b', 'c']);
  expect(await metricLine(d.metrics, /^keepwatch_config_last_reload_successful 0$/)).toHaveLength(1);
  expect(d.lines.join('')).toMatch(/config reload refused; the running config stays/);
  await agent.stop();
});

test('values a run did not return are removed from keepwatch_check_value', async () => {
  let values: Record<string, number> = { value: 1, extra: 2 };
  const d = deps();
  const agent = await Agent.create(makeConfig([checkConfig('v', async () => ({ values, message: 'm' }), { crit: [] })]), d);
  await agent.runNow('v');
  expect(await metricLine(d.metrics, /^keepwatch_check_value\{check="v"/)).toEqual([
    'keepwatch_check_value{check="v",field="value"} 1',
    'keepwatch_check_value{check="v",field="extra"} 2',
  ]);
  values = { value: 3 };
  await agent.runNow('v');
  expect(await metricLine(d.metrics, /^keepwatch_check_value\{check="v"/)).toEqual(['keepwatch_check_value{check="v",field="value"} 3']);
  await agent.stop();
});

test('a run that finishes after a reload keeps its result when the check did not change', async () => {
  let release!: () => void;
  let began!: () => void;
  const running = new Promise<void>((r) => (began = r));
  const slow = () => checkConfig('slow', () => new Promise((r) => {
    release = () => r({ values: { value: 0 }, message: 'done' });
    began();
  }), { timeoutMs: 5000 });
  const d = deps();
  const agent = await Agent.create(makeConfig([slow()]), { ...d, loadConfig: () => makeConfig([slow()]) });
  const run = agent.runNow('slow');
  await running;
  expect(await agent.reload()).toEqual({ ok: true, checks: 1 });
  release();
  expect((await run).result).toMatchObject({ statusText: 'ok', message: 'done' });
  await agent.stop();
});

test('stop() settles runs still waiting for a slot', async () => {
  jest.useFakeTimers({ now: 0 });
  const config = makeConfig(
    [
      checkConfig('a', ({ signal }) => sleep(60_000, signal).then(() => ({ values: {}, message: '' })), { timeoutMs: 60_000 }),
      checkConfig('b', async () => ({ values: {}, message: '' })),
    ],
    { agent: { name: 't', listen: '127.0.0.1:0', dataDir: '.', concurrency: 1, logLevel: 'info' } },
  );
  const agent = await Agent.create(config, deps());
  const a = agent.runNow('a');
  const b = agent.runNow('b'); // queued behind a
  await jest.advanceTimersByTimeAsync(20);
  let settled = false;
  const all = Promise.all([agent.stop(), a, b]).then(() => (settled = true));
  // On the injected clock: well before a's 60 s sleep and timeout.
  await jest.advanceTimersByTimeAsync(2000);
  expect(settled).toBe(true);
  await all;
});
