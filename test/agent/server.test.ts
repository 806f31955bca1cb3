import { Writable } from 'node:stream';
import { Agent } from '../../agent/agent';
import type { Config } from '../../agent/config/load';
import { createLogger } from '../../agent/logger';
import { Metrics } from '../../agent/metrics';
import { AgentServer, safeEqual } from '../../agent/server';
import { checkConfig, makeConfig, sleep } from '../helpers/fake-checks';

interface Started {
  agent: Agent;
  server: AgentServer;
  base: string;
  stop(): Promise<void>;
}

const hourly = { kind: 'every', everyMs: 3_600_000 } as const;
/** Ends the run of the 'slow' check in progress. */
let finishSlow = () => undefined as void;

async function start(api: Config['api'], reloadTo?: () => Config): Promise<Started> {
  const log = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) as never });
  const metrics = new Metrics({ version: 'test' });
  const config = makeConfig(
    [
      checkConfig('web', async () => ({ values: { value: 0 }, message: 'fine' }), { labels: { team: 'web' }, schedule: hourly }),
      // Runs until the test ends it (or the agent stops), however long a request takes.
      checkConfig('slow', ({ signal }) => new Promise((resolve, reject) => {
        finishSlow = () => resolve({ values: { value: 0 }, message: 'slow but fine' });
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      }), { schedule: hourly, timeoutMs: 60_000 }),
      checkConfig('disk:/boot', async () => ({ values: { value: 0 }, message: 'boot' }), { schedule: hourly }),
    ],
    { api },
  );
  // Hourly checks whose first run is an hour away: only the tests run them.
  const agent = await Agent.create(config, { log, metrics, loadConfig: reloadTo, initialSpreadMs: 3_600_000 });
  const server = new AgentServer(agent, log);
  const addr = await server.listen('127.0.0.1', 0);
  agent.start();
  return {
    agent,
    server,
    base: `http://127.0.0.1:${addr.port}`,
    stop: async () => {
      await server.close();
      await agent.stop();
    },
  };
}

