/**
 * FOCUS export parsing: generates a large FOCUS export (about 1 GB of CSV by default, streamed to
 * a temp file, plain and gzip), parses it through the `focus` cost source in a fresh Node process
 * and samples that process's RSS (VmRSS from /proc/PID/status) every 100 ms: the issue's "a 1 GB
 * export never sits in memory". Rows per second, MB per second, the peak RSS, and the same daily
 * totals as the generator wrote (to the cent), so a fast but wrong parse does not count.
 *
 *   node dist/bench/focus-rss.js                (after npm run bench's tsc, or tsc -p tsconfig.bench.json)
 *   BENCH_FOCUS_MB=200 node dist/bench/focus-rss.js
 *
 * `npm run bench` runs it last and writes the "FOCUS export parsing" section of RESULTS.md.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expectedDaily, focusExport, writeFocusExport, type FocusExpected, type FocusOptions } from '../test/helpers/focus';
import { packageRoot } from '../agent/paths';
import { removeDir, tempDir } from './children';
import { memory } from './proc';

/** What the parsing child reports. */
interface ParseReport {
  rows: number;
  malformed: number;
  parseMs: number;
  /** The same query again: the file did not change, so the cache answers. */
  cachedMs: number;
  parses: number;
  days: number;
  total: number;
  /** RSS before reading (modules loaded), and the process's peak (getrusage maxrss). */
  rssBefore: number;
  maxRss: number;
}

export interface FocusParseRun {
  name: string;
  file: string;
  fileBytes: number;
  csvBytes: number;
  rows: number;
  parseMs: number;
  cachedMs: number;
  rowsPerS: number;
  mbPerS: number;
  rssBefore: number;
  /** Highest VmRSS sampled every 100 ms, and the process's own peak. */
  rssPeakSampled: number;
  maxRss: number;
  samples: number;
  /** VmRSS samples, MB, thinned to at most 12 for the table. */
  rssTrace: number[];
  totalOk: boolean;
  expectedTotal: number;
  total: number;
}

export interface FocusParseResult {
  targetBytes: number;
  generateMs: number;
  rows: number;
  nodeFlags: string[];
  runs: FocusParseRun[];
}

const GEN: FocusOptions = { seed: 2026, days: 90, granularity: 'hourly', commitment: { day: 30 }, corrections: [{ day: 45, service: 'Amazon Simple Storage Service', amount: -1200 }] };

/** Generates the export (plain and gzip), parses each in a child, samples its RSS. */
export async function benchFocusParse(opts: {
  targetBytes?: number;
  nodeFlags?: string[];
  /** The built focus source module the child loads (the bench's snapshot of dist/); default the one next to this file. */
  focusModule?: string;
  progress?: (s: string) => void;
} = {}): Promise<FocusParseResult> {
  const targetBytes = opts.targetBytes ?? 1024 ** 3;
  const nodeFlags = opts.nodeFlags ?? [];
  const say = opts.progress ?? (() => {});
  // Size the export: bytes per resource-day from a small sample, then enough resources for the target.
  const sample = focusExport({ ...GEN, days: 2, resources: 2, commitment: undefined, corrections: undefined });
  const perResourceDay = sample.bytes / 4;
  const resources = Math.max(1, Math.round(targetBytes / (perResourceDay * GEN.days!)));
  const gen = { ...GEN, resources };
  const dir = tempDir('focus');
  try {
    const plain = path.join(dir, 'focus-export.csv');
    const gz = path.join(dir, 'focus-export.csv.gz');
    say(`focus: generating about ${(targetBytes / 1e6).toFixed(0)} MB of FOCUS CSV (${resources} resources per service and account, hourly, 90 days)`);
    const t0 = performance.now();
    const exp = await writeFocusExport(plain, gen);
    const generateMs = performance.now() - t0;
    say(`focus: ${exp.rows} rows, ${(exp.bytes / 1e6).toFixed(0)} MB in ${(generateMs / 1000).toFixed(1)} s; gzip copy`);
    await writeFocusExport(gz, gen, { gzip: true });
    const runs: FocusParseRun[] = [];
    for (const [name, file] of [['plain CSV', plain], ['gzip', gz]] as const) {
      say(`focus: parsing the ${name} export`);
      runs.push(await parseInChild(name, file, exp, nodeFlags, opts.focusModule ?? path.join(__dirname, '..', 'checks', 'cost-sources', 'focus')));
    }
    return { targetBytes, generateMs, rows: exp.rows, nodeFlags, runs };
  } finally {
    removeDir(dir);
  }
}

