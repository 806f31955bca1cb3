import path from 'node:path';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import { loadConfigText } from '../../../agent/config/load';
import { createLogger, setSecrets } from '../../../agent/logger';
import { requestParts, urlCredentials } from '../../../checks/types';
import { notifierRegistry } from '../../../agent/notifiers';
import { OutboxWorker } from '../../../agent/notifiers/outbox';
import { DEFAULT_TEMPLATES } from '../../../agent/notifiers/render';
import { NotifyError, type IncidentEvent } from '../../../agent/notifiers/types';
import { Store } from '../../../agent/store/store';
import { tempDir } from '../../helpers/daemon';
import { sleep } from '../../helpers/fake-checks';
import { startHttp, type TestServer } from '../../helpers/servers';

// The password has characters a URL must percent-encode: the header carries it decoded.
const PASSWORD = 'pa:ss@w0rd/9';
const ENCODED = encodeURIComponent(PASSWORD);
const B64 = Buffer.from(`alice:${PASSWORD}`).toString('base64');

let receiver: TestServer;
let seen: Array<Record<string, string | string[] | undefined>> = [];
/** What the receiver answers: the status and a body made from the Authorization it got. */
let answer: (auth: string) => [number, string] = () => [200, ''];

beforeAll(async () => {
  receiver = await startHttp((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push(req.headers);
      const [status, body] = answer(String(req.headers.authorization ?? ''));
      res.writeHead(status, { 'Content-Type': 'text/plain' }).end(body);
    });
  });
});
afterAll(() => receiver.close());
beforeEach(() => {
  seen = [];
  answer = () => [200, ''];
});
afterEach(() => setSecrets([]));

const event: IncidentEvent = {
  event: 'trigger', key: 'web-01:ab12cd34:7:1', agent: 'web-01', at: '2026-11-27T10:00:00.000Z', message: 'critical: api: 503',
  incident: {
    id: 1, ref: 'web-01:ab12cd34:1', dedupKey: 'web-01/api', check: 'api', type: 'http', severity: 'critical', state: 'open',
    summary: '503', openedAt: '2026-11-27T09:58:00.000Z', flapping: false, labels: {}, values: {},
  },
};

function send(type: string, raw: Record<string, unknown>) {
  const def = notifierRegistry.get(type)!;
  return def.send(event, def.schema.parse(raw), { signal: AbortSignal.timeout(5000), templates: DEFAULT_TEMPLATES });
}

test.each([
  ['no credentials: as configured', 'http://h/x', { 'X-A': '1' }, 'http://h/x', { 'X-A': '1' }],
  ['URL credentials become Basic auth, decoded', `http://alice:${ENCODED}@h/x`, {}, 'http://h/x', { Authorization: `Basic ${B64}` }],
  ['a configured Authorization wins, in any case', 'http://alice:pw@h/x', { authorization: 'Bearer t' }, 'http://h/x', { authorization: 'Bearer t' }],
  ['a user without a password', 'https://tok3n@h/x', {}, 'https://h/x', { Authorization: `Basic ${Buffer.from('tok3n:').toString('base64')}` }],
])('requestParts: %s', (_what, url, configured, target, headers) => {
  expect(requestParts(url, configured)).toEqual({ target, headers });
});

test('URL credentials yield the password, the base64 credential and the Basic value as secrets', () => {
  expect(urlCredentials(`https://alice:${ENCODED}@h/`)?.derived).toEqual([`Basic ${B64}`, B64, PASSWORD]);
  expect(urlCredentials('https://alice:100%@h/')?.password).toBe('100%');
  expect(urlCredentials('https://h/')).toBeUndefined();
  const config = loadConfigText(
    `checks: [{ name: api, type: tcp, host: 127.0.0.1, port: 9 }]\nnotifiers: [{ name: hook, type: webhook, url: "http://alice:\${PW}@127.0.0.1:9/hook" }]\n`,
    'kw.yaml',
    { env: { PW: ENCODED } },
  );
  expect(config.secrets).toEqual(expect.arrayContaining([PASSWORD, B64, `Basic ${B64}`]));
});