async function call(url: string, init: RequestInit = {}) {
  const res = await fetch(url, init);
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

const bearer = (t: string) => ({ headers: { Authorization: `Bearer ${t}` } });

describe('open endpoints and JSON errors', () => {
  let s: Started;
  beforeAll(async () => (s = await start({ metrics: { auth: 'none' } })));
  afterAll(() => s.stop());

  test('/healthz and /readyz', async () => {
    expect(await call(`${s.base}/healthz`)).toMatchObject({ status: 200, json: { status: 'ok' } });
    expect(await call(`${s.base}/readyz`)).toMatchObject({ status: 200, json: { status: 'ready' } });
  });

  test('/metrics is Prometheus text with our metrics and the default process metrics', async () => {
    const r = await call(`${s.base}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(r.text).toMatch(/^# TYPE keepwatch_check_status gauge$/m);
    expect(r.text).toMatch(/^# TYPE keepwatch_scheduler_lag_seconds histogram$/m);
    expect(r.text).toMatch(/^keepwatch_config_last_reload_successful 1$/m);
    expect(r.text).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(r.text).toMatch(/^keepwatch_build_info\{version="test",nodejs="v20/m);
  });

  test('GET /api/v1/checks lists checks; GET /api/v1/checks/NAME shows one, names URL-decoded', async () => {
    const list = await call(`${s.base}/api/v1/checks`);
    expect(list.status).toBe(200);
    expect(list.json.checks.map((c: { name: string }) => c.name)).toEqual(['web', 'slow', 'disk:/boot']);
    const one = await call(`${s.base}/api/v1/checks/${encodeURIComponent('disk:/boot')}`);
    expect(one.status).toBe(200);
    expect(one.json).toMatchObject({ name: 'disk:/boot', type: 'scripted', crit: ['value > 1'] });
    expect(typeof one.json.nextRun).toBe('string');
  });

  test('bad percent-encoding in a path is a 400, not a 500', async () => {
    expect(await call(`${s.base}/api/v1/checks/%E0%A4%A`)).toMatchObject({ status: 400, json: { error: 'bad percent-encoding in path: %E0%A4%A' } });
  });

  test('unknown paths, unknown checks and wrong methods answer JSON errors', async () => {
    expect(await call(`${s.base}/nope`)).toMatchObject({ status: 404, json: { error: 'no such endpoint: /nope' } });
    expect(await call(`${s.base}/api/v1/checks/ghost`)).toMatchObject({ status: 404, json: { error: 'no check named "ghost"' } });
    const wrong = await call(`${s.base}/api/v1/checks`, { method: 'DELETE' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET');
    expect(wrong.json.error).toMatch(/method DELETE not allowed/);
  });

  test('with no api.token, mutations are disabled with 403 and say how to enable them', async () => {
    const r = await call(`${s.base}/api/v1/checks/web/run`, { method: 'POST' });
    expect(r.status).toBe(403);
    expect(r.json.error).toMatch(/set api\.token/);
    expect((await call(`${s.base}/-/reload`, { method: 'POST' })).status).toBe(403);
  });
});

describe('tokens', () => {
  let s: Started;
  let reloads = 0;
  beforeAll(async () => {
    s = await start({ token: 'admin-token-123', readToken: 'read-token-456', metrics: { auth: 'bearer' } }, () => {
      reloads++;
      return s.agent.config;
    });
  });
  afterAll(() => s.stop());

  test('POST run needs the admin token: 401 without or with the read token, result with it', async () => {
    const none = await call(`${s.base}/api/v1/checks/web/run`, { method: 'POST' });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(none.json.error).toMatch(/missing or wrong bearer token/);
    expect((await call(`${s.base}/api/v1/checks/web/run`, { method: 'POST', ...bearer('read-token-456') })).status).toBe(401);
    const ok = await call(`${s.base}/api/v1/checks/web/run`, { method: 'POST', ...bearer('admin-token-123') });
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ check: 'web', statusText: 'ok', message: 'fine' });
    const view = await call(`${s.base}/api/v1/checks/web`, bearer('read-token-456'));
    expect(view.json.last).toMatchObject({ statusText: 'ok', message: 'fine' });
  });

  test('POST run of a check already running answers 409', async () => {
    const first = call(`${s.base}/api/v1/checks/slow/run`, { method: 'POST', ...bearer('admin-token-123') });
    while (!s.agent.getCheck('slow')?.running) await sleep(5);
    const second = await call(`${s.base}/api/v1/checks/slow/run`, { method: 'POST', ...bearer('admin-token-123') });
    expect(second.status).toBe(409);
    finishSlow();
    expect((await first).status).toBe(200);
    expect((await call(`${s.base}/api/v1/checks/ghost/run`, { method: 'POST', ...bearer('admin-token-123') })).status).toBe(404);
  });

  test('with a read token, GET /api/v1 needs it (or the admin token); /healthz stays open', async () => {
    expect((await call(`${s.base}/api/v1/checks`)).status).toBe(401);
    expect((await call(`${s.base}/api/v1/checks`, bearer('wrong'))).status).toBe(401);
    expect((await call(`${s.base}/api/v1/checks`, bearer('read-token-456'))).status).toBe(200);
    expect((await call(`${s.base}/api/v1/checks`, bearer('admin-token-123'))).status).toBe(200);
    expect((await call(`${s.base}/healthz`)).status).toBe(200);
  });

  test('/metrics with bearer auth', async () => {
    expect((await call(`${s.base}/metrics`)).status).toBe(401);
    expect((await call(`${s.base}/metrics`, bearer('read-token-456'))).status).toBe(200);
  });

  test('POST /-/reload reloads with the admin token', async () => {
    const r = await call(`${s.base}/-/reload`, { method: 'POST', ...bearer('admin-token-123') });
    expect(r).toMatchObject({ status: 200, json: { status: 'reloaded', checks: 3 } });
    expect(reloads).toBe(1);
  });
});

test('/metrics with basic auth', async () => {
  const s = await start({ metrics: { auth: 'basic', username: 'prom', password: 'p:ss word' } });
  try {
    const basic = (u: string, p: string) => ({ headers: { Authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` } });
    const none = await call(`${s.base}/metrics`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Basic realm="keepwatch"');
    expect((await call(`${s.base}/metrics`, basic('prom', 'wrong'))).status).toBe(401);
    expect((await call(`${s.base}/metrics`, basic('prom', 'p:ss word'))).status).toBe(200);
    // Basic auth protects /metrics only; the read API is open without a read token.
    expect((await call(`${s.base}/api/v1/checks`)).status).toBe(200);
  } finally {
    await s.stop();
  }
});

test('safeEqual', () => {
  expect(safeEqual('abc', 'abc')).toBe(true);
  expect(safeEqual('abc', 'abd')).toBe(false);
  expect(safeEqual('abc', 'abcd')).toBe(false);
  expect(safeEqual('', '')).toBe(true);
});