async function parseInChild(name: string, file: string, exp: FocusExpected, nodeFlags: string[], focusModule: string): Promise<FocusParseRun> {
  const child = spawn(process.execPath, [...nodeFlags, __filename, 'parse', file, focusModule], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const trace: number[] = [];
  const timer = setInterval(() => {
    try {
      trace.push(memory(child.pid!).rss);
    } catch {
      // exited between two samples
    }
  }, 100);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearInterval(timer);
  if (code !== 0) throw new Error(`focus parse of ${file} exited ${code}: ${out}`);
  const r = JSON.parse(out.trim().split('\n').pop()!) as ParseReport;
  const expectedTotal = expectedDaily(exp, { groupBy: 'none', costColumn: 'effective' }).reduce((s, d) => s + d.amount, 0);
  const csvBytes = exp.bytes;
  const step = Math.max(1, Math.ceil(trace.length / 12));
  return {
    name, file: path.basename(file), fileBytes: fs.statSync(file).size, csvBytes, rows: r.rows, parseMs: r.parseMs, cachedMs: r.cachedMs,
    rowsPerS: r.rows / (r.parseMs / 1000), mbPerS: csvBytes / 1e6 / (r.parseMs / 1000), rssBefore: r.rssBefore,
    rssPeakSampled: Math.max(0, ...trace), maxRss: r.maxRss, samples: trace.length,
    rssTrace: trace.filter((_, i) => i % step === 0).map((b) => Math.round(b / 1e6)),
    totalOk: Math.abs(r.total - expectedTotal) < 0.005 && r.rows === exp.rows && r.malformed === 0,
    expectedTotal, total: r.total,
  };
}

/** The child: one query over the whole export through the focus source, then the same again (cached). */
async function parseChild(file: string, focusModule: string): Promise<void> {
  // The built module, as the agent loads it.
  const { focusSource, focusCacheStats } = require(focusModule) as typeof import('../checks/cost-sources/focus');
  const signal = new AbortController().signal;
  const query = { from: '2000-01-01', to: '2100-01-01', groupBy: 'service' as const, costColumn: 'effective' as const };
  const src = focusSource({ path: file });
  const rssBefore = process.memoryUsage.rss();
  let t = performance.now();
  const rows = await src.daily(query, signal);
  const parseMs = performance.now() - t;
  t = performance.now();
  await src.daily({ ...query, groupBy: 'account' }, signal);
  const cachedMs = performance.now() - t;
  const report: ParseReport = {
    rows: src.lastRead!.rows, malformed: src.lastRead!.malformed, parseMs, cachedMs, parses: focusCacheStats().parses,
    days: new Set(rows.map((r) => r.day)).size, total: rows.reduce((s, r) => s + r.amount, 0),
    rssBefore, maxRss: process.resourceUsage().maxRSS * 1024,
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;

/** Problems that make the figures invalid: totals that differ from the generator's. */
export function focusProblems(r: FocusParseResult | undefined): string[] {
  return (r?.runs ?? []).filter((x) => !x.totalOk).map((x) => `FOCUS ${x.name}: parsed total ${x.total.toFixed(2)} != generated ${x.expectedTotal.toFixed(2)}`);
}

/** The "FOCUS export parsing" section of RESULTS.md. */
export function renderFocusParse(r: FocusParseResult): string[] {
  const csv = r.runs[0]?.csvBytes ?? 0;
  return [
    '## FOCUS export parsing',
    '',
    `\`bench/focus-rss.ts\` writes a FOCUS 1.x export with \`test/helpers/focus.ts\` (${r.rows.toLocaleString('en')} hourly rows, 6 services × 3 accounts × many resources over 90 days, ` +
      `a Savings Plan purchase and its committed usage, a correction; ${mb(csv)} of CSV, streamed to a temp file, then a gzip copy), then parses each file in a fresh ` +
      `\`node ${r.nodeFlags.join(' ')}\` process through the \`focus\` cost source (one query: daily effective cost by service) while the bench samples that process's ` +
      'VmRSS from `/proc/PID/status` every 100 ms. "Before" is the RSS with the modules loaded; "peak" is the highest sample and the process\'s own maxrss. ' +
      'The same query by account follows, answered from the per-file cache (the file did not change). The parsed total must equal the generator\'s to the cent.',
    '',
    '| export | file size | rows | parse time | rows/s | CSV MB/s | RSS before | RSS peak (sampled / maxrss) | cached query | total matches |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...r.runs.map((x) =>
      `| ${x.name} | ${mb(x.fileBytes)} | ${x.rows.toLocaleString('en')} | ${(x.parseMs / 1000).toFixed(1)} s | ${Math.round(x.rowsPerS).toLocaleString('en')} | ${x.mbPerS.toFixed(1)} | ` +
        `${mb(x.rssBefore)} | ${mb(x.rssPeakSampled)} / ${mb(x.maxRss)} | ${x.cachedMs.toFixed(1)} ms | ${x.totalOk ? 'yes' : '**no**'} |`),
    '',
    `VmRSS while parsing, MB (sampled every 100 ms: ${r.runs.map((x) => `${x.samples} samples ${x.name}`).join(', ')}; at most 12 shown, evenly spaced):`,
    '',
    ...r.runs.map((x) => `- ${x.name}: ${x.rssTrace.join(', ')}`),
    '',
  ];
}

async function main(): Promise<void> {
  if (process.argv[2] === 'parse') return parseChild(process.argv[3], process.argv[4]);
  const raw = process.env.BENCH_FOCUS_MB;
  const targetBytes = raw ? Number(raw) * 1e6 : 1024 ** 3;
  const start = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')).scripts.start as string;
  const nodeFlags = start.split(' ').filter((w) => w.startsWith('--'));
  const r = await benchFocusParse({ targetBytes, nodeFlags, progress: (s) => process.stderr.write(`${s}\n`) });
  process.stdout.write(`${renderFocusParse(r).join('\n')}\n`);
  const problems = focusProblems(r);
  if (problems.length) {
    process.stderr.write(`${problems.join('\n')}\n`);
    process.exitCode = 1;
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`focus bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
