import { Writable } from 'node:stream';
import { Agent } from '../../agent/agent';
import { createLogger } from '../../agent/logger';
import { Metrics } from '../../agent/metrics';
import { AgentServer } from '../../agent/server';
import { Store } from '../../agent/store/store';
import { tempDir } from '../helpers/daemon';
import { checkConfig, makeConfig } from '../helpers/fake-checks';

let dir: ReturnType<typeof tempDir>;
let store: Store;
let agent: Agent;
let server: AgentServer;
let base: string;
let value = 5;

beforeAll(async () => {
  dir = tempDir();
  store = Store.open(dir.dir);
  const log = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) as never });
  agent = await Agent.create(
    makeConfig([checkConfig('api', async () => ({ values: { value }, message: `value ${value}` }), { schedule: { kind: 'every', everyMs: 3_600_000 } })], {
      api: { token: 'admin-secret-1', readToken: 'reader-2', metrics: { auth: 'none' } },
    }),
    { log, metrics: new Metrics({ version: 't', defaultMetrics: false }), store, initialSpreadMs: 3_600_000 },
  );
  server = new AgentServer(agent, log);
  base = `http://127.0.0.1:${(await server.listen('127.0.0.1', 0)).port}`;
  agent.start();
  for (let i = 0; i < 3; i++) await agent.runNow('api');
});
afterAll(async () => {
  await server.close();
  await agent.stop();
  store.close();
  dir.cleanup();
});

