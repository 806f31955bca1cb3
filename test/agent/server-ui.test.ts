/**
 * The status page's routes (agent/server-ui.ts): the open shell with its security and caching
 * headers, the polled JSON behind the read token with ETags and 304s, the public document that
 * holds nothing private, and the refusal of cross-origin state-changing requests.
 */
import fs from 'node:fs';
import path from 'node:path';
import { availabilityBar, UI_CSP } from '../../agent/server-ui';
import { startAgentOnStore, type RunningAgent } from '../helpers/agent-on-store';
import { tempDir } from '../helpers/daemon';
import { startHttp, type TestServer } from '../helpers/servers';

const SECRET_MESSAGE_CODE = 503;
let dir: ReturnType<typeof tempDir>;
let target: TestServer;
let failing = false;

function configFile(name: string, statusPage: string): string {
  const file = path.join(dir.dir, `${name}.yaml`);
  fs.writeFileSync(file, [
    `agent: { name: ${name}, dataDir: "${path.join(dir.dir, `data-${name}`)}" }`,
    'api: { token: admin-secret-1, readToken: reader-secret-2 }',
    statusPage,
    'incidents: { openAfter: 1 }',
    'checks:',
    `  - { name: shop-web, type: http, url: "${target.url}/shop", every: 1h, labels: { service: shop, owner: alice-private } }`,
    `  - { name: plain, type: http, url: "${target.url}/plain", every: 1h }`,
  ].join('\n'));
  return file;
}

const read = { Authorization: 'Bearer reader-secret-2' };
const admin = { Authorization: 'Bearer admin-secret-1' };

beforeAll(async () => {
  dir = tempDir();
  target = await startHttp((req, res) => {
    if (failing && req.url === '/shop') res.writeHead(SECRET_MESSAGE_CODE).end('down');
    else res.writeHead(200).end('ok');
  });
});
afterAll(async () => {
  await target.close();
  dir.cleanup();
});