test('configured headers win over credentials in the URL, on the wire', async () => {
  const url = `http://alice:${ENCODED}@127.0.0.1:${receiver.port}/hook`;
  await send('webhook', { url, headers: { Authorization: 'Bearer configured-1234' } });
  await send('webhook', { url });
  await send('alertmanager', { urls: [url], headers: { authorization: 'Bearer configured-1234' } });
  expect(seen.map((h) => h.authorization)).toEqual(['Bearer configured-1234', `Basic ${B64}`, 'Bearer configured-1234']);
  expect(seen[0]['x-keepwatch-key']).toBe('web-01:ab12cd34:7:1');
});

describe('a receiver that echoes the Authorization header in its refusal', () => {
  let dir: ReturnType<typeof tempDir>;
  let store: Store;
  let lines: string;
  beforeEach(() => {
    dir = tempDir();
    store = Store.open(dir.dir);
    lines = '';
  });
  afterEach(() => {
    store.close();
    dir.cleanup();
  });

  const leaks = (text: string) => [PASSWORD, ENCODED, B64, B64.slice(0, 12), B64.slice(-12)].filter((s) => text.includes(s));

  test.each([
    [401, (auth: string) => `unauthorized: got "${auth}"`],
    [500, (auth: string) => JSON.stringify({ error: 'upstream', headers: { authorization: auth } })],
    // The credential straddles the 500 characters an error keeps: scrubbed whole, then cut.
    [503, (auth: string) => `${'x'.repeat(490)}${auth}${'y'.repeat(100)}`],
  ])('%i: neither the log, the returned error, nor the stored error and timeline hold the credential', async (status, body) => {
    const config = loadConfigText(
      `checks: [{ name: api, type: tcp, host: 127.0.0.1, port: 9 }]\nnotifiers: [{ name: hook, type: webhook, url: "http://alice:\${PW}@127.0.0.1:${receiver.port}/hook", headers: { X-Team: ops } }]\n`,
      'kw.yaml',
      { env: { PW: ENCODED } },
    );
    setSecrets(config.secrets);
    answer = (auth) => [status, body(auth)];

    const returned = await send('webhook', { url: `http://alice:${ENCODED}@127.0.0.1:${receiver.port}/hook` }).then(() => undefined, (e: unknown) => e);
    expect(returned).toBeInstanceOf(NotifyError);
    expect(seen[0].authorization).toBe(`Basic ${B64}`); // what was echoed was the real credential
    expect((returned as Error).message).toMatch(new RegExp(`^HTTP ${status}: `));
    expect(leaks((returned as Error).message)).toEqual([]);

    const log = createLogger({ level: 'debug', destination: new Writable({ write: (c, _e, cb) => ((lines += c), cb()) }) as never });
    const results: string[] = [];
    const worker = new OutboxWorker(store, { notifiers: () => config.notifiers, log, retryBaseMs: 60_000, onResult: (_n, r) => results.push(r) });
    store.insertIncident({
      key: 'web-01/api', agent: 'web-01', check: 'api', type: 'tcp', severity: 'critical', state: 'open', tierIndex: 0, summary: 's',
      labels: {}, values: {}, flapping: false, openedAt: Date.now(), seq: 0, evidence: [], repeats: 0, coverage: '24x7', respondBreached: false, resolveBreached: false,
    });
    store.enqueue({ key: event.key, notifier: 'hook', incidentId: 1, event: 'trigger', payload: JSON.stringify(event), createdAt: Date.now(), notBefore: Date.now() });
    worker.start();
    while (!results.length) await sleep(20);
    await worker.stop();

    expect(results).toEqual([status === 401 ? 'failed' : 'retry']);
    const stored = store.notificationsOf(1)[0].lastError ?? '';
    expect(stored).toMatch(new RegExp(`^HTTP ${status}: `));
    if (status !== 503) expect(lines).toMatch(/\[REDACTED\]/); // (the 503's cut falls inside the marker: dropped whole)
    store.close();
    const db = new Database(path.join(dir.dir, 'keepwatch.db'), { readonly: true });
    const file = JSON.stringify(db.prepare('SELECT * FROM outbox').all()) + JSON.stringify(db.prepare('SELECT * FROM timeline').all());
    db.close();
    expect({ log: leaks(lines), stored: leaks(stored), file: leaks(file) }).toEqual({ log: [], stored: [], file: [] });
  });
});