async function call(path: string, init: RequestInit & { token?: string } = {}) {
  const headers: Record<string, string> = { ...(init.headers as Record<string, string>) };
  if (init.token) headers.Authorization = `Bearer ${init.token}`;
  const res = await fetch(`${base}${path}`, { ...init, headers });
  return { status: res.status, json: (await res.json()) as any };
}
const admin = { token: 'admin-secret-1' };
const reader = { token: 'reader-2' };
const post = (path: string, body: unknown, token = 'admin-secret-1') =>
  call(path, { method: 'POST', token, headers: { 'Content-Type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });

test('incidents are listed and shown with their timeline; reading needs the read token', async () => {
  expect((await call('/api/v1/incidents')).status).toBe(401);
  const list = await call('/api/v1/incidents?state=open', reader);
  expect(list.status).toBe(200);
  expect(list.json.incidents).toEqual([expect.objectContaining({ id: 1, check: 'api', severity: 'critical', state: 'open', summary: 'value 5 (value > 1)' })]);
  const one = await call('/api/v1/incidents/1', reader);
  expect(one.json).toMatchObject({ id: 1, key: 'test-agent/api', evidence: expect.any(Array), timeline: expect.arrayContaining([expect.objectContaining({ kind: 'opened' })]) });
  expect((await call('/api/v1/incidents/42', reader)).json).toEqual({ error: 'no incident 42' });
  expect((await call('/api/v1/incidents/x', reader)).status).toBe(400);
  expect((await call('/api/v1/incidents?state=closed', reader)).json.error).toMatch(/state must be open, acknowledged or resolved/);
});

test('ack needs the admin token: 401 without or with the read token', async () => {
  expect((await post('/api/v1/incidents/1/ack', {}, '')).status).toBe(401);
  expect((await post('/api/v1/incidents/1/ack', {}, 'reader-2')).status).toBe(401);
  const ok = await post('/api/v1/incidents/1/ack', { by: 'alice', comment: 'on it' });
  expect(ok).toMatchObject({ status: 200, json: { id: 1, state: 'acknowledged', acknowledgedBy: 'alice' } });
  const again = await post('/api/v1/incidents/1/ack', {});
  expect(again).toEqual({ status: 409, json: { error: `incident 1 is already acknowledged (by alice at ${ok.json.acknowledgedAt})` } });
});

test('bad JSON and unknown fields are 400 with a JSON error', async () => {
  const bad = await post('/api/v1/incidents/1/resolve', '{"by": ');
  expect(bad.status).toBe(400);
  expect(bad.json.error).toMatch(/^invalid JSON body/);
  const unknown = await post('/api/v1/incidents/1/resolve', { by: 'a', reason: 'x' });
  expect(unknown.status).toBe(400);
  expect(unknown.json.error).toMatch(/Unrecognized key/);
});

test('bodies must be declared JSON: 415 otherwise; a POST without a body needs no type', async () => {
  const send = (type: string | undefined, body: string | undefined) =>
    call('/api/v1/silences', { method: 'POST', ...admin, headers: type ? { 'Content-Type': type } : {}, body });
  const silence = JSON.stringify({ check: 'nothing-here', for: '1m', comment: 'content types', force: true });
  for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonx', undefined]) {
    const r = await send(type, silence);
    expect(r.status).toBe(415);
    expect(r.json.error).toMatch(/^request bodies must be JSON: send Content-Type: application\/json/);
  }
  // Chunked, so the type is judged once the body is read.
  const stream = new ReadableStream({ start: (c) => (c.enqueue(new TextEncoder().encode(silence)), c.close()) });
  expect((await call('/api/v1/silences', { method: 'POST', ...admin, headers: { 'Content-Type': 'text/plain' }, body: stream, duplex: 'half' } as RequestInit)).status).toBe(415);
  const ok = await send('Application/JSON; charset=utf-8', silence);
  expect(ok.status).toBe(201);
  expect((await call(`/api/v1/silences/${ok.json.id}`, { method: 'DELETE', ...admin })).status).toBe(200);
  // No body (or an empty one) with any type or none: ack without a comment.
  expect((await call('/api/v1/incidents/1/ack', { method: 'POST', ...admin })).status).toBe(409);
  expect((await call('/api/v1/incidents/1/ack', { method: 'POST', ...admin, headers: { 'Content-Type': 'text/plain' }, body: '' })).status).toBe(409);
});

test('silences past the end of time are a 400, not a 500', async () => {
  for (const body of [
    { check: 'api', for: 1e308, comment: 'forever' },
    { check: 'api', for: '999999999d', comment: 'forever' },
    { check: 'api', startsAt: '+275760-09-13T00:00:00.000Z', for: '2h', comment: 'late' },
  ]) {
    const r = await post('/api/v1/silences', body);
    expect(r.status).toBe(400);
    expect(r.json.error).toEqual(expect.any(String));
  }
});

test('resolve by hand', async () => {
  const resolved = await post('/api/v1/incidents/1/resolve', { by: 'alice', comment: 'restarted it' });
  expect(resolved.json).toMatchObject({ state: 'resolved', resolvedBy: 'alice' });
  const again = await post('/api/v1/incidents/1/resolve', {});
  expect(again.status).toBe(409);
  expect(again.json.error).toMatch(new RegExp(`^incident 1 is already resolved \\(by alice at ${resolved.json.resolvedAt}`));
  expect((await post('/api/v1/incidents/1/ack', {})).json.error).toMatch(/^incident 1 is already resolved \(by alice at /);
});

test('silences: create, list, delete; validation errors are 400', async () => {
  const created = await post('/api/v1/silences', { check: 'api', for: '2h', comment: 'deploy', createdBy: 'bob' });
  expect(created.status).toBe(201);
  expect(created.json).toMatchObject({ checks: ['api'], comment: 'deploy', createdBy: 'bob' });
  expect(Date.parse(created.json.endsAt) - Date.parse(created.json.startsAt)).toBe(2 * 3_600_000);
  expect((await call('/api/v1/silences', reader)).json.silences.map((s: any) => s.id)).toEqual([created.json.id]);
  // While silenced, failures open nothing.
  for (let i = 0; i < 3; i++) await agent.runNow('api');
  expect((await call('/api/v1/incidents?state=open', reader)).json.incidents).toEqual([]);
  expect((await call(`/api/v1/silences/${created.json.id}`, { method: 'DELETE', ...admin })).json).toEqual({ status: 'expired', id: created.json.id });
  expect((await call(`/api/v1/silences/${created.json.id}`, { method: 'DELETE', ...admin })).status).toBe(404);
  expect((await call('/api/v1/silences', reader)).json.silences).toEqual([]);
  const missing = await post('/api/v1/silences', { check: 'api', for: '2h' });
  expect(missing).toMatchObject({ status: 400, json: { error: expect.stringMatching(/comment/) } });
  expect((await post('/api/v1/silences', { check: 'api', comment: 'x' })).json.error).toMatch(/give for/);
  expect((await post('/api/v1/silences', { check: 'api', for: 'soon', comment: 'x' })).json.error).toMatch(/^for: expected a duration/);
});

test('KPIs', async () => {
  const k = await call('/api/v1/kpis', reader);
  expect(k.status).toBe(200);
  expect(k.json.windows['7d']).toMatchObject({ incidents: 1, mttaSeconds: expect.any(Number), mttrSeconds: expect.any(Number) });
  expect(k.json.checks.api.availability7d).toBe(0);
});

test('the incident metrics are exported', async () => {
  const text = (await agent.metrics.expose()).body.toString();
  expect(text).toMatch(/^keepwatch_incidents_opened_total\{severity="critical"\} 1$/m);
  expect(text).toMatch(/^keepwatch_incident_ack_seconds_count\{severity="critical"\} 1$/m);
  expect(text).toMatch(/^keepwatch_incident_resolve_seconds_count\{severity="critical"\} 1$/m);
  expect(text).toMatch(/^# TYPE keepwatch_incidents_open gauge$/m);
});

test('without a store the incident API says so', async () => {
  const log = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) as never });
  const plain = await Agent.create(makeConfig([]), { log, metrics: new Metrics({ version: 't', defaultMetrics: false }) });
  const s = new AgentServer(plain, log);
  const port = (await s.listen('127.0.0.1', 0)).port;
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/incidents`);
  expect(res.status).toBe(503);
  expect(((await res.json()) as any).error).toMatch(/not enabled/);
  await s.close();
  await plain.stop();
});

describe('silences must cover a configured check', () => {
  const silence = (body: object) => post('/api/v1/silences', { for: '1h', comment: 'test', ...body });
  const created: string[] = [];
  afterAll(async () => {
    for (const id of created) await call(`/api/v1/silences/${id}`, { method: 'DELETE', ...admin });
  });

  test.each([
    ['a typo names the nearest check', { check: 'apl' }, /^no configured check matches "apl"; did you mean "api"\?$/],
    ['a glob that matches nothing lists the checks', { checks: ['db-*'] }, /^no configured check matches "db-\*" \(checks: api\)$/],
    ['labels no check has', { check: 'api', labels: { team: 'payments' } }, /^no configured check matches "api" with labels team=payments \(api has other labels\)$/],
  ])('422 unless force: %s', async (_name, body, error) => {
    const r = await silence(body);
    expect(r).toEqual({ status: 422, json: { error: expect.stringMatching(error), hint: expect.stringMatching(/"force": true/) } });
  });

  test('the answer names the checks covered, and the patterns that matched none', async () => {
    const some = await silence({ checks: ['a*', 'nosuch'] });
    expect(some).toMatchObject({ status: 201, json: { checks: ['a*', 'nosuch'], matched: ['api'], unmatched: ['nosuch'] } });
    const forced = await silence({ check: 'not-yet-added', force: true });
    expect(forced).toMatchObject({ status: 201, json: { checks: ['not-yet-added'], matched: [], unmatched: ['not-yet-added'] } });
    expect(forced.json).not.toHaveProperty('force');
    created.push(some.json.id, forced.json.id);
  });

  test('DELETE takes any unique start of an id, as git does; an ambiguous one lists the candidates', async () => {
    // UUIDs start with one of 16 hex digits: within 17 silences two share their first.
    const ids: string[] = [];
    let pair: string[] = [];
    while (!pair.length) {
      const r = await silence({ check: 'future-*', force: true });
      ids.push(r.json.id);
      created.push(r.json.id);
      pair = ids.filter((id) => id[0] === r.json.id[0]);
      if (pair.length < 2) pair = [];
    }
    const ambiguous = await call(`/api/v1/silences/${pair[0][0]}`, { method: 'DELETE', ...admin });
    expect(ambiguous.status).toBe(400);
    expect(ambiguous.json.error).toMatch(new RegExp(`^silence id "${pair[0][0]}" is ambiguous: it starts ${pair.length} active silences \\(`));
    for (const id of pair) expect(ambiguous.json.error).toContain(id);
    const one = await call(`/api/v1/silences/${pair[0].slice(0, 13).toUpperCase()}`, { method: 'DELETE', ...admin });
    expect(one).toEqual({ status: 200, json: { status: 'expired', id: pair[0] } });
    // An ended silence is no candidate any more.
    const gone = await call(`/api/v1/silences/${pair[0].slice(0, 13)}`, { method: 'DELETE', ...admin });
    expect(gone).toEqual({ status: 404, json: { error: `no active silence "${pair[0].slice(0, 13)}"` } });
    expect((await call('/api/v1/silences/zzz', { method: 'DELETE', ...admin })).json).toEqual({ error: 'no active silence "zzz"' });
  });
});
