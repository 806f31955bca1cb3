import type http from 'node:http';
import { sourceFor, sourceSchema, type CostQuery, type OpencostSourceSpec } from '../../checks/cost-sources';
import { addDays, dayRange } from '../../checks/cost-sources/days';
import { allocationRequest, opencostSource } from '../../checks/cost-sources/opencost';
import { startHttp, type TestServer } from '../helpers/servers';

/** A pod as OpenCost sees it, with its cost per day. */
interface Pod {
  cluster: string;
  namespace: string;
  controllerKind?: string;
  controller?: string;
  pod: string;
  labels?: Record<string, string>;
  services?: string[];
  cpu: number;
  ram: number;
}

const PODS: Pod[] = [
  { cluster: 'prod', namespace: 'shop', controllerKind: 'deployment', controller: 'api', pod: 'api-1', labels: { team: 'checkout', app: 'api' }, services: ['api'], cpu: 3.2, ram: 1.1 },
  { cluster: 'prod', namespace: 'shop', controllerKind: 'deployment', controller: 'api', pod: 'api-2', labels: { team: 'checkout', app: 'api' }, services: ['api'], cpu: 3.0, ram: 1.0 },
  { cluster: 'prod', namespace: 'shop', controllerKind: 'statefulset', controller: 'db', pod: 'db-0', labels: { team: 'data' }, cpu: 5.5, ram: 4.25 },
  { cluster: 'prod', namespace: 'kube-system', controllerKind: 'daemonset', controller: 'kube-proxy', pod: 'kube-proxy-x', cpu: 0.4, ram: 0.1 },
  { cluster: 'prod', namespace: 'batch', pod: 'orphan', cpu: 0.75, ram: 0.25 }, // no controller, no labels
];
const IDLE = { cpu: 6.5, ram: 2.5 };

/** OpenCost's `GenerateKey`: the aggregated property values joined with '/'. */
function key(p: Pod, aggregate: string[]): string {
  return aggregate.map((a) => {
    if (a === 'cluster') return p.cluster;
    if (a === 'namespace') return p.namespace;
    if (a === 'controller') return p.controller ? `${p.controllerKind}:${p.controller}` : '__unallocated__';
    if (a === 'service') return p.services?.[0] ?? '__unallocated__';
    if (a.startsWith('label:')) return p.labels?.[a.slice(6).replace(/[^a-zA-Z0-9_]/g, '_')] ?? '__unallocated__';
    throw new Error(`test server: aggregate ${a}`);
  }).join('/');
}

const r5 = (n: number) => Math.round(n * 100000) / 100000;

/** An `AllocationJSON` with every field OpenCost writes (the adapter reads few). */
function allocationJson(name: string, properties: object, start: string, end: string, cpu: number, ram: number): object {
  return {
    name, properties, window: { start, end }, start, end, minutes: 1440,
    cpuCores: 2, cpuCoreRequestAverage: 2, cpuCoreUsageAverage: 0.4, cpuCoreHours: 48, cpuCost: r5(cpu), cpuCostAdjustment: 0, cpuCostIdle: 0, cpuEfficiency: 0.2,
    gpuCount: 0, gpuRequestAverage: 0, gpuUsageAverage: 0, gpuHours: 0, gpuCost: 0, gpuCostAdjustment: 0, gpuCostIdle: 0, gpuEfficiency: 0,
    networkTransferBytes: 0, networkReceiveBytes: 0, networkCost: 0, networkCrossZoneCost: 0, networkCrossRegionCost: 0, networkInternetCost: 0, networkCostAdjustment: 0,
    loadBalancerCost: 0, loadBalancerCostAdjustment: 0, pvBytes: 0, pvByteHours: 0, pvCost: 0, pvs: null, pvCostAdjustment: 0,
    ramBytes: 1073741824, ramByteRequestAverage: 1073741824, ramByteUsageAverage: 536870912, ramByteHours: 25769803776, ramCost: r5(ram), ramCostAdjustment: 0, ramCostIdle: 0, ramEfficiency: 0.5,
    externalCost: 0, sharedCost: 0, totalCost: r5(cpu + ram), totalEfficiency: 0.3, proportionalAssetResourceCosts: {}, lbAllocations: null, sharedCostBreakdown: {},
  };
}

