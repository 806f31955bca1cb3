/**
 * Conditions evaluator: what judging a run costs with windowed conditions (windows, for:,
 * clear:) next to plain ones, on 1,000 checks, and the memory their histories take. In process,
 * no agent: each check has its own history, filled to steady state (its longest window of runs)
 * before the timed rounds; a round judges every check once (judge(): record the run in the
 * ring, evaluate every condition). Then the store's side: one flush of a sample per check in
 * one transaction, as the agent does every 10 s.
 *
 * `npm run bench` runs it with the rest; alone: `tsc -p tsconfig.bench.json && node
 * --expose-gc dist/bench/conditions.js` replaces the "Conditions evaluator" section of
 * bench/RESULTS.md (BENCH_OUT elsewhere).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FieldSpec, Value } from '../checks/types';
import { compileCondition } from '../agent/conditions/compile';
import { History } from '../agent/conditions/history';
import { historySpec, parseFor, withOptions } from '../agent/conditions/rules';
import type { Condition } from '../agent/conditions/types';
import { judge, type Rules } from '../agent/evaluate';
import { packageRoot } from '../agent/paths';
import { Store } from '../agent/store/store';

const FIELDS: Record<string, FieldSpec> = {
  latencyMs: { type: 'number', unit: 'ms', help: '' },
  status: { type: 'number', unit: 'none', help: '' },
  requests: { type: 'number', unit: 'count', help: '' },
  freeBytes: { type: 'number', unit: 'bytes', help: '' },
  usedPercent: { type: 'number', unit: 'percent', help: '' },
};

type Entry = string | { when: string; for?: string; clear?: string };

interface Profile {
  name: string;
  everyMs: number;
  warn: Entry[];
  crit: Entry[];
}

export const PROFILES: Profile[] = [
  { name: 'plain', everyMs: 30_000, warn: ['latencyMs > 300', 'usedPercent > 90'], crit: ['status != 200', 'latencyMs > 2s'] },
  {
    name: 'windows 5m–1h',
    everyMs: 30_000,
    warn: ['p95(latencyMs, 15m) > 800ms', { when: 'avg(latencyMs, 5m) > 300', for: '3 of 5' }],
    crit: ['ratio_over(status != 200, 1h) > 5%', 'rate(requests, 5m) > 100', { when: 'status != 200', for: '2m' }],
  },
  {
    name: 'predict 6h, hysteresis',
    everyMs: 60_000,
    warn: [{ when: 'usedPercent > 90', clear: 'usedPercent < 85' }],
    crit: ['predict(freeBytes, 6h, 24h) < 0'],
  },
];

export interface ProfileResult {
  name: string;
  conditions: string[];
  everyS: number;
  samplesPerCheck: number;
  series: number;
  /** Median over the rounds of (round time / checks), µs; and the slowest round's. */
  usPerRun: number;
  usPerRunMax: number;
  /** Bytes of the rings' arrays (their capacity), all checks. */
  ringBytes: number;
  /** heapUsed + arrayBuffers grown by making and filling the histories (with --expose-gc), all checks. */
  measuredBytes?: number;
}

export interface ConditionsBench {
  checks: number;
  rounds: number;
  profiles: ProfileResult[];
  /** One flush of one sample per windowed check, one transaction: median ms over the flushes. */
  flushMs: number;
  flushes: number;
  started: Date;
  gc: boolean;
}

function compileEntries(list: Entry[]): Condition[] {
  return list.map((e) => {
    if (typeof e === 'string') return compileCondition(e, FIELDS);
    const f = e.for === undefined ? undefined : parseFor(e.for);
    if (typeof f === 'string') throw new Error(f);
    return withOptions(compileCondition(e.when, FIELDS), { for: f, clear: e.clear === undefined ? undefined : compileCondition(e.clear, FIELDS) });
  });
}

