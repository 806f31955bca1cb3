import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Agent } from '../../agent/agent';
import { loadConfigText } from '../../agent/config/load';
import { createLogger } from '../../agent/logger';
import { Metrics } from '../../agent/metrics';
import { setSecrets } from '../../agent/secrets';
import { AgentServer } from '../../agent/server';
import { Store } from '../../agent/store/store';
import { eventually, tempDir } from '../helpers/daemon';
import { startReceiver, startTcp, type Receiver, type TestServer } from '../helpers/servers';
import { secretPieces } from '../helpers/secrets';

// Issue 9, item 9: 23 of the 24 characters of api.token were stored and served because a check
// cut its message inside the token and the agent scrubbed only whole secrets.
const TOKEN = 'kw-admin-9f8e7d6c5b4a321'; // 24 characters
/** How many characters of the token each check's 60-character reply cut keeps. */
const KEPT = [6, 15, 23];

let dir: ReturnType<typeof tempDir>;
let servers: TestServer[] = [];
let receiver: Receiver;
const logs: string[] = [];
let store: Store;
let agent: Agent;
let server: AgentServer;
let base: string;

beforeAll(async () => {
  dir = tempDir();
  receiver = await startReceiver();
  // The tcp check shows the first 60 characters of a reply that does not match: each server
  // puts the token so that the cut lands after KEPT[i] of its characters.
  servers = await Promise.all(KEPT.map((k) => startTcp((s) => s.end(`${'r'.repeat(60 - k - 6)}token=${TOKEN} and the rest of the line\n`))));
  const yaml = [
    `agent: { name: cuts, listen: "127.0.0.1:0", dataDir: "${dir.dir}/data" }`,
    'api: { token: "${KW_TOKEN}" }',
    'incidents: { openAfter: 1, snapshots: false }',
    `notifiers: [ { name: hook, type: webhook, url: "${receiver.url}/hook" } ]`,
    'checks:',
    ...servers.map((s, i) => `  - { name: cut${KEPT[i]}, type: tcp, port: ${s.port}, expect: "^OK", every: 1h }`),
  ].join('\n');
  const config = loadConfigText(yaml, 'kw.yaml', { env: { KW_TOKEN: TOKEN } });
  setSecrets(config.secrets);
  store = Store.open(config.agent.dataDir);
  const log = createLogger({ level: 'trace', destination: new Writable({ write: (c, _e, cb) => (logs.push(String(c)), cb()) }) as never });
  agent = await Agent.create(config, { log, metrics: new Metrics({ version: 't', defaultMetrics: false }), store, initialSpreadMs: 3_600_000 });
  server = new AgentServer(agent, log);
  base = `http://127.0.0.1:${(await server.listen('127.0.0.1', 0)).port}`;
  agent.start();
  for (const k of KEPT) await agent.runNow(`cut${k}`);
  await eventually(async () => receiver.got.length >= KEPT.length, 10_000, 'the pages');
});

afterAll(async () => {
  await server?.close();
  await agent?.stop();
  store?.close();
  await Promise.all([...servers, receiver].map((s) => s?.close()));
  setSecrets([]);
  dir.cleanup();
});

test('the check saw the token cut short (the test sets up what the issue found)', async () => {
  const res = await fetch(`${base}/api/v1/checks/cut23`);
  const view = (await res.json()) as { last: { message: string } };
  expect(view.last.message).toMatch(/reply does not match \/\^OK\/: "r+token=\[REDACTED\]" \(matches == false\)$/);
});

test('incidents, timelines, evidence and checks served by the API hold no piece of the token', async () => {
  const texts: string[] = [];
  for (const path of ['/api/v1/checks', '/api/v1/incidents']) texts.push(await (await fetch(`${base}${path}`)).text());
  const list = JSON.parse(texts[1]) as { incidents: Array<{ id: number }> };
  expect(list.incidents).toHaveLength(KEPT.length);
  for (const { id } of list.incidents) texts.push(await (await fetch(`${base}/api/v1/incidents/${id}`)).text());
  for (const text of texts) expect(secretPieces(text, TOKEN)).toEqual([]);
  expect(texts.join('\n')).toContain('token=[REDACTED]');
});

test('the pages sent, the log and the SQLite files hold no piece of it', () => {
  expect(receiver.got).toHaveLength(KEPT.length);
  for (const { raw } of receiver.got) expect(secretPieces(raw, TOKEN)).toEqual([]);
  expect(secretPieces(logs.join(''), TOKEN)).toEqual([]);
  const files = fs.readdirSync(path.join(dir.dir, 'data')).map((f) => path.join(dir.dir, 'data', f));
  expect(files.length).toBeGreaterThan(0);
  for (const f of files) expect(secretPieces(fs.readFileSync(f).toString('latin1'), TOKEN)).toEqual([]);
});
