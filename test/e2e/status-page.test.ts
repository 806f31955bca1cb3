/**
 * The status page in a real browser: Debian's chromium (.ci/run installs it) driven by
 * playwright-core against the built daemon. A check turns critical live, its incident is
 * acknowledged with the page's button (the API shows it), the public mode shows nothing
 * private, and the page logs no console error (a CSP violation would be one). Screenshots at
 * desktop and phone widths go to docs/screenshots/ (the README shows them).
 */
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { packageRoot } from '../../agent/paths';
import { startDaemon, tempDir, type Daemon } from '../helpers/daemon';
import { startHttp, type TestServer } from '../helpers/servers';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = path.join(packageRoot(), 'docs', 'screenshots');
const ADMIN = 'admin-e2e-7f3a9c';
const READ = 'reader-e2e-41b2d8';

let dir: ReturnType<typeof tempDir>;
let target: TestServer;
let failing = false;
let browser: Browser;
const daemons: Daemon[] = [];

async function agent(name: string, statusPage: string): Promise<Daemon> {
  const file = path.join(dir.dir, `${name}.yaml`);
  fs.writeFileSync(file, [
    `agent: { name: ${name}, listen: "127.0.0.1:0", dataDir: "${dir.dir}/data-${name}" }`,
    `api: { token: ${ADMIN}, readToken: ${READ} }`,
    statusPage,
    'incidents: { snapshots: false }',
    'sla: { critical: { respond: 15m, resolve: 4h } }',
    'checks:',
    `  - { name: checkout, type: http, url: "${target.url}/checkout", every: 1s, openAfter: 1, resolveAfter: 1, labels: { service: shop, team: web } }`,
    `  - { name: catalog, type: http, url: "${target.url}/catalog", every: 1s, labels: { service: shop } }`,
    `  - { name: postgres, type: tcp, host: 127.0.0.1, port: ${new URL(target.url).port}, every: 1s, labels: { service: data } }`,
  ].join('\n'));
  const d = await startDaemon(['--config', file]);
  daemons.push(d);
  return d;
}

/** A page that records console errors, page errors and every URL it requests. */
async function open(width: number, height: number): Promise<{ page: Page; errors: string[]; urls: string[] }> {
  const page = await browser.newPage({ viewport: { width, height } });
  const errors: string[] = [];
  const urls: string[] = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('request', (r) => urls.push(r.url()));
  return { page, errors, urls };
}

beforeAll(async () => {
  dir = tempDir();
  fs.mkdirSync(SHOTS, { recursive: true });
  target = await startHttp((req, res) => {
    if (failing && req.url === '/checkout') res.writeHead(503).end('checkout backend unavailable');
    else res.writeHead(200).end('ok');
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  for (const d of daemons) await d.stop();
  await target?.close();
  dir?.cleanup();
});

test('sign in, see a check turn critical live, open its incident, acknowledge it with the button; the API agrees', async () => {
  failing = false;
  const d = await agent('shop-agent', 'statusPage: { title: "Shop on-call" }');
  const { page, errors, urls } = await open(1280, 800);
  await page.goto(d.base);
  await page.getByLabel(/API token/).fill(ADMIN);
  await page.getByRole('button', { name: 'Use token' }).click();
  const row = page.locator('tr[data-check="checkout"]');
  await row.locator('.badge', { hasText: 'OK' }).waitFor({ timeout: 30_000 });
  await page.getByRole('heading', { name: 'service: shop' }).waitFor();
  await page.getByRole('heading', { name: 'service: data' }).waitFor();

  failing = true; // no reload from here on: the page must see it by itself
  await row.locator('.badge', { hasText: 'CRITICAL' }).waitFor({ timeout: 30_000 });
  await expect(row.textContent()).resolves.toContain('status = 503');
  const link = page.locator('tr[data-incident] a').first();
  await link.waitFor({ timeout: 30_000 });
  await page.getByText(/respond: \d+m \d+s left/).waitFor();
  await page.screenshot({ path: path.join(SHOTS, 'status-desktop.png'), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: path.join(SHOTS, 'status-phone.png'), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });

  await link.click();
  await page.getByRole('heading', { name: 'Timeline' }).waitFor();
  const id = /\/incidents\/(\d+)$/.exec(page.url())![1];
  await page.getByText('CRITICAL · open').waitFor();
  await expect(page.locator('dl').innerText()).resolves.toMatch(/Check\s+checkout \(http\)[\s\S]*Respond by\s+.*\(1[45]m \d+s left\)/);
  await page.getByLabel(/^Comment/).fill('looking into it');
  await page.getByRole('button', { name: 'Acknowledge' }).click();
  await page.getByText('Acknowledged.').waitFor();
  await page.locator('dd', { hasText: 'acknowledged (acknowledged by status page)' }).waitFor();
  await page.locator('ol.timeline li', { hasText: 'acknowledged by status page: looking into it' }).waitFor();
  await page.screenshot({ path: path.join(SHOTS, 'incident-desktop.png'), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: path.join(SHOTS, 'incident-phone.png'), fullPage: true });

  const inc = (await (await fetch(`${d.base}/api/v1/incidents/${id}`, { headers: { Authorization: `Bearer ${READ}` } })).json()) as any;
  expect(inc).toMatchObject({ state: 'acknowledged', acknowledgedBy: 'status page' });
  expect(inc.timeline.map((t: any) => t.message).join('\n')).toContain('looking into it');
  expect(await page.getByRole('button', { name: 'Acknowledge' }).isDisabled()).toBe(true);

  // The token went out in headers only: never in a URL the browser asked for.
  expect(urls.length).toBeGreaterThan(5);
  expect(urls.filter((u) => u.includes(ADMIN) || u.includes(READ) || /token=/i.test(u))).toEqual([]);
  expect(errors).toEqual([]);
  failing = false;
  await page.close();
}, 120_000);

test('the public page shows names and statuses, and nothing private', async () => {
  failing = true;
  const d = await agent('public-agent', 'statusPage: { public: true, title: "Acme status" }');
  const { page, errors } = await open(1280, 800);
  await page.goto(d.base);
  await page.getByRole('heading', { name: 'Acme status' }).waitFor();
  const row = page.locator('tr[data-check="checkout"]');
  await row.locator('.badge', { hasText: 'CRITICAL' }).waitFor({ timeout: 30_000 });
  await page.locator('tr[data-check="postgres"] .badge', { hasText: 'OK' }).waitFor({ timeout: 30_000 });
  await page.screenshot({ path: path.join(SHOTS, 'public-desktop.png'), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: path.join(SHOTS, 'public-phone.png'), fullPage: true });

  const priv = (await (await fetch(`${d.base}/api/v1/ui/status`, { headers: { Authorization: `Bearer ${READ}` } })).json()) as any;
  const message: string = priv.checks.find((c: any) => c.name === 'checkout').message;
  expect(message).toBeTruthy();
  const html = await page.content();
  const text = await page.locator('body').innerText();
  for (const secret of [message, '503', target.url, 'status =', 'team: web', ADMIN, READ, 'Open incidents', 'Outbox']) {
    expect([secret, html.includes(secret) || text.includes(secret)]).toEqual([secret, false]);
  }
  expect(text).toContain('service: shop');
  expect(await page.locator('#login').isHidden()).toBe(true);
  expect(errors).toEqual([]);
  failing = false;
  await page.close();
}, 120_000);
