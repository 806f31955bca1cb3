import { configProblems, renderConfigLoad, type ConfigCase } from './config-load';
import { focusProblems, renderFocusParse, type FocusParseResult } from './focus-rss';
import type { Settings } from './run';

/** One bare-client baseline run (bench/baseline.ts). */
export interface BaselineRun {
  mode: string;
  requests: number;
  cpuMsPerRequest: number;
  wallMsPerRequest: number;
}

/** One measured run of keepwatch under 1,000 http checks. */
export interface KeepwatchRun {
  /** Check runs counted in the CPU window, and how many the schedule asks for. */
  runs: number;
  expectedRuns: number;
  windowS: number;
  /** Runs in both windows whose status was not ok, and due runs skipped for overlap. */
  notOk: number;
  skipped: number;
  cpuMs: number;
  cpuPerRunMs: number;
  /** /metrics scrapes inside the CPU window (Prometheus-like pace). */
  promScrapes: number;
  meanDurationMs: number;
  /** Scheduler lag p99 as a bucket bound (seconds): in the CPU window, and in the scrape window. */
  lagP99: number;
  lagP99Scrape: number;
  lagP50: number;
  lagObservations: number;
  scrapeLatenciesMs: number[];
  /** CPU of one /metrics scrape, estimated: scrape window CPU less its runs at the CPU window's rate. */
  scrapeCpuMs: number;
  metricsBytes: number;
  metricsSamples: number;
  /** VmRSS at the end of the CPU window, before the scrape window. */
  rssCpuWindow: number;
  rss: number;
  hwm: number;
  logLines: number;
  logTail: string[];
}

/** One measured run of blackbox_exporter probing the same 1,000 targets. */
export interface BlackboxRun {
  probes: number;
  expectedProbes: number;
  failed: number;
  errors: string[];
  windowS: number;
  cpuMs: number;
  cpuPerProbeMs: number;
  rss: number;
  hwm: number;
}

/** The default config, idle. */
export interface IdleRun {
  rss: number;
  hwm: number;
  seconds: number;
  checks: number;
  statuses: Record<string, number>;
}

/** Everything one bench run gathered. */
export interface BenchResults {
  settings: Settings;
  /** The agent's spread of first runs after start, part of the warm-up. */
  agentSpreadS: number;
  started: Date;
  finished?: Date;
  machine: { cpu: string; cores: number; memory: string; kernel: string };
  node: string;
  keepwatchVersion: string;
  blackboxVersion: string;
  loadBefore: string;
  loadAfter?: string;
  baselines: { http: BaselineRun[]; axios: BaselineRun[] };
  keepwatch: KeepwatchRun[];
  blackbox: BlackboxRun[];
  idle: IdleRun[];
  /** `keepwatch validate` on large generated configs. */
  configLoad?: ConfigCase[];
  /** A ~1 GB FOCUS export parsed by the focus cost source, with its RSS (bench/focus-rss.ts). */
  focusParse?: FocusParseResult;
}

/** The middle value (mean of the two middle ones for an even count). */
export function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The nearest-rank percentile (0 < p ≤ 100) of a sample. */
export function percentile(xs: number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length, Math.max(1, Math.ceil((p / 100) * s.length))) - 1];
}

const ms = (x: number, digits = 3) => `${x.toFixed(digits)} ms`;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const bound = (s: number) => (Number.isNaN(s) ? 'n/a' : s === Infinity ? '> 5 s' : `≤ ${+(s * 1000).toFixed(3)} ms`);
const list = (xs: string[]) => xs.join(', ');
const yes = (ok: boolean) => (ok ? 'yes' : '**no**');

