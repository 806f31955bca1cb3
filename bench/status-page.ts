/**
 * Status page polling: what one refresh of the page costs with 1,000 checks. In process: an
 * agent on a real store with 1,000 http checks (every 1h, so none runs while measuring), each
 * run once against a local target (1 in 50 failing, so incidents are open), availability
 * flushed so every check has a 24 h bar. Then:
 * - bytes of GET /api/v1/ui/status (200) and of GET /api/v1/public/status, and of a 304;
 * - server CPU per update: the route's handler (buildStatus, the page's document, JSON, ETag),
 *   as process.cpuUsage over many calls; for a changed document (200) and an unchanged one (304);
 * - the 24 h bars' refresh from the store (once a minute at most);
 * - wall time of a whole HTTP poll on 127.0.0.1 (client in the same process);
 * - heap growth after 200 polls (the page's cost at idle: nothing is kept per poll).
 *
 * Alone: `tsc -p tsconfig.bench.json && node --expose-gc dist/bench/status-page.js` replaces the
 * "Status page polling" section of bench/RESULTS.md (BENCH_OUT elsewhere).
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Agent } from '../agent/agent';
import { loadConfigText } from '../agent/config/load';
import { createLogger } from '../agent/logger';
import { Metrics } from '../agent/metrics';
import { packageRoot } from '../agent/paths';
import { AgentServer, type Route } from '../agent/server';
import { uiRoutes } from '../agent/server-ui';
import { Store } from '../agent/store/store';

export const STATUS_PAGE_HEADING = '## Status page polling';

export interface StatusPageBench {
  checks: number;
  failing: number;
  bytes: { private: number; public: number; notModifiedHeaders: number };
  cpuMs: { changed: number; unchanged: number; publicChanged: number; bars: number };
  pollMs: { changed: number; unchanged: number };
  heapGrowthBytes?: number;
  started: Date;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function cpuMsPer(n: number, fn: () => void): number {
  fn();
  const t0 = process.cpuUsage();
  for (let i = 0; i < n; i++) fn();
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / 1000 / n;
}

function get(url: string, headers: Record<string, string>): Promise<{ status: number; body: number; headerBytes: number; etag?: string; ms: number }> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    http.get(url, { headers, agent: false }, (res) => {
      let body = 0;
      res.on('data', (c: Buffer) => (body += c.length));
      res.on('end', () => resolve({
        status: res.statusCode ?? 0,
        body,
        headerBytes: res.rawHeaders.reduce((n, h) => n + h.length + 2, 0) + 15,
        etag: res.headers.etag,
        ms: Number(process.hrtime.bigint() - t0) / 1e6,
      }));
    }).on('error', reject);
  });
}

export async function benchStatusPage(opts: { checks?: number } = {}): Promise<StatusPageBench> {
  const started = new Date();
  const n = opts.checks ?? 1000;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kw-ui-bench-'));
  const target = http.createServer((req, res) => {
    const i = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('i'));
    res.writeHead(i % 50 === 0 ? 503 : 200).end('ok');
  });
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
  const port = (target.address() as { port: number }).port;
  const yaml = [
    `agent: { name: bench, dataDir: "${dir}", concurrency: 64 }`,
    'api: { token: admin-bench, readToken: read-bench }',
    'statusPage: { public: true }',
    'incidents: { openAfter: 1, snapshots: false }',
    'checks:',
    ...Array.from({ length: n }, (_, i) => `  - { name: web-${i}, type: http, url: "http://127.0.0.1:${port}/?i=${i}", every: 1h, labels: { service: svc-${i % 20}, team: t${i % 5} } }`),
  ].join('\n');
  const config = loadConfigText(yaml, path.join(dir, 'k.yaml'), { env: {} });
  const store = Store.open(dir);
  const log = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) as never });
  const agent = await Agent.create(config, { log, metrics: new Metrics({ version: 'bench', defaultMetrics: false }), store, initialSpreadMs: 3_600_000 });
  const server = new AgentServer(agent, log);
  const base = `http://127.0.0.1:${(await server.listen('127.0.0.1', 0)).port}`;
  agent.start();
  try {
    for (let i = 0; i < n; i += 64) await Promise.all(Array.from({ length: Math.min(64, n - i) }, (_, j) => agent.runNow(`web-${i + j}`)));
    agent.incidents!.flushAvailability();

    const routes = uiRoutes(agent);
    const route = (re: string): Route => routes.find((r) => r.pattern.source.includes(re))!;
    const privateRoute = route('ui\\/status');
    const publicRoute = route('public');
    const call = (r: Route, headers: Record<string, string>) => r.handle({ req: { headers } as never, params: [], url: new URL('http://x/') });
    // The first call reads the bars from the store; later ones within a minute use the cache.
    const t0 = process.cpuUsage();
    const first = (await call(privateRoute, {})) as { headers: Record<string, string> };
    const firstCpu = process.cpuUsage(t0);
    const etag = first.headers.ETag;
    const changed = cpuMsPer(100, () => void call(privateRoute, {}));
    const unchanged = cpuMsPer(100, () => void call(privateRoute, { 'if-none-match': etag }));
    const publicChanged = cpuMsPer(100, () => void call(publicRoute, {}));
    // The first call's extra over a cached one: the bars' SQL and their encoding.
    const bars = Math.max(0, (firstCpu.user + firstCpu.system) / 1000 - changed);

    const auth = { Authorization: 'Bearer read-bench' };
    const full = await get(`${base}/api/v1/ui/status`, auth);
    const pub = await get(`${base}/api/v1/public/status`, {});
    const not = await get(`${base}/api/v1/ui/status`, { ...auth, 'If-None-Match': full.etag! });
    if (full.status !== 200 || pub.status !== 200 || not.status !== 304) throw new Error(`unexpected statuses ${full.status} ${pub.status} ${not.status}`);
    const pollsChanged: number[] = [];
    const pollsUnchanged: number[] = [];
    for (let i = 0; i < 30; i++) {
      pollsChanged.push((await get(`${base}/api/v1/ui/status`, auth)).ms);
      pollsUnchanged.push((await get(`${base}/api/v1/ui/status`, { ...auth, 'If-None-Match': full.etag! })).ms);
    }
    const gc = (globalThis as { gc?: () => void }).gc;
    let heapGrowthBytes: number | undefined;
    if (gc) {
      gc();
      const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < 200; i++) await get(`${base}/api/v1/ui/status`, { ...auth, 'If-None-Match': i % 2 ? full.etag! : '"x"' });
      gc();
      heapGrowthBytes = process.memoryUsage().heapUsed - before;
    }
    return {
      checks: n,
      failing: Math.ceil(n / 50),
      bytes: { private: full.body, public: pub.body, notModifiedHeaders: not.headerBytes },
      cpuMs: { changed, unchanged, publicChanged, bars },
      pollMs: { changed: median(pollsChanged), unchanged: median(pollsUnchanged) },
      heapGrowthBytes,
      started,
    };
  } finally {
    await server.close();
    await agent.stop();
    store.close();
    target.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const kb = (b: number) => `${(b / 1000).toFixed(1)} kB`;

/** The "Status page polling" section of RESULTS.md. */
export function renderStatusPage(r: StatusPageBench, note = ''): string {
  const everyS = 5;
  return [
    STATUS_PAGE_HEADING,
    '',
    `\`bench/status-page.ts\`: ${r.checks.toLocaleString('en')} http checks (${r.failing} failing, so as many incidents open) on an in-process agent with its store, every check run once and its availability written, so each has a 24 h bar. The page polls GET /api/v1/ui/status every ${everyS} s with If-None-Match. CPU is process.cpuUsage over 100 calls of the route's handler (building the document, JSON, ETag); a poll's wall time is a whole HTTP request on 127.0.0.1 (median of 30). Run on ${r.started.toISOString().slice(0, 10)}, ${os.cpus().length} cores, Node ${process.version}.${note ? ` ${note}` : ''}`,
    '',
    '| measure | value |',
    '|---|---|',
    `| bytes per update, private document (200, uncompressed) | ${kb(r.bytes.private)} (${(r.bytes.private / r.checks).toFixed(0)} B per check) |`,
    `| bytes per unchanged poll (304, headers only) | ${r.bytes.notModifiedHeaders} B |`,
    `| bytes per update, public document | ${kb(r.bytes.public)} |`,
    `| server CPU per update, private (200) | ${r.cpuMs.changed.toFixed(2)} ms |`,
    `| server CPU per unchanged poll (304: the document is built and hashed, not sent) | ${r.cpuMs.unchanged.toFixed(2)} ms |`,
    `| server CPU per update, public | ${r.cpuMs.publicChanged.toFixed(2)} ms |`,
    `| 24 h bars read from the store (at most once a minute) | ${r.cpuMs.bars.toFixed(1)} ms |`,
    `| poll wall time, 200 / 304 | ${r.pollMs.changed.toFixed(1)} ms / ${r.pollMs.unchanged.toFixed(1)} ms |`,
    `| heap growth after 200 polls (after GC) | ${r.heapGrowthBytes === undefined ? 'not measured (run with --expose-gc)' : r.heapGrowthBytes <= 0 ? `none (${kb(r.heapGrowthBytes)})` : kb(r.heapGrowthBytes)} |`,
    '',
    `One open page costs about ${((r.cpuMs.changed / (everyS * 1000)) * 100).toFixed(2)} % of a core while the checks keep changing (every poll a 200), ${((r.cpuMs.unchanged / (everyS * 1000)) * 100).toFixed(2)} % when nothing changes; ${((r.bytes.private * 3600) / everyS / 1e6).toFixed(0)} MB an hour at most per open page (every poll a 200), ${((r.bytes.notModifiedHeaders * 3600) / everyS / 1e6).toFixed(2)} MB when nothing changes.`,
    '',
  ].join('\n');
}

