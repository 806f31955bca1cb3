import { execFileSync } from 'node:child_process';
import type http from 'node:http';
import path from 'node:path';
import { MixedCurrencyError, sourceFor, sourceSchema, type AwsSourceSpec, type CostQuery } from '../../checks/cost-sources';
import { addDays, dayRange } from '../../checks/cost-sources/days';
import { awsSource, costAndUsageInput, type CostCacheStore } from '../../checks/cost-sources/aws';
import { startHttp, type TestServer } from '../helpers/servers';

const SERVICES = ['Amazon Elastic Compute Cloud - Compute', 'Amazon Relational Database Service', 'Amazon Simple Storage Service'];
const ACCOUNTS = ['111111111111', '222222222222'];
const TEAM: Record<string, string> = { [SERVICES[0]]: 'checkout', [SERVICES[1]]: 'data', [SERVICES[2]]: '' };

/** Cost of one service in one account on one day, amortised; unblended is 10% more (an upfront purchase spread). */
function cost(day: string, service: string, account: string, metric: string): number {
  const base = (SERVICES.indexOf(service) + 1) * 10 + (ACCOUNTS.indexOf(account) + 1) + Number(day.slice(8)) / 100;
  return metric === 'UnblendedCost' ? base * 1.1 : base;
}

interface Got {
  target: string;
  body: Record<string, any>;
  headers: http.IncomingHttpHeaders;
}

/** A value matches a Cost Explorer filter expression (Dimensions SERVICE / LINKED_ACCOUNT, Tags team, And). */
function matches(expr: any, service: string, account: string): boolean {
  if (!expr) return true;
  if (expr.And) return expr.And.every((e: any) => matches(e, service, account));
  if (expr.Dimensions?.Key === 'SERVICE') return expr.Dimensions.Values.includes(service);
  if (expr.Dimensions?.Key === 'LINKED_ACCOUNT') return expr.Dimensions.Values.includes(account);
  if (expr.Tags?.Key === 'team') return expr.Tags.Values.includes(TEAM[service]);
  throw new Error(`test server: filter ${JSON.stringify(expr)}`);
}

function send(res: http.ServerResponse, status: number, body: object) {
  res.writeHead(status, { 'Content-Type': 'application/x-amz-json-1.1', 'x-amzn-RequestId': 'e4f1c3a0-0000-4000-8000-000000000000' });
  res.end(JSON.stringify(body));
}

/**
 * Cost Explorer's GetCostAndUsage over the generated costs, `pageDays` ResultsByTime per page
 * (NextPageToken is the next offset), and GetCostForecast as a fixed total.
 */
function costExplorer(got: Got, res: http.ServerResponse, pageDays = 2, unitOf: (account: string) => string = () => 'USD') {
  if (got.target === 'AWSInsightsIndexService.GetCostForecast') {
    return send(res, 200, {
      Total: { Amount: '4321.1234567', Unit: 'USD' },
      ForecastResultsByTime: [{ TimePeriod: got.body.TimePeriod, MeanValue: '4321.1234567', PredictionIntervalLowerBound: '4000', PredictionIntervalUpperBound: '4600' }],
    });
  }
  if (got.target !== 'AWSInsightsIndexService.GetCostAndUsage') return send(res, 400, { __type: 'UnknownOperationException' });
  const { TimePeriod, Metrics, GroupBy, Filter, NextPageToken } = got.body;
  const metric = Metrics[0];
  const days = dayRange(TimePeriod.Start, TimePeriod.End);
  const offset = NextPageToken ? Number(Buffer.from(NextPageToken, 'base64').toString()) : 0;
  const page = days.slice(offset, offset + pageDays);
  const results = page.map((day) => {
    const groups = new Map<string, { amount: number; unit: string }>();
    let total = 0;
    for (const s of SERVICES) {
      for (const a of ACCOUNTS) {
        if (!matches(Filter, s, a)) continue;
        const c = cost(day, s, a, metric);
        total += c;
        if (!GroupBy) continue;
        const g = GroupBy[0];
        const k = g.Type === 'TAG' ? `${g.Key}$${TEAM[s]}` : g.Key === 'SERVICE' ? s : a;
        const cur = groups.get(k) ?? { amount: 0, unit: unitOf(a) };
        cur.amount += c;
        groups.set(k, cur);
      }
    }
    return {
      TimePeriod: { Start: day, End: addDays(day, 1) },
      Total: GroupBy ? {} : { [metric]: { Amount: total.toFixed(10), Unit: 'USD' } },
      Groups: [...groups].map(([k, v]) => ({ Keys: [k], Metrics: { [metric]: { Amount: v.amount.toFixed(10), Unit: v.unit } } })),
      Estimated: day >= '2026-06-14',
    };
  });
  const next = offset + pageDays < days.length ? Buffer.from(String(offset + pageDays)).toString('base64') : undefined;
  send(res, 200, {
    ...(GroupBy ? { GroupDefinitions: GroupBy } : {}),
    ResultsByTime: results,
    DimensionValueAttributes: [],
    ...(next ? { NextPageToken: next } : {}),
  });
}