/** A deterministic run of check `c` at step `i`: mostly healthy, a slow or failed run now and then. */
function values(c: number, i: number): Record<string, Value> {
  const x = Math.sin(c * 12.9898 + i * 78.233) * 43758.5453;
  const r = x - Math.floor(x);
  return {
    latencyMs: 50 + r * 400,
    status: r > 0.97 ? 503 : 200,
    requests: (c * 1000 + i * 37) % 100_000,
    freeBytes: 200e9 - i * 1e7 - r * 1e8,
    usedPercent: 80 + r * 15,
  };
}

function heap(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

function gc(): boolean {
  const g = (globalThis as { gc?: () => void }).gc;
  if (!g) return false;
  g();
  g();
  return true;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function benchProfile(p: Profile, checks: number, rounds: number): ProfileResult & { histories: History[] } {
  const rules: Rules = { warn: compileEntries(p.warn), crit: compileEntries(p.crit) };
  const spec = historySpec(rules);
  const hadGc = gc();
  const before = heap();
  const histories: Array<History | undefined> = [];
  for (let c = 0; c < checks; c++) histories.push(spec && new History(spec));
  // Steady state: the longest window (or the M of for:) of runs, and a few more.
  const fill = spec ? Math.max(Math.ceil(spec.keepMs / p.everyMs), spec.keepSamples) + 5 : 5;
  const t0 = Date.UTC(2026, 0, 1);
  for (let i = 0; i < fill; i++) {
    for (let c = 0; c < checks; c++) judge({ values: values(c, i), message: '' }, rules, { history: histories[c], now: t0 + i * p.everyMs });
  }
  const measuredBytes = hadGc && gc() ? heap() - before : undefined;
  const perRun: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const i = fill + r;
    const obs = Array.from({ length: checks }, (_, c) => ({ values: values(c, i), message: '' }));
    const start = process.hrtime.bigint();
    for (let c = 0; c < checks; c++) judge(obs[c], rules, { history: histories[c], now: t0 + i * p.everyMs });
    perRun.push(Number(process.hrtime.bigint() - start) / 1000 / checks);
  }
  const hs = histories.filter((h): h is History => h !== undefined);
  return {
    name: p.name,
    conditions: [...p.warn, ...p.crit].map((e) => (typeof e === 'string' ? e : `${e.when}${e.for ? ` for ${e.for}` : ''}${e.clear ? ` clear ${e.clear}` : ''}`)),
    everyS: p.everyMs / 1000,
    samplesPerCheck: hs[0]?.length ?? 0,
    series: spec?.series.length ?? 0,
    usPerRun: median(perRun),
    usPerRunMax: Math.max(...perRun),
    ringBytes: hs.reduce((n, h) => n + h.bytes, 0),
    measuredBytes,
    histories: hs,
  };
}

/** Runs every profile on `checks` checks, `rounds` timed rounds each, then the store flushes. */
export function benchConditions(opts: { checks?: number; rounds?: number; flushes?: number } = {}): ConditionsBench {
  const checks = opts.checks ?? 1000;
  const rounds = opts.rounds ?? 30;
  const flushes = opts.flushes ?? 10;
  const started = new Date();
  const profiles: ProfileResult[] = [];
  let windowed: History[] = [];
  for (const p of PROFILES) {
    const { histories, ...r } = benchProfile(p, checks, rounds);
    profiles.push(r);
    if (p.name.startsWith('windows')) windowed = histories;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keepwatch-bench-cond-'));
  const store = Store.open(dir);
  const times: number[] = [];
  try {
    for (let f = 0; f < flushes; f++) {
      const rows = windowed.map((h, c) => {
        const s = h.sample(h.length - 1);
        return { check: `check-${c}`, sample: { ...s, at: s.at + f } };
      });
      const start = process.hrtime.bigint();
      store.samples.add(rows);
      times.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
  } finally {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { checks, rounds, profiles, flushMs: median(times), flushes, started, gc: gc() };
}

const kib = (b: number) => (b >= 1024 * 1024 ? `${(b / 1024 / 1024).toFixed(1)} MiB` : `${(b / 1024).toFixed(1)} KiB`);

export const CONDITIONS_HEADING = '## Conditions evaluator';

/** The "Conditions evaluator" section of RESULTS.md. */
export function renderConditions(r: ConditionsBench, note = ''): string {
  const plain = r.profiles.find((p) => p.name === 'plain');
  const lines = [
    CONDITIONS_HEADING,
    '',
    `\`bench/conditions.ts\`: ${r.checks.toLocaleString('en')} checks judged in process (judge(): the run recorded in the check's history ring, every condition evaluated), each history first filled to steady state (its longest window of runs). Per-run cost is the median over ${r.rounds} rounds of (round time / ${r.checks.toLocaleString('en')}); "ring" is the bytes of the rings' arrays (capacity, not just the samples held), "measured" the growth of heapUsed + arrayBuffers from making and filling them${r.gc ? '' : ' (not measured: run with --expose-gc)'}. Run on ${r.started.toISOString().slice(0, 10)}, ${os.cpus().length} cores, Node ${process.version}.${note ? ` ${note}` : ''}`,
    '',
    '| conditions | every | samples/check | series | µs per run (median / slowest round) | vs plain | ring memory, all checks (per check) | measured |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const p of r.profiles) {
    lines.push(
      `| ${p.name}: ${p.conditions.map((c) => `\`${c}\``).join(', ')} | ${p.everyS} s | ${p.samplesPerCheck} | ${p.series} | ${p.usPerRun.toFixed(2)} / ${p.usPerRunMax.toFixed(2)} | ${plain ? `${(p.usPerRun / plain.usPerRun).toFixed(1)}×` : ''} | ${p.ringBytes ? `${kib(p.ringBytes)} (${kib(p.ringBytes / r.checks)})` : 'none'} | ${p.measuredBytes === undefined ? '—' : kib(Math.max(0, p.measuredBytes))} |`,
    );
  }
  const w = r.profiles.find((p) => p.name.startsWith('windows'));
  if (w) {
    const ms = (w.usPerRun * r.checks) / 1000;
    lines.push('', `At every ${w.everyS} s, ${r.checks.toLocaleString('en')} checks with the windowed conditions take ${ms.toFixed(1)} ms of CPU per interval to judge (${((ms / (w.everyS * 1000)) * 100).toFixed(3)}% of a core).`);
  }
  lines.push('', `Store: one flush of ${r.checks.toLocaleString('en')} samples (one per windowed check, one transaction, as the agent writes every 10 s): ${r.flushMs.toFixed(1)} ms (median of ${r.flushes}).`, '');
  return lines.join('\n');
}

/** Puts the section into RESULTS.md text: in place of the old one, else before the reliability suite, else at the end. */
export function spliceSection(previous: string, section: string): string {
  const at = previous.indexOf(`\n${CONDITIONS_HEADING}\n`);
  if (at >= 0) {
    const next = previous.indexOf('\n## ', at + CONDITIONS_HEADING.length + 1);
    return `${previous.slice(0, at + 1)}${section.trimEnd()}\n${next >= 0 ? `\n${previous.slice(next + 1)}` : ''}`;
  }
  const rel = previous.indexOf('\n## Reliability suite');
  if (rel >= 0) return `${previous.slice(0, rel + 1)}${section.trimEnd()}\n\n${previous.slice(rel + 1)}`;
  return `${previous.trimEnd()}\n\n${section}`;
}

if (require.main === module) {
  const out = process.env.BENCH_OUT || path.join(packageRoot(), 'bench', 'RESULTS.md');
  const r = benchConditions({ checks: Number(process.env.BENCH_CHECKS) || 1000 });
  const section = renderConditions(r, 'This section was run alone (`node --expose-gc dist/bench/conditions.js`); the next `npm run bench` writes it with the rest.');
  const previous = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '';
  fs.writeFileSync(out, spliceSection(previous, section));
  process.stdout.write(section);
}