/**
 * A small OpenCost: `/allocation` with an RFC3339 window pair, step=1d, accumulate=false and
 * aggregate, answering `{code, status, data: [set per day]}` as `WrapData` does. Costs grow by
 * 1% a day so days differ.
 */
function openCost(req: http.IncomingMessage, res: http.ServerResponse, basePath = '') {
  const u = new URL(req.url ?? '/', 'http://x');
  if (u.pathname !== `${basePath}/allocation`) return res.writeHead(404, { 'Content-Type': 'text/plain' }).end('404 page not found');
  const m = /^(\d{4}-\d{2}-\d{2})T00:00:00Z,(\d{4}-\d{2}-\d{2})T00:00:00Z$/.exec(u.searchParams.get('window') ?? '');
  if (!m) {
    // As OpenCost does: http.Error writes text/plain (and, lacking a return, the handler goes on).
    res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' });
    return res.end(`Invalid 'window' parameter: illegal window: ${u.searchParams.get('window')}\n`);
  }
  const aggregate = (u.searchParams.get('aggregate') ?? '').split(',');
  const data = dayRange(m[1], m[2]).map((day, i) => {
    const start = `${day}T00:00:00Z`;
    const end = `${addDays(day, 1)}T00:00:00Z`;
    const f = 1 + i / 100;
    const set: Record<string, object> = {};
    const sums = new Map<string, { cpu: number; ram: number; props: Record<string, unknown> }>();
    for (const p of PODS) {
      const k = key(p, aggregate);
      const s = sums.get(k) ?? { cpu: 0, ram: 0, props: { cluster: p.cluster, namespace: p.namespace } };
      s.cpu += p.cpu * f;
      s.ram += p.ram * f;
      sums.set(k, s);
    }
    for (const [k, s] of sums) set[k] = allocationJson(k, s.props, start, end, s.cpu, s.ram);
    if (u.searchParams.get('includeIdle') === 'true') set.__idle__ = allocationJson('__idle__', { cluster: 'prod' }, start, end, IDLE.cpu, IDLE.ram);
    return set;
  });
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ code: 200, status: 'success', data }));
}

const spec = (over: Partial<OpencostSourceSpec> & { url: string }): OpencostSourceSpec =>
  sourceSchema.parse({ type: 'opencost', ...over }) as OpencostSourceSpec;

const query = (over: Partial<CostQuery> = {}): CostQuery => ({ from: '2026-05-30', to: '2026-06-02', groupBy: 'namespace', costColumn: 'effective', ...over });

const sum = (xs: number[]) => Math.round(xs.reduce((a, b) => a + b, 0) * 1e6) / 1e6;

