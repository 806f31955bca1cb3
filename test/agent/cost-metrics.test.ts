import { Writable } from 'node:stream';
import { Agent } from '../../agent/agent';
import { MAX_COST_GROUPS, MAX_COST_LABEL } from '../../agent/cost-series';
import { Status } from '../../agent/evaluate';
import { createLogger } from '../../agent/logger';
import { Metrics } from '../../agent/metrics';
import { runCheckOnce } from '../../agent/runner';
import { setSecrets } from '../../agent/secrets';
import type { CostFigures, Observation } from '../../checks/types';
import { checkConfig, makeConfig, sleep } from '../helpers/fake-checks';
import { sample } from '../helpers/metrics';

// The cost contract every cost check shares: an observation's `cost` block rides on the result
// (labels cut and scrubbed, non-finite figures dropped, the largest groups kept) and becomes the
// keepwatch_cost_* gauges with the labels check, source, scope and currency.

const log = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) as never });
afterEach(() => setSecrets([]));

const signal = () => new AbortController().signal;
const budget: CostFigures = { source: 'focus', scope: 'service=AmazonEC2', currency: 'USD', spend: 1234.5, forecast: 2400, budget: 2000 };

async function expose(name: string, obs: Observation): Promise<{ text: string; metrics: Metrics; r: Awaited<ReturnType<typeof runCheckOnce>> }> {
  const check = checkConfig(name, async () => obs);
  const r = await runCheckOnce(check, { log, signal: signal() });
  const metrics = new Metrics({ version: 't', defaultMetrics: false });
  metrics.setChecks([check]);
  metrics.recordRun(name, { status: r.status, up: r.up, durationSeconds: 0, values: r.values, cost: r.cost });
  return { text: (await metrics.expose()).body.toString(), metrics, r };
}

test('a cost block becomes keepwatch_cost_spend, _forecast and _budget labelled check, source, scope and currency', async () => {
  const { text, r } = await expose('ec2-budget', { values: { value: 0 }, message: 'USD 1234.50 spent', cost: budget });
  expect(r.cost).toEqual(budget);
  const labels = '{check="ec2-budget",source="focus",scope="service=AmazonEC2",currency="USD"}';
  expect(sample(text, 'keepwatch_cost_spend', labels)).toBe(1234.5);
  expect(sample(text, 'keepwatch_cost_forecast', labels)).toBe(2400);
  expect(sample(text, 'keepwatch_cost_budget', labels)).toBe(2000);
  // Figures the block does not carry have no series (their families keep their HELP and TYPE).
  expect(text).not.toMatch(/^keepwatch_cost_anomaly_score\{/m);
  expect(text).not.toMatch(/^keepwatch_cost_wasted_monthly\{/m);
  expect(text).toMatch(/^# TYPE keepwatch_cost_anomaly_score gauge$/m);
  expect(text).toMatch(/^# TYPE keepwatch_cost_group_spend gauge$/m);
});

test('anomaly score, wasted monthly and the largest groups; NaN and Infinity figures are dropped, not exported', async () => {
  const groups = Array.from({ length: 15 }, (_, i) => ({ group: `svc-${i}`, spend: i * 10 }));
  const { text, r } = await expose('anomaly', {
    values: { value: 0 },
    message: 'ok',
    cost: { source: 'aws', scope: 'all', currency: 'EUR', anomalyScore: 7.5, wastedMonthly: 140, spend: NaN, forecast: Infinity, groups },
  });
  expect(r.cost).not.toHaveProperty('spend');
  expect(r.cost).not.toHaveProperty('forecast');
  expect(r.cost!.groups).toHaveLength(MAX_COST_GROUPS);
  expect(r.cost!.groups![0]).toEqual({ group: 'svc-14', spend: 140 });
  const labels = '{check="anomaly",source="aws",scope="all",currency="EUR"}';
  expect(sample(text, 'keepwatch_cost_anomaly_score', labels)).toBe(7.5);
  expect(sample(text, 'keepwatch_cost_wasted_monthly', labels)).toBe(140);
  expect(text).not.toMatch(/^keepwatch_cost_spend\{/m);
  expect(text.match(/^keepwatch_cost_group_spend\{/gm)).toHaveLength(MAX_COST_GROUPS);
  expect(sample(text, 'keepwatch_cost_group_spend', '{check="anomaly",source="aws",scope="all",currency="EUR",group="svc-14"}')).toBe(140);
  expect(text).not.toContain('group="svc-4"');
});

test('label values are cut, escaped and scrubbed of secrets', async () => {
  setSecrets(['s3cr3t-token-value']);
  const { text, r } = await expose('odd', {
    values: { value: 0 },
    message: 'ok',
    cost: { source: 'focus', scope: `tag:team="a\\b" ${'x'.repeat(200)}`, currency: 'USD', spend: 1, groups: [{ group: 'key s3cr3t-token-value', spend: 1 }] },
  });
  expect(r.cost!.scope).toHaveLength(MAX_COST_LABEL);
  expect(text).not.toContain('s3cr3t-token-value');
  expect(text).toMatch(/^keepwatch_cost_spend\{check="odd",source="focus",scope="tag:team=\\"a\\\\b\\" x+…",currency="USD"\} 1$/m);
});

test('a cost block without its labels is a bug in the check: the run is unknown, no series', async () => {
  const { text, r } = await expose('broken', { values: { value: 0 }, message: 'ok', cost: { source: 'focus', scope: 'all', spend: 5 } as unknown as CostFigures });
  expect(r.status).toBe(Status.Unknown);
  expect(r.message).toContain('cost block without currency');
  expect(text).not.toMatch(/^keepwatch_cost_spend\{/m);
});

test('a later run without a cost block (the source could not be read) drops the series rather than keep stale figures', async () => {
  const { metrics } = await expose('b', { values: { value: 0 }, message: 'ok', cost: budget });
  metrics.recordRun('b', { status: Status.Unknown, up: false, durationSeconds: 0, values: {} });
  const text = (await metrics.expose()).body.toString();
  expect(text).not.toMatch(/^keepwatch_cost_\w+\{/m);
});

test('the agent carries the cost block from the run to its result and /metrics', async () => {
  const config = makeConfig(
    [checkConfig('budget', async () => ({ values: { value: 0 }, message: 'ok', cost: budget }), { schedule: { kind: 'every', everyMs: 60_000 } })],
    { agent: { name: 't', listen: '127.0.0.1:0', dataDir: '.', concurrency: 1, logLevel: 'info' } },
  );
  const metrics = new Metrics({ version: 'test', defaultMetrics: false });
  const agent = await Agent.create(config, { log, metrics, initialSpreadMs: 0 });
  agent.start();
  for (let i = 0; i < 100 && !agent.getCheck('budget')?.last; i++) await sleep(10);
  await agent.stop();
  expect(agent.getCheck('budget')?.last?.cost).toEqual(budget);
  const text = (await metrics.expose()).body.toString();
  expect(sample(text, 'keepwatch_cost_budget', '{check="budget",source="focus",scope="service=AmazonEC2",currency="USD"}')).toBe(2000);
});
