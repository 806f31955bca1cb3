import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { packageRoot, packageVersion } from '../agent/paths';
import { benchConditions, renderConditions } from './conditions';
import { benchConfigLoad } from './config-load';
import { benchFocusParse } from './focus-rss';

import { cleanupAll, freePort, get, installCleanup, removeDir, sleep, start, tempDir, waitHealthy, type Child } from './children';
import { cpuSeconds, machine, memory } from './proc';
import { agentSnapshot, bucketQuantile, type AgentSnapshot } from './prom';
import { renderResults, type BaselineRun, type BlackboxRun, type BenchResults, type IdleRun, type KeepwatchRun } from './report';

/** The heading of the hand-kept reliability section of RESULTS.md. */
const RELIABILITY_HEADING = '## Reliability suite';

/** Bench settings; each can be changed by its environment variable for a quick run. */
export interface Settings {
  runs: number;
  checks: number;
  everyS: number;
  concurrency: number;
  /** Length of the CPU window, in which /metrics is scraped only at `promIntervalS`, as Prometheus would. */
  windowS: number;
  promIntervalS: number;
  /** Length of the /metrics latency window that follows, scraped back to back every `scrapeEveryMs`. */
  scrapeWindowS: number;
  scrapeEveryMs: number;
  idleS: number;
  baselineRequests: number;
  blackbox: string;
  /** Size of the generated FOCUS export the focus cost source parses (BENCH_FOCUS_MB). */
  focusBytes: number;
  out: string;
}

function settings(env = process.env): Settings {
  const num = (name: string, def: number, min = 1) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return def;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min) throw new Error(`${name}=${raw}: expected a number ≥ ${min}`);
    return n;
  };
  return {
    runs: num('BENCH_RUNS', 3),
    checks: num('BENCH_CHECKS', 1000),
    everyS: num('BENCH_EVERY_S', 10),
    concurrency: num('BENCH_CONCURRENCY', 64),
    windowS: num('BENCH_WINDOW_S', 60),
    promIntervalS: num('BENCH_PROM_INTERVAL_S', 15),
    scrapeWindowS: num('BENCH_SCRAPE_WINDOW_S', 30),
    scrapeEveryMs: num('BENCH_SCRAPE_EVERY_MS', 250),
    idleS: num('BENCH_IDLE_S', 20),
    baselineRequests: num('BENCH_BASELINE_REQUESTS', 3000),
    blackbox: env.BENCH_BLACKBOX || '/usr/bin/prometheus-blackbox-exporter',
    focusBytes: env.BENCH_FOCUS_MB ? num('BENCH_FOCUS_MB', 1024) * 1e6 : 1024 ** 3,
    out: env.BENCH_OUT || path.join(packageRoot(), 'bench', 'RESULTS.md'),
  };
}

/** The agent's entry point: in the copy of the build that `snapshotBuild` makes. */
let CLI = path.join(packageRoot(), 'dist', 'agent', 'cli.js');