describe('private mode', () => {
  let a: RunningAgent;
  beforeAll(async () => {
    a = await startAgentOnStore(configFile('private', 'statusPage: { title: "Shop status" }'));
    await a.agent.runNow('shop-web');
    await a.agent.runNow('plain');
    a.agent.incidents!.flushAvailability();
  });
  afterAll(() => a.stop());

  test('the shell is open HTML with a strict CSP, nosniff, no referrer and no-cache with an ETag; a match is a 304', async () => {
    for (const p of ['/', '/incidents/12']) {
      const res = await fetch(`${a.base}${p}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(res.headers.get('content-security-policy')).toBe(UI_CSP);
      expect(UI_CSP).not.toContain('unsafe-inline');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.get('cache-control')).toBe('no-cache');
      const html = await res.text();
      expect(html).toContain('<script src="/ui/app.js" defer></script>');
      const etag = res.headers.get('etag')!;
      expect(etag).toMatch(/^"[\w-]{22}"$/);
      const again = await fetch(`${a.base}${p}`, { headers: { 'If-None-Match': etag } });
      expect(again.status).toBe(304);
      expect(await again.text()).toBe('');
    }
  });

  test('the assets have their types; the shell has no inline script or style and loads nothing from elsewhere', async () => {
    const js = await fetch(`${a.base}/ui/app.js`);
    expect([js.status, js.headers.get('content-type')]).toEqual([200, 'text/javascript; charset=utf-8']);
    const css = await fetch(`${a.base}/ui/app.css`);
    expect([css.status, css.headers.get('content-type')]).toEqual([200, 'text/css; charset=utf-8']);
    expect((await fetch(`${a.base}/ui/other.js`)).status).toBe(404);
    expect((await fetch(`${a.base}/incidents/abc`)).status).toBe(404);
    const html = fs.readFileSync(path.join(__dirname, '../../web/index.html'), 'utf8');
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)/);
    expect(html).not.toMatch(/\sstyle=|<style|\son[a-z]+=/i);
    expect(`${html}${await js.text()}${await css.text()}`).not.toMatch(/(?:src|href)=["']?(?:https?:)?\/\/|@import|url\(\s*["']?https?:/);
  });

  test('the page never puts a token in a URL, and the API takes no token from a URL or a cookie', async () => {
    const js = fs.readFileSync(path.join(__dirname, '../../web/app.js'), 'utf8');
    expect(js).not.toMatch(/[?&](?:access_)?token=/i);
    expect(js).toContain("sessionStorage.getItem(KEY)");
    expect(js).toContain("credentials: 'omit'");
    expect((await fetch(`${a.base}/api/v1/ui/status?token=reader-secret-2`)).status).toBe(401);
    expect((await fetch(`${a.base}/api/v1/ui/status?access_token=reader-secret-2`)).status).toBe(401);
    expect((await fetch(`${a.base}/api/v1/ui/status`, { headers: { Cookie: 'token=reader-secret-2; Authorization=Bearer reader-secret-2' } })).status).toBe(401);
  });

  test('/api/v1/ui/status needs the read token: checks with value, message, group and 24 h bar; 304 until something changes', async () => {
    expect((await fetch(`${a.base}/api/v1/ui/status`)).status).toBe(401);
    const res = await fetch(`${a.base}/api/v1/ui/status`, { headers: read });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body: any = await res.json();
    expect(body).toMatchObject({ mode: 'private', title: 'Shop status', worst: 'ok', counts: { ok: 2 } });
    const shop = body.checks.find((c: any) => c.name === 'shop-web');
    expect(shop).toMatchObject({ status: 'ok', group: 'service: shop', value: { field: expect.any(String) } });
    expect(shop.bar).toMatch(/^\.{23}A$/);
    expect(body.checks.find((c: any) => c.name === 'plain').group).toBe('');
    expect(body.health).toMatchObject({ store: 'on', outbox: { due: 0 }, lateChecks: 0 });
    expect(body).not.toHaveProperty('now');
    const etag = res.headers.get('etag')!;
    const same = await fetch(`${a.base}/api/v1/ui/status`, { headers: { ...read, 'If-None-Match': etag } });
    expect(same.status).toBe(304);
    failing = true;
    try {
      await a.agent.runNow('shop-web');
    } finally {
      failing = false;
    }
    const changed = await fetch(`${a.base}/api/v1/ui/status`, { headers: { ...read, 'If-None-Match': etag } });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).not.toBe(etag);
    const now: any = await changed.json();
    expect(now.worst).toBe('critical');
    expect(now.incidents).toEqual([expect.objectContaining({ check: 'shop-web', severity: 'critical', state: 'open' })]);
  });

  test('GET /api/v1/ui/config is open and says the mode and whether a token is needed, nothing more', async () => {
    const res = await fetch(`${a.base}/api/v1/ui/config`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ public: false, tokenRequired: true });
  });

  test('the public document is off unless statusPage.public is true', async () => {
    const res = await fetch(`${a.base}/api/v1/public/status`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as any).error).toMatch(/statusPage\.public: true/);
  });

  test('a state-changing request from another origin is refused even with the admin token; the agent\'s own origin and none pass', async () => {
    const [inc] = ((await (await fetch(`${a.base}/api/v1/incidents?state=open`, { headers: read })).json()) as any).incidents;
    expect(inc).toBeDefined();
    const post = (origin?: string) => fetch(`${a.base}/api/v1/incidents/${inc.id}/ack`, {
      method: 'POST',
      headers: { ...admin, 'Content-Type': 'application/json', ...(origin && { Origin: origin }) },
      body: '{}',
    });
    for (const origin of ['http://evil.example', 'null', `${a.base.replace('127.0.0.1', 'localhost')}`]) {
      const r = await post(origin);
      expect([origin, r.status]).toEqual([origin, 403]);
      expect(((await r.json()) as any).error).toMatch(/cross-origin/);
    }
    const silence = await fetch(`${a.base}/api/v1/silences`, {
      method: 'POST', headers: { ...admin, 'Content-Type': 'application/json', Origin: 'https://evil.example' }, body: JSON.stringify({ check: 'plain', for: '1h', comment: 'x' }),
    });
    expect(silence.status).toBe(403);
    expect((await post(a.base)).status).toBe(200);
    expect(((await fetch(`${a.base}/api/v1/incidents/${inc.id}`, { headers: read }).then((r) => r.json())) as any).state).toBe('acknowledged');
  });
});

describe('public mode', () => {
  let a: RunningAgent;
  beforeAll(async () => {
    a = await startAgentOnStore(configFile('public', 'statusPage: { public: true, title: "Acme status" }'));
    failing = true;
    try {
      await a.agent.runNow('shop-web');
    } finally {
      failing = false;
    }
    await a.agent.runNow('plain');
    a.agent.incidents!.flushAvailability();
  });
  afterAll(() => a.stop());

  test('GET /api/v1/public/status is open and holds names, statuses, the grouping label and bars only', async () => {
    const res = await fetch(`${a.base}/api/v1/public/status`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toBe(UI_CSP);
    const text = await res.text();
    const body = JSON.parse(text);
    expect(body).toEqual({
      mode: 'public',
      title: 'Acme status',
      checks: [
        { name: 'shop-web', status: 'critical', group: 'service: shop', bar: `${'.'.repeat(23)}0` },
        { name: 'plain', status: 'ok', group: '', bar: `${'.'.repeat(23)}A` },
      ],
    });
    // Nothing private: no message, value, URL, other label, token or incident.
    const priv: any = await (await fetch(`${a.base}/api/v1/ui/status`, { headers: read })).json();
    const message = priv.checks.find((c: any) => c.name === 'shop-web').message;
    expect(message).toMatch(/503/);
    for (const secret of [message, String(SECRET_MESSAGE_CODE), target.url, 'alice-private', 'owner', 'admin-secret-1', 'reader-secret-2', 'summary', 'incident', 'value']) {
      expect([secret, text.includes(secret)]).toEqual([secret, false]);
    }
    const etag = res.headers.get('etag')!;
    expect((await fetch(`${a.base}/api/v1/public/status`, { headers: { 'If-None-Match': etag } })).status).toBe(304);
  });

  test('the private document still needs the read token; the page config says public', async () => {
    expect(await (await fetch(`${a.base}/api/v1/ui/config`)).json()).toEqual({ public: true, tokenRequired: true });
    expect((await fetch(`${a.base}/api/v1/ui/status`)).status).toBe(401);
  });
});

test('availabilityBar: one character an hour, oldest first, by the share of ok runs', () => {
  const last = 1000;
  expect(availabilityBar([], last)).toBe('.'.repeat(24));
  expect(availabilityBar([
    { hour: 1000, ok: 10, total: 10 },
    { hour: 999, ok: 9, total: 10 },
    { hour: 998, ok: 0, total: 4 },
    { hour: 977, ok: 99, total: 100 },
    { hour: 976, ok: 1, total: 1 }, // 24 hours back: outside the bar
    { hour: 1001, ok: 1, total: 1 }, // the future (a clock step): ignored
  ], last)).toBe(`9${'.'.repeat(20)}09A`);
});