describe('opencost cost source', () => {
  let server: TestServer | undefined;
  const seen: http.IncomingMessage[] = [];
  afterEach(async () => {
    await server?.close();
    server = undefined;
    seen.length = 0;
  });
  const serve = async (handler: http.RequestListener = openCost) => {
    server = await startHttp((req, res) => {
      seen.push(req);
      handler(req, res);
    });
    return server;
  };

  test('a 3-day window by namespace: a row per day and namespace, __idle__ its own group, in the configured currency', async () => {
    const s = await serve();
    const rows = await sourceFor(spec({ url: s.url, currency: 'EUR' })).daily(query(), AbortSignal.timeout(5000));
    expect(seen).toHaveLength(1);
    const u = new URL(seen[0].url ?? '', 'http://x');
    expect(u.pathname).toBe('/allocation');
    expect(Object.fromEntries(u.searchParams)).toEqual({
      window: '2026-05-30T00:00:00Z,2026-06-02T00:00:00Z', aggregate: 'namespace', step: '1d', accumulate: 'false',
      includeIdle: 'true', shareIdle: 'false', idleByNode: 'false',
    });
    expect(new Set(rows.map((r) => r.day))).toEqual(new Set(['2026-05-30', '2026-05-31', '2026-06-01']));
    expect(rows.filter((r) => r.day === '2026-05-30')).toEqual([
      { day: '2026-05-30', group: '__idle__', amount: 9, currency: 'EUR' },
      { day: '2026-05-30', group: 'batch', amount: 1, currency: 'EUR' },
      { day: '2026-05-30', group: 'kube-system', amount: 0.5, currency: 'EUR' },
      { day: '2026-05-30', group: 'shop', amount: 18.05, currency: 'EUR' },
    ]);
    // The third day costs 2% more (the server's growth), whatever the grouping.
    expect(sum(rows.filter((r) => r.day === '2026-06-01' && r.group !== '__idle__').map((r) => r.amount))).toBeCloseTo(19.55 * 1.02, 4);
    expect(rows.every((r) => r.currency === 'EUR')).toBe(true);
  });

  test('currency defaults to USD; groupBy none is one total per day (plus __idle__)', async () => {
    const s = await serve();
    const rows = await opencostSource(spec({ url: s.url })).daily(query({ groupBy: 'none', to: '2026-05-31' }), AbortSignal.timeout(5000));
    expect(new URL(seen[0].url ?? '', 'http://x').searchParams.get('aggregate')).toBe('cluster');
    expect(rows).toEqual([
      { day: '2026-05-30', group: '__idle__', amount: 9, currency: 'USD' },
      { day: '2026-05-30', group: 'total', amount: 19.55, currency: 'USD' },
    ]);
  });

  test('by label: pods without it are __unallocated__, a group of their own; idle can be left out', async () => {
    const s = await serve();
    const rows = await opencostSource(spec({ url: s.url, includeIdle: false })).daily(query({ groupBy: { tag: 'team' }, to: '2026-05-31' }), AbortSignal.timeout(5000));
    const u = new URL(seen[0].url ?? '', 'http://x');
    expect(u.searchParams.get('aggregate')).toBe('label:team');
    expect(u.searchParams.get('includeIdle')).toBe('false');
    expect(rows.map((r) => [r.group, r.amount])).toEqual([['__unallocated__', 1.5], ['checkout', 8.3], ['data', 9.75]]);
  });

  test('by controller (the service grouping) filtered to a namespace: one more aggregate, matched here; __idle__ belongs to no namespace', async () => {
    const s = await serve();
    const rows = await opencostSource(spec({ url: s.url })).daily(
      query({ groupBy: 'service', to: '2026-05-31', filter: { namespace: ['shop', 'batch'] } }), AbortSignal.timeout(5000));
    expect(new URL(seen[0].url ?? '', 'http://x').searchParams.get('aggregate')).toBe('controller,namespace');
    expect(rows.map((r) => [r.group, r.amount])).toEqual([['__unallocated__', 1], ['deployment:api', 8.3], ['statefulset:db', 9.75]]);
  });

  test('filters by label and by the Kubernetes Service; the service grouping can be the Service', async () => {
    const s = await serve();
    const rows = await opencostSource(spec({ url: s.url, serviceAggregate: 'service' })).daily(
      query({ groupBy: 'namespace', to: '2026-05-31', filter: { service: ['api'], tags: { app: 'api' } } }), AbortSignal.timeout(5000));
    expect(new URL(seen[0].url ?? '', 'http://x').searchParams.get('aggregate')).toBe('namespace,service,label:app');
    expect(rows).toEqual([{ day: '2026-05-30', group: 'shop', amount: 8.3, currency: 'USD' }]);
  });

  test('a base path is kept (the UI proxy /model), the token is a bearer header, configured headers are sent, URL credentials become Basic', async () => {
    const s = await serve((req, res) => openCost(req, res, '/model'));
    await opencostSource(spec({ url: `${s.url}/model/`, token: 'tok-123456', headers: { 'X-Scope-OrgID': 'team-a' } })).daily(query(), AbortSignal.timeout(5000));
    expect(new URL(seen[0].url ?? '', 'http://x').pathname).toBe('/model/allocation');
    expect(seen[0].headers.authorization).toBe('Bearer tok-123456');
    expect(seen[0].headers['x-scope-orgid']).toBe('team-a');
    const withCreds = s.url.replace('http://', 'http://kube:pa55word@');
    await opencostSource(spec({ url: `${withCreds}/model` })).daily(query(), AbortSignal.timeout(5000));
    expect(seen[1].headers.authorization).toBe(`Basic ${Buffer.from('kube:pa55word').toString('base64')}`);
  });

  test('days OpenCost has no set for (null) give no rows; a null totalCost (NaN there) is the sum of its parts', async () => {
    const s = await serve((_req, res) => {
      const a = allocationJson('shop', { namespace: 'shop' }, '2026-05-31T00:00:00Z', '2026-06-01T00:00:00Z', 2, 1) as Record<string, unknown>;
      a.totalCost = null;
      a.pvCost = 0.5;
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ code: 200, status: 'success', data: [null, { shop: a }, {}] }));
    });
    const rows = await opencostSource(spec({ url: s.url })).daily(query(), AbortSignal.timeout(5000));
    expect(rows).toEqual([{ day: '2026-05-31', group: 'shop', amount: 3.5, currency: 'USD' }]);
  });

  test('an error code is an error that says it: HTTP 500 with OpenCost\'s body, and code 500 in a 200 answer', async () => {
    let answer = 0;
    const s = await serve((_req, res) => {
      if (answer++ === 0) {
        res.writeHead(500, { 'Content-Type': 'application/json' }).end(JSON.stringify({ code: 500, status: '', message: 'Error: error querying prometheus: connection refused' }));
      } else {
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ code: 500, status: 'error', message: 'boom: no data', data: null }));
      }
    });
    const src = opencostSource(spec({ url: s.url }));
    await expect(src.daily(query(), AbortSignal.timeout(5000))).rejects.toThrow(
      `OpenCost at ${s.url}/allocation: HTTP 500: Error: error querying prometheus: connection refused`);
    await expect(src.daily(query(), AbortSignal.timeout(5000))).rejects.toThrow(`OpenCost at ${s.url}/allocation: code 500: boom: no data`);
  });

  test('a non-JSON answer is an error quoting its first line (OpenCost\'s text/plain 400, a proxy\'s HTML page)', async () => {
    const s = await serve((req, res) => {
      if ((req.url ?? '').includes('2026-05-30')) {
        res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' }).end("Invalid 'window' parameter: illegal window\n");
      } else {
        res.writeHead(200, { 'Content-Type': 'text/html' }).end('<html><body>Sign in</body></html>');
      }
    });
    const src = opencostSource(spec({ url: s.url }));
    await expect(src.daily(query(), AbortSignal.timeout(5000))).rejects.toThrow("HTTP 400, answer is not JSON: Invalid 'window' parameter: illegal window");
    await expect(src.daily(query({ from: '2026-05-29' }), AbortSignal.timeout(5000))).rejects.toThrow('HTTP 200, answer is not JSON: <html><body>Sign in</body></html>');
  });

  test('an answer that never comes ends with the check\'s signal, said as a timeout; a closed port says refused; the token never shows', async () => {
    const s = await serve(() => undefined);
    const src = opencostSource(spec({ url: s.url, token: 'secret-token-1' }));
    const t0 = Date.now();
    const err = await src.daily(query(), AbortSignal.timeout(300)).catch((e: Error) => e);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect((err as Error).message).toBe(`OpenCost at ${s.url}/allocation: no answer before the check's timeout`);
    expect((err as Error).message).not.toContain('secret-token-1');
    await s.close();
    server = undefined;
    await expect(src.daily(query(), AbortSignal.timeout(5000))).rejects.toThrow(/ECONNREFUSED/);
  });

  test('the request shape for each grouping (table)', () => {
    const base = spec({ url: 'http://oc:9003' });
    const table: Array<[CostQuery['groupBy'], CostQuery['filter'], string]> = [
      ['namespace', undefined, 'namespace'],
      ['service', undefined, 'controller'],
      ['account', undefined, 'cluster'],
      ['none', undefined, 'cluster'],
      [{ tag: 'app.kubernetes.io/name' }, undefined, 'label:app.kubernetes.io/name'],
      ['namespace', { account: ['prod'], tags: { team: 'a', env: 'prod' } }, 'namespace,cluster,label:team,label:env'],
    ];
    for (const [groupBy, filter, aggregate] of table) {
      expect(allocationRequest(base, query({ groupBy, filter })).params.get('aggregate')).toBe(aggregate);
    }
  });

  test('the source block is validated: an http URL, an ISO currency, known keys only', () => {
    expect(sourceSchema.safeParse({ type: 'opencost', url: 'opencost:9003' }).success).toBe(false);
    expect(sourceSchema.safeParse({ type: 'opencost', url: 'http://oc:9003', currency: 'euro' }).success).toBe(false);
    expect(sourceSchema.safeParse({ type: 'opencost', url: 'http://oc:9003', window: '7d' }).success).toBe(false);
    expect(sourceSchema.parse({ type: 'opencost', url: 'http://oc:9003' })).toEqual({
      type: 'opencost', url: 'http://oc:9003', currency: 'USD', headers: {}, serviceAggregate: 'controller', includeIdle: true,
    });
  });
});
