import { Writable } from 'node:stream';
import { Agent } from '../../agent/agent';
import { loadConfigText } from '../../agent/config/load';
import { createLogger } from '../../agent/logger';
import { Metrics } from '../../agent/metrics';
import { AgentServer } from '../../agent/server';
import { Store } from '../../agent/store/store';
import { eventually, tempDir } from '../helpers/daemon';
import { sample } from '../helpers/metrics';
import { startHttp, startReceiver, type Receiver, type TestServer } from '../helpers/servers';

// Issue 9, item 10: while the store could not write, two outages opened no incident, /readyz
// stayed 200 and no metric showed it.

jest.setTimeout(30_000);

const full = () => Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });

let dir: ReturnType<typeof tempDir>;
let disk: { full: boolean };
let target: TestServer;
let targetStatus = 200;
let receiver: Receiver;
let logs: string[];
let store: Store | undefined;
let agent: Agent;
let server: AgentServer;
let base: string;

beforeEach(async () => {
  dir = tempDir();
  disk = { full: false };
  logs = [];
  targetStatus = 200;
  target = await startHttp((_req, res) => res.writeHead(targetStatus).end('x'));
  receiver = await startReceiver();
  const yaml = `
agent: { name: web-01 }
incidents: { openAfter: 2, resolveAfter: 1, snapshots: false }
notifiers: [{ name: hook, type: webhook, url: "${receiver.url}/hook" }]
checks:
  - { name: api, type: http, url: "${target.url}/", every: 1h }
`;
  const config = loadConfigText(yaml, 'kw.yaml', { env: {} });
  store = Store.open(dir.dir, { fault: () => (disk.full ? full() : undefined) });
  const log = createLogger({ level: 'info', destination: new Writable({ write: (c, _e, cb) => (logs.push(String(c)), cb()) }) as never });
  agent = await Agent.create(config, { log, metrics: new Metrics({ version: 't', defaultMetrics: false }), store, initialSpreadMs: 3_600_000 });
  server = new AgentServer(agent, log);
  base = `http://127.0.0.1:${(await server.listen('127.0.0.1', 0)).port}`;
  agent.start();
});

/** Stops the agent and closes the store (once). */
async function shutdown() {
  if (!store) return;
  await server.close();
  await agent.stop();
  store.close();
  store = undefined;
}

afterEach(async () => {
  await shutdown();
  await target.close();
  await receiver.close();
  dir.cleanup();
});

async function get(path: string) {
  const res = await fetch(`${base}${path}`);
  return { status: res.status, text: await res.text() };
}

const metric = async (name: string) => sample((await get('/metrics')).text, name);
const pages = () => receiver.got.map(({ body: e }) => ({ event: e.event, key: e.key, id: e.incident.id }));

async function runs(status: number, n: number) {
  targetStatus = status;
  for (let i = 0; i < n; i++) await agent.runNow('api');
}

test('an outage while the disk is full opens an incident, pages, resolves, and is written once when space returns', async () => {
  expect(await get('/readyz')).toEqual({ status: 200, text: '{"status":"ready"}\n' });
  expect(await metric('keepwatch_store_writable')).toBe(1);

  disk.full = true;
  await runs(500, 2);
  // Opened and paged from memory.
  await eventually(async () => pages().length === 1, 10_000, 'the trigger');
  expect(pages()[0]).toMatchObject({ event: 'trigger', id: 1 });
  const incidents = JSON.parse((await get('/api/v1/incidents')).text).incidents;
  expect(incidents).toEqual([expect.objectContaining({ id: 1, check: 'api', state: 'open' })]);
  const ready = await get('/readyz');
  expect(ready.status).toBe(503);
  expect(JSON.parse(ready.text).error).toMatch(/^store not writable: database or disk is full \(\d+ changes? held in memory\)$/);
  expect(await metric('keepwatch_store_writable')).toBe(0);
  expect(await metric('keepwatch_store_errors_total{op="write"}')).toBe(1);
  expect(logs.filter((l) => l.includes('store not writable'))).toHaveLength(1);

  // The outage ends while the disk is still full: resolved and paged from memory too.
  await runs(200, 1);
  await eventually(async () => pages().length === 2, 10_000, 'the resolve');
  expect(pages()[1]).toMatchObject({ event: 'resolve', id: 1 });

  // The engine's timer retries every 5 s; space returns.
  disk.full = false;
  await eventually(async () => (await get('/readyz')).status === 200, 15_000, '/readyz to recover');
  expect(await metric('keepwatch_store_writable')).toBe(1);
  expect(await metric('keepwatch_store_pending_changes')).toBe(0);
  expect(logs.filter((l) => l.includes('store writable again'))).toHaveLength(1);

  // In the file, once: the incident, its timeline, both pages delivered; nobody paged again.
  const one = JSON.parse((await get('/api/v1/incidents/1')).text);
  expect(one).toMatchObject({ id: 1, state: 'resolved', resolvedBy: 'auto' });
  expect(one.timeline.map((t: { kind: string }) => t.kind)).toEqual(['opened', 'escalated', 'notify', 'notified', 'resolved', 'notify', 'notified']);
  expect(one.notifications.map((n: { event: string; deliveredAt?: number }) => [n.event, n.deliveredAt !== undefined])).toEqual([['trigger', true], ['resolve', true]]);
  await shutdown();
  const file = Store.open(dir.dir);
  try {
    expect(file.getIncident(1)).toMatchObject({ state: 'resolved' });
    expect(file.timeline(1)).toHaveLength(7);
    expect(file.notificationsOf(1).every((n) => n.deliveredAt !== undefined)).toBe(true);
    expect(file.integrityCheck()).toBe('ok');
  } finally {
    file.close();
  }
  expect(pages().map((p) => p.event)).toEqual(['trigger', 'resolve']);
  expect(new Set(pages().map((p) => p.key)).size).toBe(2);
});