const spec = (over: Partial<AwsSourceSpec> & { endpoint: string }): AwsSourceSpec =>
  sourceSchema.parse({ type: 'aws', maxAttempts: 1, ...over }) as AwsSourceSpec;
const query = (over: Partial<CostQuery> = {}): CostQuery => ({ from: '2026-06-01', to: '2026-06-06', groupBy: 'service', costColumn: 'effective', ...over });
/** A fresh store and a clock after the test's days (the real date must not matter). */
const opts = () => ({ store: mapStore(), now: () => Date.parse('2026-06-20T12:00:00Z') });
const mapStore = (): CostCacheStore & { map: Map<string, unknown> } => {
  const map = new Map<string, unknown>();
  return { map, async get(k) { return structuredClone(map.get(k)); }, async set(k, v) { map.set(k, structuredClone(v)); } };
};

describe('aws cost source (Cost Explorer)', () => {
  const saved: Record<string, string | undefined> = {};
  const ENV = { AWS_ACCESS_KEY_ID: 'AKIDKEEPWATCHTEST', AWS_SECRET_ACCESS_KEY: 'kw-test-secret-0123456789', AWS_SESSION_TOKEN: undefined, AWS_PROFILE: undefined, AWS_REGION: undefined };
  beforeAll(() => {
    for (const [k, v] of Object.entries(ENV)) {
      saved[k] = process.env[k];
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
  afterAll(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  let server: TestServer | undefined;
  const got: Got[] = [];
  afterEach(async () => {
    await server?.close();
    server = undefined;
    got.length = 0;
  });
  const serve = async (handler: (g: Got, res: http.ServerResponse) => void = (g, res) => costExplorer(g, res)) => {
    server = await startHttp((req, res) => {
      let raw = '';
      req.on('data', (c) => (raw += c));
      req.on('end', () => {
        const g = { target: String(req.headers['x-amz-target']), body: JSON.parse(raw || '{}'), headers: req.headers };
        got.push(g);
        handler(g, res);
      });
    });
    return server;
  };

  test('daily cost by service over 5 days: AWS JSON 1.1, SigV4-signed, paged with NextPageToken, amortised by default', async () => {
    const s = await serve();
    const src = sourceFor(spec({ endpoint: s.url }), { state: mapStore(), now: () => Date.parse('2026-06-20T12:00:00Z') });
    const rows = await src.daily(query(), AbortSignal.timeout(10_000));
    expect(got).toHaveLength(3); // 5 days, 2 per page
    for (const g of got) {
      expect(g.target).toBe('AWSInsightsIndexService.GetCostAndUsage');
      expect(g.headers['content-type']).toBe('application/x-amz-json-1.1');
      expect(g.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDKEEPWATCHTEST\/\d{8}\/us-east-1\/ce\/aws4_request, SignedHeaders=[a-z0-9;-]*x-amz-date[a-z0-9;-]*, Signature=[0-9a-f]{64}$/);
      expect(g.headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
    }
    expect(got[0].body).toEqual({
      TimePeriod: { Start: '2026-06-01', End: '2026-06-06' }, Granularity: 'DAILY', Metrics: ['AmortizedCost'],
      GroupBy: [{ Type: 'DIMENSION', Key: 'SERVICE' }],
    });
    expect(got.map((g) => g.body.NextPageToken)).toEqual([undefined, Buffer.from('2').toString('base64'), Buffer.from('4').toString('base64')]);
    expect(rows).toHaveLength(15);
    expect(rows.filter((r) => r.day === '2026-06-03')).toEqual([
      { day: '2026-06-03', group: SERVICES[0], amount: 23.06, currency: 'USD' },
      { day: '2026-06-03', group: SERVICES[1], amount: 43.06, currency: 'USD' },
      { day: '2026-06-03', group: SERVICES[2], amount: 63.06, currency: 'USD' },
    ]);
    expect(src.fetchedAt?.(query())).toEqual(expect.any(Number));
  });

  test('billed is UnblendedCost; ungrouped reads Total; accounts; a tag\'s key$value is its value, untagged is (none); filters joined with And', async () => {
    const s = await serve((g, res) => costExplorer(g, res, 31));
    const src = awsSource(spec({ endpoint: s.url }), opts());
    const one = { from: '2026-06-01', to: '2026-06-02' };
    expect(await src.daily(query({ ...one, groupBy: 'none', costColumn: 'billed' }), AbortSignal.timeout(10_000))).toEqual([
      { day: '2026-06-01', group: 'total', amount: 141.966, currency: 'USD' },
    ]);
    expect(got[0].body.Metrics).toEqual(['UnblendedCost']);
    expect(got[0].body.GroupBy).toBeUndefined();
    expect((await src.daily(query({ ...one, groupBy: 'account' }), AbortSignal.timeout(10_000))).map((r) => [r.group, r.amount])).toEqual([
      ['111111111111', 63.03], ['222222222222', 66.03],
    ]);
    expect(got[1].body.GroupBy).toEqual([{ Type: 'DIMENSION', Key: 'LINKED_ACCOUNT' }]);
    expect((await src.daily(query({ ...one, groupBy: { tag: 'team' } }), AbortSignal.timeout(10_000))).map((r) => [r.group, r.amount])).toEqual([
      ['(none)', 63.02], ['checkout', 23.02], ['data', 43.02],
    ]);
    expect(got[2].body.GroupBy).toEqual([{ Type: 'TAG', Key: 'team' }]);
    const filtered = await src.daily(query({ ...one, filter: { service: [SERVICES[0], SERVICES[1]], account: ['222222222222'], tags: { team: 'data' } } }), AbortSignal.timeout(10_000));
    expect(got[3].body.Filter).toEqual({ And: [
      { Dimensions: { Key: 'SERVICE', Values: [SERVICES[0], SERVICES[1]] } },
      { Dimensions: { Key: 'LINKED_ACCOUNT', Values: ['222222222222'] } },
      { Tags: { Key: 'team', Values: ['data'] } },
    ] });
    expect(filtered).toEqual([{ day: '2026-06-01', group: SERVICES[1], amount: 22.01, currency: 'USD' }]);
    expect(costAndUsageInput(query({ filter: { account: ['1'] } })).Filter).toEqual({ Dimensions: { Key: 'LINKED_ACCOUNT', Values: ['1'] } });
  });

  test('a window reaching past today is asked up to tomorrow; one wholly in the future asks nothing', async () => {
    const s = await serve((g, res) => costExplorer(g, res, 31));
    const src = awsSource(spec({ endpoint: s.url }), { store: mapStore(), now: () => Date.parse('2026-06-03T10:00:00Z') });
    const rows = await src.daily(query({ from: '2026-06-01', to: '2026-07-01' }), AbortSignal.timeout(10_000));
    expect(got[0].body.TimePeriod).toEqual({ Start: '2026-06-01', End: '2026-06-04' });
    expect(new Set(rows.map((r) => r.day))).toEqual(new Set(['2026-06-01', '2026-06-02', '2026-06-03']));
    expect(await src.daily(query({ from: '2026-06-05', to: '2026-06-10' }), AbortSignal.timeout(10_000))).toEqual([]);
    expect(got).toHaveLength(1);
  });

  test('at most maxCallsPerDay calls a day whatever the interval: a check every 10 minutes for 2 days calls 8 times, served from the cache in between with its age', async () => {
    const s = await serve((g, res) => costExplorer(g, res, 31));
    let t = Date.parse('2026-06-10T00:05:00Z');
    const store = mapStore();
    const src = awsSource(spec({ endpoint: s.url }), { store, now: () => t });
    const ages: number[] = [];
    for (let run = 0; run < 2 * 24 * 6; run++) {
      const today = new Date(t).toISOString().slice(0, 10);
      const q = query({ from: '2026-06-01', to: addDays(today, 1) });
      const rows = await src.daily(q, AbortSignal.timeout(10_000));
      expect(rows.length).toBeGreaterThan(0);
      ages.push(t - (src.fetchedAt?.(q) as number));
      t += 10 * 60_000;
    }
    expect(got).toHaveLength(8);
    expect(Math.max(...ages)).toBeLessThan(6 * 3600_000);
    expect(ages.filter((a) => a === 0)).toHaveLength(8);
    // Nothing but the cache entry is written: one key per query shape.
    expect(store.map.size).toBe(1);
  });

  test('the cache and the call count survive a restart through the check\'s state; spent calls serve the last answer, however old', async () => {
    const s = await serve((g, res) => costExplorer(g, res, 31));
    let t = Date.parse('2026-06-10T08:00:00Z');
    const store = mapStore();
    const q = query();
    await awsSource(spec({ endpoint: s.url, maxCallsPerDay: 2 }), { store, now: () => t }).daily(q, AbortSignal.timeout(10_000));
    t += 3600_000;
    const restarted = awsSource(spec({ endpoint: s.url, maxCallsPerDay: 2 }), { store, now: () => t });
    const rows = await restarted.daily(q, AbortSignal.timeout(10_000));
    expect(got).toHaveLength(1);
    expect(rows).toHaveLength(15);
    expect(t - (restarted.fetchedAt?.(q) as number)).toBe(3600_000);
    // A new window (the day moved on) is a new call while calls are left …
    await restarted.daily({ ...q, to: '2026-06-07' }, AbortSignal.timeout(10_000));
    expect(got).toHaveLength(2);
    // … then, spent, the last answer is served for the days both windows share.
    t += 3600_000;
    const served = await restarted.daily({ ...q, from: '2026-06-02', to: '2026-06-08' }, AbortSignal.timeout(10_000));
    expect(got).toHaveLength(2);
    expect(new Set(served.map((r) => r.day))).toEqual(new Set(['2026-06-02', '2026-06-03', '2026-06-04', '2026-06-05', '2026-06-06']));
    expect(t - (restarted.fetchedAt?.({ ...q, from: '2026-06-02', to: '2026-06-08' }) as number)).toBe(3600_000);
  });

  test('forecast: GetCostForecast from today to the end of the period, amortised, monthly, filtered; cached like the rest', async () => {
    const s = await serve();
    const t = Date.parse('2026-06-10T12:00:00Z');
    const src = awsSource(spec({ endpoint: s.url }), { store: mapStore(), now: () => t });
    const f = await src.forecast!(query({ from: '2026-06-01', to: '2026-07-01', groupBy: 'none', filter: { service: [SERVICES[0]] } }), AbortSignal.timeout(10_000));
    expect(got).toHaveLength(1);
    expect(got[0].target).toBe('AWSInsightsIndexService.GetCostForecast');
    expect(got[0].headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDKEEPWATCHTEST\//);
    expect(got[0].body).toEqual({
      TimePeriod: { Start: '2026-06-10', End: '2026-07-01' }, Metric: 'AMORTIZED_COST', Granularity: 'MONTHLY',
      Filter: { Dimensions: { Key: 'SERVICE', Values: [SERVICES[0]] } },
    });
    expect(f).toEqual({ from: '2026-06-10', to: '2026-07-01', amount: 4321.1234567, currency: 'USD', fetchedAt: t });
    await src.forecast!(query({ from: '2026-06-01', to: '2026-07-01', groupBy: 'none', filter: { service: [SERVICES[0]] } }), AbortSignal.timeout(10_000));
    expect(got).toHaveLength(1);
    expect(await src.forecast!(query({ from: '2026-05-01', to: '2026-06-01' }), AbortSignal.timeout(10_000))).toBeUndefined();
    expect(got).toHaveLength(1);
  });

  test('no forecast for an account without history (DataUnavailableException) is no forecast, not an error', async () => {
    const s = await serve((g, res) => send(res, 400, { __type: 'DataUnavailableException', Message: 'Insufficient amount of historical data to generate forecast.' }));
    const src = awsSource(spec({ endpoint: s.url }), { store: mapStore(), now: () => Date.parse('2026-06-10T12:00:00Z') });
    expect(await src.forecast!(query({ to: '2026-07-01' }), AbortSignal.timeout(10_000))).toBeUndefined();
  });

  test('throttling is retried with backoff; throttled on every attempt it is reported as such', async () => {
    let n = 0;
    const s = await serve((g, res) => (n++ === 0
      ? send(res, 400, { __type: 'ThrottlingException', message: 'Rate exceeded' })
      : costExplorer(g, res, 31)));
    const rows = await awsSource(spec({ endpoint: s.url, maxAttempts: 3 }), opts()).daily(query(), AbortSignal.timeout(15_000));
    expect(got).toHaveLength(2);
    expect(rows).toHaveLength(15);

    got.length = 0;
    await server!.close();
    const always = await serve((g, res) => send(res, 400, { __type: 'com.amazonaws.awsinsightsindexservice#LimitExceededException', Message: 'You have exceeded the rate limit.' }));
    const err = await awsSource(spec({ endpoint: always.url, maxAttempts: 2 }), opts()).daily(query(), AbortSignal.timeout(15_000)).catch((e: Error) => e);
    expect(got).toHaveLength(2);
    expect((err as Error).message).toBe('aws source: Cost Explorer throttled ce:GetCostAndUsage (LimitExceededException) after 2 attempts: You have exceeded the rate limit.');
  });

  test('access denied names the IAM action the agent\'s identity lacks, and the secret key never shows', async () => {
    const s = await serve((g, res) => send(res, 400, {
      __type: 'AccessDeniedException',
      Message: 'User: arn:aws:iam::111111111111:user/keepwatch is not authorized to perform: ce:GetCostAndUsage on resource: arn:aws:ce:us-east-1:111111111111:/GetCostAndUsage because no identity-based policy allows the ce:GetCostAndUsage action',
    }));
    const err = await awsSource(spec({ endpoint: s.url }), opts()).daily(query(), AbortSignal.timeout(10_000)).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/^aws source: Cost Explorer denied ce:GetCostAndUsage \(AccessDeniedException: User: arn:aws:iam::111111111111:user\/keepwatch is not authorized/);
    expect((err as Error).message).toMatch(/the agent's AWS identity needs the IAM action ce:GetCostAndUsage$/);
    expect((err as Error).message).not.toContain('kw-test-secret');
  });

  test('two currencies are refused (MixedCurrencyError), or one is chosen with currency:', async () => {
    const s = await serve((g, res) => costExplorer(g, res, 31, (a) => (a === ACCOUNTS[0] ? 'USD' : 'EUR')));
    const q = query({ groupBy: 'account', to: '2026-06-02' });
    const err = await awsSource(spec({ endpoint: s.url }), opts()).daily(q, AbortSignal.timeout(10_000)).catch((e: Error) => e);
    expect(err).toBeInstanceOf(MixedCurrencyError);
    expect((err as MixedCurrencyError).currencies).toEqual(['EUR', 'USD']);
    expect(await awsSource(spec({ endpoint: s.url, currency: 'EUR' }), opts()).daily(q, AbortSignal.timeout(10_000))).toEqual([
      { day: '2026-06-01', group: '222222222222', amount: 66.03, currency: 'EUR' },
    ]);
  });

  test('no answer before the check\'s timeout says so; Cost Explorer has no namespace', async () => {
    const s = await serve(() => undefined);
    const src = awsSource(spec({ endpoint: s.url }), opts());
    const t0 = Date.now();
    await expect(src.daily(query(), AbortSignal.timeout(300))).rejects.toThrow("aws source: Cost Explorer did not answer ce:GetCostAndUsage before the check's timeout");
    expect(Date.now() - t0).toBeLessThan(5000);
    await expect(src.daily(query({ groupBy: 'namespace' }), AbortSignal.timeout(1000))).rejects.toThrow('Cost Explorer has no namespace');
  });

  test('the source block: defaults, a region, an endpoint URL, known keys only', () => {
    expect(sourceSchema.parse({ type: 'aws' })).toEqual({ type: 'aws', region: 'us-east-1', maxCallsPerDay: 4, maxAttempts: 3 });
    expect(sourceSchema.safeParse({ type: 'aws', region: 'US East' }).success).toBe(false);
    expect(sourceSchema.safeParse({ type: 'aws', endpoint: 'ce.internal' }).success).toBe(false);
    expect(sourceSchema.safeParse({ type: 'aws', maxCallsPerDay: 0 }).success).toBe(false);
    expect(sourceSchema.safeParse({ type: 'aws', accessKeyId: 'x' }).success).toBe(false);
  });

  test('the SDK is not in the module graph of an agent without an aws source, nor of one with an aws source not yet asked', () => {
    const root = path.resolve(__dirname, '../..');
    const script = `
      const fs = require('node:fs'), os = require('node:os'), path = require('node:path');
      const aws = () => Object.keys(require.cache).filter((k) => k.includes('@aws-sdk')).length;
      const { loadConfigText } = require('./dist/agent/config/load.js');
      require('./dist/agent/agent.js');
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kw-aws-'));
      const config = 'checks:\\n  - { name: site, type: http, url: "http://127.0.0.1:9/" }\\n' +
        '  - { name: k8s, type: cost-budget, budget: 100, source: { type: opencost, url: "http://127.0.0.1:9003" } }\\n';
      loadConfigText(config, path.join(dir, 'keepwatch.yaml'));
      const idle = aws();
      const { sourceFor } = require('./dist/checks/cost-sources/index.js');
      const src = sourceFor({ type: 'aws', region: 'us-east-1', endpoint: 'http://127.0.0.1:9', maxCallsPerDay: 4, maxAttempts: 1 });
      const configured = aws();
      src.daily({ from: '2026-06-01', to: '2026-06-02', groupBy: 'service', costColumn: 'effective' }, AbortSignal.timeout(5000))
        .catch(() => undefined)
        .then(() => { console.log(JSON.stringify({ idle, configured, asked: aws() })); fs.rmSync(dir, { recursive: true }); });
    `;
    const out = execFileSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8', env: { ...process.env, AWS_EC2_METADATA_DISABLED: 'true' } });
    const counts = JSON.parse(out.trim().split('\n').pop() as string);
    expect(counts.idle).toBe(0);
    expect(counts.configured).toBe(0);
    // The probe sees the SDK once it is used: the zeros above are not blindness.
    expect(counts.asked).toBeGreaterThan(0);
  });
});