/** The Node flags keepwatch ships with (npm start, the Docker image, the CLI's shebang). */
const NODE_FLAGS: string[] = (JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')).scripts.start as string)
  .split(' ')
  .filter((w) => w.startsWith('--'));

/**
 * Copies the built agent (dist/ without the bench, config/, package.json) to a temp dir and
 * points CLI there: others may rebuild dist/ while the bench runs (jest's global setup
 * does), and every run must measure the same code.
 */
function snapshotBuild(): void {
  const root = packageRoot();
  const built = path.join(root, 'dist', 'agent', 'cli.js');
  if (!fs.existsSync(built)) throw new Error(`${built} not found: run npm run build first (npm run bench does)`);
  const dir = tempDir('build');
  fs.cpSync(path.join(root, 'dist'), path.join(dir, 'dist'), {
    recursive: true,
    filter: (src) => !src.startsWith(path.join(root, 'dist', 'bench')) && !src.endsWith('.tsbuildinfo'),
  });
  fs.cpSync(path.join(root, 'config'), path.join(dir, 'config'), { recursive: true });
  fs.copyFileSync(path.join(root, 'package.json'), path.join(dir, 'package.json'));
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  CLI = path.join(dir, 'dist', 'agent', 'cli.js');
}
/** The agent spreads first runs over 5 s after start (Scheduler's initialSpreadMs default). */
const AGENT_INITIAL_SPREAD_S = 5;

function progress(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/** Environment for a child agent: ours, without any KEEPWATCH_* that would change what it runs. */
function agentEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KEEPWATCH_')) env[k] = v;
  return { ...env, ...extra };
}

/** The probe target server, in its own process. */
async function startTarget(): Promise<{ child: Child; url(i: number): string }> {
  const child = start('target', path.join(__dirname, 'target.js'), [], { ipc: true });
  const port = await new Promise<number>((resolve, reject) => {
    child.proc.once('message', (m: { port: number }) => resolve(m.port));
    void child.exited.then((code) => reject(new Error(`target server exited (${code}):\n${child.tail.join('\n')}`)));
  });
  await waitHealthy(child, `http://127.0.0.1:${port}/?i=0`);
  return { child, url: (i) => `http://127.0.0.1:${port}/?i=${i}` };
}

function baseline(mode: 'http' | 'axios', url: string, requests: number): BaselineRun {
  const out = execFileSync(process.execPath, [path.join(__dirname, 'baseline.js'), mode, url, String(requests)], { encoding: 'utf8' });
  return JSON.parse(out) as BaselineRun;
}

async function scrape(base: string): Promise<AgentSnapshot> {
  const r = await get(`${base}/metrics`);
  if (r.status !== 200) throw new Error(`GET ${base}/metrics: ${r.status}`);
  return agentSnapshot(r.body);
}

function agentConfig(s: Settings, listen: string, dataDir: string, url: (i: number) => string): string {
  const lines = [
    'agent:',
    '  name: bench',
    `  listen: "${listen}"`,
    `  dataDir: "${dataDir}"`,
    `  concurrency: ${s.concurrency}`,
    '  logLevel: warn',
    'defaults:',
    `  every: ${s.everyS}s`,
    '  timeout: 5s',
    'checks:',
  ];
  const width = String(s.checks - 1).length;
  for (let i = 0; i < s.checks; i++) {
    lines.push(`  - { name: target-${String(i).padStart(width, '0')}, type: http, url: "${url(i)}" }`);
  }
  return `${lines.join('\n')}\n`;
}

/** Sleeps until `performance.now()` reaches `t`. */
function sleepUntil(t: number): Promise<void> {
  return sleep(Math.max(0, t - performance.now()));
}

async function benchKeepwatch(s: Settings, url: (i: number) => string, run: number): Promise<KeepwatchRun> {
  const dir = tempDir('agent');
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const file = path.join(dir, 'keepwatch.yaml');
  fs.writeFileSync(file, agentConfig(s, `127.0.0.1:${port}`, path.join(dir, 'data'), url));
  // logLevel warn hides the "listening" line, so the port is chosen here and /healthz polled.
  const child = start('keepwatch', process.execPath, [...NODE_FLAGS, CLI, 'run', '--config', file], { cwd: dir, env: agentEnv() });
  try {
    await waitHealthy(child, `${base}/healthz`);
    const warmupS = AGENT_INITIAL_SPREAD_S + s.everyS + 2;
    progress(`keepwatch run ${run}: pid ${child.pid}, warm-up ${warmupS} s`);
    await sleep(warmupS * 1000);
    let a = await scrape(base);
    for (let i = 0; a.checksRun < s.checks && i < 20; i++) {
      await sleep(500);
      a = await scrape(base);
    }
    if (a.checksRun < s.checks) throw new Error(`keepwatch: only ${a.checksRun} of ${s.checks} checks ran during the warm-up`);

    progress(`keepwatch run ${run}: CPU window ${s.windowS} s (/metrics every ${s.promIntervalS} s)`);
    const cpuA = cpuSeconds(child.pid);
    const tA = performance.now();
    let promScrapes = 0;
    for (let k = 1; k * s.promIntervalS < s.windowS; k++) {
      await sleepUntil(tA + k * s.promIntervalS * 1000);
      await scrape(base);
      promScrapes++;
    }
    await sleepUntil(tA + s.windowS * 1000);
    const b = await scrape(base);
    promScrapes++;
    const cpuB = cpuSeconds(child.pid);
    const tB = performance.now();
    const memB = memory(child.pid);

    progress(`keepwatch run ${run}: /metrics latency window ${s.scrapeWindowS} s (every ${s.scrapeEveryMs} ms, fresh connections)`);
    const latencies: number[] = [];
    let bytes = 0;
    while (performance.now() < tB + s.scrapeWindowS * 1000) {
      const slot = tB + latencies.length * s.scrapeEveryMs;
      await sleepUntil(slot);
      const r = await get(`${base}/metrics`);
      if (r.status !== 200) throw new Error(`GET /metrics: ${r.status}`);
      latencies.push(r.ms);
      bytes = Buffer.byteLength(r.body);
    }
    const cpuC = cpuSeconds(child.pid);
    const mem = memory(child.pid);
    const c = await scrape(base);

    const runs = b.runs - a.runs;
    const cpuMs = (cpuB - cpuA) * 1000;
    const cpuPerRunMs = cpuMs / runs;
    const runs2 = c.runs - b.runs;
    const notOk = (x: AgentSnapshot, y: AgentSnapshot) =>
      Object.keys(y.runsByStatus).reduce((n, st) => n + (st === 'ok' ? 0 : y.runsByStatus[st] - (x.runsByStatus[st] ?? 0)), 0);
    return {
      runs,
      expectedRuns: Math.round((s.windowS * s.checks) / s.everyS),
      windowS: (tB - tA) / 1000,
      notOk: notOk(a, c),
      skipped: c.skipped - a.skipped,
      cpuMs,
      cpuPerRunMs,
      promScrapes,
      meanDurationMs: ((b.durationSum - a.durationSum) / (b.durationCount - a.durationCount)) * 1000,
      lagP99: bucketQuantile(a.lagBuckets, b.lagBuckets, 0.99).bound,
      lagP99Scrape: bucketQuantile(b.lagBuckets, c.lagBuckets, 0.99).bound,
      lagP50: bucketQuantile(a.lagBuckets, c.lagBuckets, 0.5).bound,
      lagObservations: c.lagCount - a.lagCount,
      scrapeLatenciesMs: latencies,
      scrapeCpuMs: ((cpuC - cpuB) * 1000 - runs2 * cpuPerRunMs) / latencies.length,
      metricsBytes: bytes,
      metricsSamples: c.samples,
      rssCpuWindow: memB.rss,
      rss: mem.rss,
      hwm: mem.hwm,
      logLines: child.lines,
      logTail: child.tail.slice(-5),
    };
  } finally {
    await child.stop();
    removeDir(dir);
  }
}

/**
 * Drives blackbox_exporter the way Prometheus would: `checks` targets, each probed once per
 * `everyS`, spread evenly, over keep-alive connections; every answer's body is read and
 * must say probe_success 1.
 */
class ProbeDriver {
  done = 0;
  failed = 0;
  readonly errors: string[] = [];
  private readonly agent = new http.Agent({ keepAlive: true });
  private timer: NodeJS.Timeout | undefined;
  private inflight = new Set<Promise<void>>();
  private next = 0;
  private t0 = 0;

  constructor(
    private readonly base: string,
    private readonly url: (i: number) => string,
    private readonly n: number,
    private readonly everyMs: number,
  ) {}

  start(): void {
    this.t0 = performance.now();
    this.tick();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await Promise.allSettled([...this.inflight]);
    this.agent.destroy();
  }

  private tick(): void {
    const gap = this.everyMs / this.n;
    const due = Math.floor((performance.now() - this.t0) / gap);
    while (this.next <= due) this.probe(this.next++ % this.n);
    this.timer = setTimeout(() => this.tick(), Math.max(1, this.t0 + this.next * gap - performance.now()));
  }

  private probe(i: number): void {
    const p = get(`${this.base}/probe?module=http_2xx&target=${encodeURIComponent(this.url(i))}`, this.agent)
      .then((r) => {
        if (r.status === 200 && /^probe_success 1$/m.test(r.body)) this.done++;
        else this.fail(`target ${i}: HTTP ${r.status}, ${/^probe_success .*$/m.exec(r.body)?.[0] ?? 'no probe_success'}`);
      })
      .catch((err: unknown) => this.fail(`target ${i}: ${String(err)}`))
      .finally(() => this.inflight.delete(p));
    this.inflight.add(p);
  }

  private fail(msg: string): void {
    this.failed++;
    if (this.errors.length < 5) this.errors.push(msg);
  }
}

async function benchBlackbox(s: Settings, url: (i: number) => string, run: number): Promise<BlackboxRun> {
  const dir = tempDir('blackbox');
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const config = path.join(dir, 'blackbox.yml');
  fs.writeFileSync(config, 'modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n    http:\n      preferred_ip_protocol: ip4\n');
  const child = start('blackbox_exporter', s.blackbox, [`--config.file=${config}`, `--web.listen-address=127.0.0.1:${port}`], { cwd: dir });
  const driver = new ProbeDriver(base, url, s.checks, s.everyS * 1000);
  try {
    await waitHealthy(child, `${base}/-/healthy`);
    const warmupS = s.everyS + 2;
    progress(`blackbox run ${run}: pid ${child.pid}, warm-up ${warmupS} s`);
    driver.start();
    await sleep(warmupS * 1000);
    progress(`blackbox run ${run}: CPU window ${s.windowS} s`);
    const doneA = driver.done + driver.failed;
    const failedA = driver.failed;
    const cpuA = cpuSeconds(child.pid);
    const tA = performance.now();
    await sleep(s.windowS * 1000);
    const cpuB = cpuSeconds(child.pid);
    const tB = performance.now();
    const probes = driver.done + driver.failed - doneA;
    const failed = driver.failed - failedA;
    const mem = memory(child.pid);
    const cpuMs = (cpuB - cpuA) * 1000;
    return {
      probes,
      expectedProbes: Math.round((s.windowS * s.checks) / s.everyS),
      failed,
      errors: driver.errors,
      windowS: (tB - tA) / 1000,
      cpuMs,
      cpuPerProbeMs: cpuMs / probes,
      rss: mem.rss,
      hwm: mem.hwm,
    };
  } finally {
    await driver.stop();
    await child.stop();
    removeDir(dir);
  }
}

async function idleRss(s: Settings, run: number): Promise<IdleRun> {
  const dir = tempDir('idle');
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = agentEnv({ KEEPWATCH_HOST: '127.0.0.1', KEEPWATCH_PORT: String(port), KEEPWATCH_CONFIG: '' });
  const child = start('keepwatch (default config)', process.execPath, [...NODE_FLAGS, CLI, 'run'], { cwd: dir, env });
  try {
    const t0 = performance.now();
    await waitHealthy(child, `${base}/healthz`);
    progress(`idle run ${run}: pid ${child.pid}, default config, ${s.idleS} s`);
    let snap = await scrape(base);
    const deadline = t0 + (s.idleS + 30) * 1000;
    while (snap.checksConfigured === 0 || snap.checksRun < snap.checksConfigured) {
      if (performance.now() > deadline) throw new Error(`idle: only ${snap.checksRun} of ${snap.checksConfigured} default checks reported`);
      await sleep(1000);
      snap = await scrape(base);
    }
    await sleepUntil(t0 + s.idleS * 1000);
    const mem = memory(child.pid);
    return {
      rss: mem.rss,
      hwm: mem.hwm,
      seconds: (performance.now() - t0) / 1000,
      checks: snap.checksConfigured,
      statuses: snap.runsByStatus,
    };
  } finally {
    await child.stop();
    removeDir(dir);
  }
}

function blackboxVersion(bin: string): string {
  if (!fs.existsSync(bin)) {
    throw new Error(
      `blackbox_exporter not found at ${bin}: the comparison is part of the bench, so it cannot be skipped. ` +
        'Install it (Debian: apt-get install prometheus-blackbox-exporter) or set BENCH_BLACKBOX to its path.',
    );
  }
  const out = execFileSync(bin, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return out.split('\n')[0].trim();
}

function gitRevision(): string {
  try {
    const rev = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: packageRoot(), encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'agent', 'checks', 'config'], { cwd: packageRoot(), encoding: 'utf8' }).trim();
    return dirty ? `${rev} (agent/checks/config modified in the work tree)` : rev;
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  installCleanup();
  const s = settings();
  const started = new Date();
  const bbVersion = blackboxVersion(s.blackbox);
  const revision = gitRevision();
  snapshotBuild();
  const perRun = AGENT_INITIAL_SPREAD_S + s.everyS + 2 + s.windowS + s.scrapeWindowS + s.everyS + 2 + s.windowS + 10;
  progress(`${s.runs} run(s) of keepwatch and blackbox_exporter, ${s.checks} checks every ${s.everyS} s; about ${Math.ceil((s.runs * (perRun + s.idleS + 5)) / 60)} min`);

  const target = await startTarget();
  const results: BenchResults = {
    settings: s,
    agentSpreadS: AGENT_INITIAL_SPREAD_S,
    started,
    machine: machine(),
    node: process.version,
    keepwatchVersion: `${packageVersion()} @ ${revision}`,
    blackboxVersion: bbVersion,
    loadBefore: fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
    baselines: { http: [], axios: [] },
    keepwatch: [],
    blackbox: [],
    idle: [],
  };

  progress(`baselines: ${s.baselineRequests} sequential requests per run`);
  for (let r = 0; r < s.runs; r++) {
    results.baselines.http.push(baseline('http', target.url(0), s.baselineRequests));
    results.baselines.axios.push(baseline('axios', target.url(0), s.baselineRequests));
  }
  // Interleaved, so a disturbance on the machine hits both sides rather than one.
  for (let r = 1; r <= s.runs; r++) {
    results.keepwatch.push(await benchKeepwatch(s, target.url, r));
    results.blackbox.push(await benchBlackbox(s, target.url, r));
  }
  for (let r = 1; r <= s.runs; r++) results.idle.push(await idleRss(s, r));
  progress('config load: keepwatch validate on 10,000 checks, 20,000 labels, 196,000 checks and 4 MiB of one-line checks');
  results.configLoad = benchConfigLoad(CLI, NODE_FLAGS, s.runs);
  progress(`FOCUS export parsing: a ${(s.focusBytes / 1e6).toFixed(0)} MB export, plain and gzip, RSS sampled every 100 ms`);
  results.focusParse = await benchFocusParse({
    targetBytes: s.focusBytes,
    nodeFlags: NODE_FLAGS,
    focusModule: path.join(path.dirname(CLI), '..', 'checks', 'cost-sources', 'focus'),
    progress,
  });
  results.finished = new Date();
  results.loadAfter = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

  progress('conditions evaluator: 1,000 checks, plain and windowed conditions, in process');
  const conditions = renderConditions(benchConditions());
  const rendered = renderResults(results);
  const markdown = `${rendered.markdown.trimEnd()}\n\n${conditions}`;
  const problems = rendered.problems;
  // The reliability suite's figures (npm run test:reliability) are kept by hand at the end of
  // the file; a new benchmark run replaces everything above them.
  const previous = fs.existsSync(s.out) ? fs.readFileSync(s.out, 'utf8') : '';
  const kept = previous.indexOf(RELIABILITY_HEADING);
  fs.writeFileSync(s.out, kept >= 0 ? `${markdown.trimEnd()}\n\n${previous.slice(kept)}` : markdown);
  progress(`wrote ${s.out}`);
  process.stdout.write(markdown);
  if (problems.length) {
    process.stderr.write(`\nbench: figures are not valid:\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
    process.exitCode = 1;
  }
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(() => cleanupAll());