/** Puts the section into RESULTS.md text: in place of the old one, else before the reliability suite, else at the end. */
export function spliceStatusPage(previous: string, section: string): string {
  const at = previous.indexOf(`\n${STATUS_PAGE_HEADING}\n`);
  if (at >= 0) {
    const next = previous.indexOf('\n## ', at + STATUS_PAGE_HEADING.length + 1);
    return `${previous.slice(0, at + 1)}${section.trimEnd()}\n${next >= 0 ? `\n${previous.slice(next + 1)}` : ''}`;
  }
  const rel = previous.indexOf('\n## Reliability suite');
  if (rel >= 0) return `${previous.slice(0, rel + 1)}${section.trimEnd()}\n\n${previous.slice(rel + 1)}`;
  return `${previous.trimEnd()}\n\n${section}`;
}

if (require.main === module) {
  void (async () => {
    const out = process.env.BENCH_OUT || path.join(packageRoot(), 'bench', 'RESULTS.md');
    const r = await benchStatusPage({ checks: Number(process.env.BENCH_CHECKS) || 1000 });
    const section = renderStatusPage(r, 'This section was run alone (`node --expose-gc dist/bench/status-page.js`); the next `npm run bench` writes it with the rest.');
    const previous = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '';
    fs.writeFileSync(out, spliceStatusPage(previous, section));
    process.stdout.write(section);
  })();
}