/** Renders RESULTS.md, and lists what makes the figures invalid (failed probes, runs not ok, too few runs). */
export function renderResults(r: BenchResults): { markdown: string; problems: string[] } {
  const s = r.settings;
  const kw = r.keepwatch;
  const bb = r.blackbox;
  const problems: string[] = [];
  kw.forEach((k, i) => {
    if (k.notOk > 0) problems.push(`keepwatch run ${i + 1}: ${k.notOk} check runs were not ok`);
    if (k.runs < 0.95 * k.expectedRuns) problems.push(`keepwatch run ${i + 1}: ${k.runs} runs in the window, the schedule asks for ${k.expectedRuns}`);
  });
  bb.forEach((b, i) => {
    if (b.failed > 0) problems.push(`blackbox run ${i + 1}: ${b.failed} probes failed (${b.errors.join('; ')})`);
    if (b.probes < 0.95 * b.expectedProbes) problems.push(`blackbox run ${i + 1}: ${b.probes} probes in the window, ${b.expectedProbes} were due`);
  });

  problems.push(...configProblems(r.configLoad ?? []));
  problems.push(...focusProblems(r.focusParse));
  const config = renderConfigLoad(r.configLoad ?? []);

  const kwCpu = median(kw.map((k) => k.cpuPerRunMs));
  const bbCpu = median(bb.map((b) => b.cpuPerProbeMs));
  const ratio = kwCpu / bbCpu;
  const pairRatios = kw.map((k, i) => k.cpuPerRunMs / bb[i].cpuPerProbeMs);
  const lag = kw.map((k) => k.lagP99);
  const lagScrape = kw.map((k) => k.lagP99Scrape);
  const p50s = kw.map((k) => percentile(k.scrapeLatenciesMs, 50));
  const p99s = kw.map((k) => percentile(k.scrapeLatenciesMs, 99));
  const rss = kw.map((k) => k.rss);
  const hwm = kw.map((k) => k.hwm);
  const idle = r.idle.map((x) => x.rss);
  const httpBase = r.baselines.http.map((b) => b.cpuMsPerRequest);
  const axiosBase = r.baselines.axios.map((b) => b.cpuMsPerRequest);
  const took = r.finished ? `${Math.round((r.finished.getTime() - r.started.getTime()) / 60_000)} min` : 'unfinished';

  const md: string[] = [];
  md.push('# keepwatch benchmark', '');
  md.push(`Written by \`npm run bench\` (bench/run.ts) on ${r.started.toISOString().slice(0, 16).replace('T', ' ')} UTC; took ${took}.`, '');
  md.push(
    `- Machine: ${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.memory} RAM, Linux ${r.machine.kernel}; load average ${r.loadBefore} before, ${r.loadAfter ?? '?'} after`,
    `- Node ${r.node}; keepwatch ${r.keepwatchVersion}`,
    `- ${r.blackboxVersion}`,
    `- ${s.runs} run(s) of each measurement; MB = 10⁶ bytes; CPU = user + system time of all the process's threads`,
    '',
  );

  md.push('## Method', '');
  md.push(
    `A target HTTP server runs in its own process on 127.0.0.1 and answers \`200 ok\` to \`/?i=N\`; its CPU is not counted anywhere. ` +
      `**keepwatch** runs as a child process (\`node --max-semi-space-size=8 dist/agent/cli.js run --config …\`, the flags of \`npm start\`) with a generated config of ${s.checks} http checks ` +
      `\`every: ${s.everyS}s\` against \`http://127.0.0.1:PORT/?i=N\`, \`agent.concurrency: ${s.concurrency}\`, \`logLevel: warn\`, timeout 5s. ` +
      `After a warm-up of the agent's ${r.agentSpreadS} s initial spread plus one interval and 2 s, its CPU time is read from \`/proc/PID/stat\` over a ${s.windowS} s window, ` +
      `in which /metrics is scraped every ${s.promIntervalS} s as Prometheus would (that exposition cost is included); check runs are the delta of ` +
      `\`keepwatch_check_runs_total\` over the window, and CPU per run = CPU delta / runs delta. Then, for ${s.scrapeWindowS} s, /metrics is scraped back to back ` +
      `every ${s.scrapeEveryMs} ms on fresh connections and each scrape timed from request to end of body in the bench process; the checks keep running meanwhile. ` +
      `Scheduler lag p99 is the smallest \`keepwatch_scheduler_lag_seconds\` bucket bound holding ≥ 99 % of the window's observations (a bucket bound, not an exact value), ` +
      `reported for each window. RSS is VmRSS (and the peak, VmHWM) from \`/proc/PID/status\` at the end of the run, after the scrape window; the per-run table also gives VmRSS at the end of the CPU window. ` +
      `The agent runs from a copy of dist/ taken when the bench starts, so a rebuild during the bench does not change what is measured.`,
    '',
    `**blackbox_exporter** runs next (never at the same time: ${r.machine.cores} cores) with one \`http_2xx\` module (prober http, timeout 5s, preferred_ip_protocol ip4) on ` +
      `127.0.0.1. The bench process drives it like Prometheus: ${s.checks} targets, each \`GET /probe?module=http_2xx&target=http://127.0.0.1:PORT/?i=N\` once every ${s.everyS} s, ` +
      `spread evenly, over keep-alive connections, reading each body and requiring \`probe_success 1\`. After one interval plus 2 s of warm-up its CPU is read over a ${s.windowS} s window; ` +
      `CPU per probe = CPU delta / probes completed in the window. keepwatch and blackbox runs alternate, so a disturbance hits both.`,
    '',
    `**Idle RSS**: \`node --max-semi-space-size=8 dist/agent/cli.js run\` with no --config from an empty temp directory, KEEPWATCH_CONFIG='', KEEPWATCH_HOST=127.0.0.1, ` +
      `KEEPWATCH_PORT=<free port> (the embedded default config); once every default check has reported and ${s.idleS} s have passed since start, VmRSS is read. ` +
      `**Baselines**: ${s.baselineRequests} sequential GETs to the target in a fresh Node process after 500 warm-up GETs, with \`http.get\` (\`agent: false\`) and with axios ` +
      `(an \`http.Agent\` with keepAlive false); CPU per request from \`process.cpuUsage()\`.`,
    '',
  );
  if (r.configLoad?.length) md.push(config.method, '');

  md.push(`## Results (median of ${s.runs})`, '');
  md.push('| measure | median | runs | target | met? |', '|---|---|---|---|---|');
  md.push(
    `| CPU per check run, keepwatch (scheduling, probe, evaluation, metrics) | ${ms(kwCpu)} | ${list(kw.map((k) => ms(k.cpuPerRunMs)))} | ≤ blackbox_exporter per probe (${ms(bbCpu)}, this bench) | ${yes(kwCpu <= bbCpu)} |`,
    `| CPU per probe, blackbox_exporter | ${ms(bbCpu)} | ${list(bb.map((b) => ms(b.cpuPerProbeMs)))} | reference (issue: 0.54 ms) | — |`,
    `| keepwatch / blackbox_exporter CPU | ${ratio.toFixed(2)} | ${list(pairRatios.map((x) => x.toFixed(2)))} (run by run) | ≤ 1 | ${yes(ratio <= 1)} |`,
    `| Scheduler lag p99 (bucket bound), CPU window: /metrics every ${s.promIntervalS} s | ${bound(median(lag))} | ${list(lag.map(bound))} | < 50 ms | ${yes(median(lag) < 0.05)} |`,
    `| Scheduler lag p99 (bucket bound), scrape window: /metrics every ${s.scrapeEveryMs} ms | ${bound(median(lagScrape))} | ${list(lagScrape.map(bound))} | < 50 ms | ${yes(median(lagScrape) < 0.05)} |`,
    `| /metrics latency p50 | ${ms(median(p50s), 1)} | ${list(p50s.map((x) => ms(x, 1)))} | — | — |`,
    `| /metrics latency p99 | ${ms(median(p99s), 1)} | ${list(p99s.map((x) => ms(x, 1)))} | < 25 ms | ${yes(median(p99s) < 25)} |`,
    `| RSS under load (VmRSS at end) | ${mb(median(rss))} | ${list(rss.map(mb))} | < 150 MB | ${yes(median(rss) < 150e6)} |`,
    `| RSS under load, peak (VmHWM) | ${mb(median(hwm))} | ${list(hwm.map(mb))} | < 150 MB | ${yes(median(hwm) < 150e6)} |`,
    `| Idle RSS, default config | ${mb(median(idle))} | ${list(idle.map(mb))} | < 80 MB | ${yes(median(idle) < 80e6)} |`,
    `| Baseline: Node \`http.get\`, fresh connection, CPU per request | ${ms(median(httpBase))} | ${list(httpBase.map((x) => ms(x)))} | context (issue: 0.21 ms) | — |`,
    `| Baseline: axios, keepAlive false, CPU per request | ${ms(median(axiosBase))} | ${list(axiosBase.map((x) => ms(x)))} | context (issue: 0.45 ms) | — |`,
    ...config.rows,
    '',
  );
  if (problems.length) {
    md.push('**These figures are not valid:**', '', ...problems.map((p) => `- ${p}`), '');
  }

  md.push('## Per run', '', '### keepwatch', '');
  md.push(
    '| run | CPU window | runs (due) | not ok | skipped | CPU | CPU/run | mean check duration | lag p50 | lag p99 (CPU / scrape window) | lag observations | /metrics scrapes | /metrics p50 / p99 / max | CPU per scrape (est.) | /metrics size | VmRSS after CPU window | VmRSS / VmHWM at end | log lines |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  );
  kw.forEach((k, i) => {
    const lat = k.scrapeLatenciesMs;
    md.push(
      `| ${i + 1} | ${k.windowS.toFixed(1)} s | ${k.runs} (${k.expectedRuns}) | ${k.notOk} | ${k.skipped} | ${(k.cpuMs / 1000).toFixed(2)} s | ${ms(k.cpuPerRunMs)} | ${ms(k.meanDurationMs, 2)} | ${bound(k.lagP50)} | ${bound(k.lagP99)} / ${bound(k.lagP99Scrape)} | ${k.lagObservations} | ${lat.length} + ${k.promScrapes} in CPU window | ${ms(percentile(lat, 50), 1)} / ${ms(percentile(lat, 99), 1)} / ${ms(Math.max(...lat), 1)} | ${ms(k.scrapeCpuMs, 1)} | ${(k.metricsBytes / 1e6).toFixed(2)} MB, ${k.metricsSamples} samples | ${mb(k.rssCpuWindow)} | ${mb(k.rss)} / ${mb(k.hwm)} | ${k.logLines} |`,
    );
  });
  md.push('', '### blackbox_exporter', '');
  md.push('| run | CPU window | probes (due) | failed | CPU | CPU/probe | VmRSS / VmHWM |', '|---|---|---|---|---|---|---|');
  bb.forEach((b, i) => {
    md.push(`| ${i + 1} | ${b.windowS.toFixed(1)} s | ${b.probes} (${b.expectedProbes}) | ${b.failed} | ${(b.cpuMs / 1000).toFixed(2)} s | ${ms(b.cpuPerProbeMs)} | ${mb(b.rss)} / ${mb(b.hwm)} |`);
  });
  md.push('', '### Idle, default config', '');
  md.push('| run | after | checks | runs by status | VmRSS / VmHWM |', '|---|---|---|---|---|');
  r.idle.forEach((x, i) => {
    const st = Object.entries(x.statuses).map(([k, v]) => `${k} ${v}`).join(', ');
    md.push(`| ${i + 1} | ${x.seconds.toFixed(1)} s | ${x.checks} | ${st} | ${mb(x.rss)} / ${mb(x.hwm)} |`);
  });
  if (r.configLoad?.length) md.push('', ...config.perRun);
  md.push('', '### Baselines', '');
  md.push('| run | client | requests | CPU/request | wall/request |', '|---|---|---|---|---|');
  for (const [name, runs] of [['http.get', r.baselines.http], ['axios', r.baselines.axios]] as const) {
    runs.forEach((b, i) => md.push(`| ${i + 1} | ${name} | ${b.requests} | ${ms(b.cpuMsPerRequest)} | ${ms(b.wallMsPerRequest)} |`));
  }
  const logged = kw.filter((k) => k.logLines > 0);
  if (logged.length) {
    md.push('', 'keepwatch logged at warn or above during a run; last lines:', '', '```', ...logged.flatMap((k) => k.logTail), '```');
  }
  md.push('');
  if (r.focusParse) md.push(...renderFocusParse(r.focusParse));
  return { markdown: md.join('\n'), problems };
}
