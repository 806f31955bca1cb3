import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { removeDir, tempDir } from './children';

/** One `keepwatch validate` of a generated config. */
export interface ConfigRun {
  wallMs: number;
  /** Peak resident memory of the validating process. */
  maxRss: number;
  code: number | null;
  /** First line of its output. */
  said: string;
}

/** A generated config and what `keepwatch validate` should make of it. */
export interface ConfigCase {
  name: string;
  bytes: number;
  expect: 'ok' | 'refused';
  /** Median wall time the issue asks for, in ms. */
  targetMs: number;
  runs: ConfigRun[];
}

/** `n` checks as people write them: http with conditions and labels, tcp, disk; block style. */
export function manyChecks(n: number): string {
  const out = ['agent: { listen: "127.0.0.1:0", concurrency: 64 }', 'defaults: { every: 1m, timeout: 10s }', 'checks:'];
  for (let i = 0; i < n; i++) {
    const team = `team${i % 12}`;
    if (i % 3 === 0) {
      out.push(`  - name: web-${i}`, '    type: http', `    url: "https://svc-${i}.internal.example/healthz"`, '    warn: "latencyMs > 300"',
        '    crit: ["status != 200", "latencyMs > 2s"]', `    labels: { team: ${team}, tier: "${i % 4}" }`);
    } else if (i % 3 === 1) {
      out.push(`  - { name: db-${i}, type: tcp, host: db-${i}.internal.example, port: 5432, every: 30s, labels: { team: ${team} } }`);
    } else {
      out.push(`  - { name: disk-${i}, type: disk, mount: /srv/${i}, warn: "usedPercent > 80%", crit: "usedPercent > 90%" }`);
    }
  }
  return out.join('\n') + '\n';
}

function oneLiners(maxBytes: number): string {
  let out = 'checks:\n';
  for (let i = 0; ; i++) {
    const line = `- {name: c${i}, type: tcp, port: 1}\n`;
    if (out.length + line.length > maxBytes) return out;
    out += line;
  }
}

function manyLabels(n: number): string {
  const out = ['checks:', '  - name: labelled', '    type: load', '    labels:'];
  for (let i = 0; i < n; i++) out.push(`      label_${i}: value-${i}`);
  return out.join('\n') + '\n';
}

/**
 * Runs `keepwatch validate` (the built CLI, with the shipped Node flags) `runs` times on each
 * generated config: 10,000 checks, one check with 20,000 labels (the issue's quadratic cases),
 * 196,000 checks, which must be refused at once rather than taking minutes and gigabytes, and
 * the worst case under the size limit: 4 MiB of one-line checks, refused by the check cap.
 */
export function benchConfigLoad(cli: string, nodeFlags: string[], runs: number): ConfigCase[] {
  const dir = tempDir('config');
  const cases: Array<Omit<ConfigCase, 'runs' | 'bytes'> & { text: string }> = [
    { name: 'validate 10,000 checks', text: manyChecks(10_000), expect: 'ok', targetMs: 5000 },
    { name: 'validate 1 check with 20,000 labels', text: manyLabels(20_000), expect: 'ok', targetMs: 5000 },
    { name: 'refuse 196,000 checks', text: manyChecks(196_000), expect: 'refused', targetMs: 2000 },
    // The worst a file under the size limit can do: parsed in full, then refused by the check cap.
    { name: 'refuse 4 MiB of one-line checks', text: oneLiners(4 * 1024 * 1024), expect: 'refused', targetMs: 10_000 },
  ];
  // `require.main` is not the CLI here, so it does not parse argv itself; the exit hook reports
  // the peak RSS however the command ends (validate exits 1 on a refusal).
  const script = `process.on('exit', () => process.stderr.write('\\nmaxrss ' + process.resourceUsage().maxRSS + '\\n'));
    require(${JSON.stringify(cli)}).buildCli(process.argv.slice(1)).parseAsync();`;
  try {
    return cases.map((c, i) => {
      const file = path.join(dir, `config-${i}.yaml`);
      fs.writeFileSync(file, c.text);
      const out: ConfigCase = { name: c.name, bytes: Buffer.byteLength(c.text), expect: c.expect, targetMs: c.targetMs, runs: [] };
      for (let r = 0; r < runs; r++) {
        const t0 = performance.now();
        const res = spawnSync(process.execPath, [...nodeFlags, '-e', script, 'validate', '--config', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
        const wallMs = performance.now() - t0;
        const rss = /^maxrss (\d+)$/m.exec(res.stderr);
        const said = `${res.stdout}${res.stderr}`.split('\n').find((l) => l.trim()) ?? '';
        out.runs.push({ wallMs, maxRss: rss ? Number(rss[1]) * 1024 : NaN, code: res.status, said: said.replace(file, '<file>') });
      }
      return out;
    });
  } finally {
    removeDir(dir);
  }
}

/** Problems that make the figures invalid: a config validated when it should be refused, or the reverse. */
export function configProblems(cases: ConfigCase[]): string[] {
  return cases.flatMap((c) =>
    c.runs
      .filter((r) => r.code !== (c.expect === 'ok' ? 0 : 1))
      .map((r) => `${c.name}: exit ${r.code} (${r.said}), expected ${c.expect === 'ok' ? '0' : '1'}`),
  );
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

/** The method paragraph, the rows of the results table and the per-run table, for RESULTS.md. */
export function renderConfigLoad(cases: ConfigCase[]): { method: string; rows: string[]; perRun: string[] } {
  const method =
    '**Config load**: `keepwatch validate --config FILE` (the built CLI with the shipped Node flags, Node start-up included) on generated configs: ' +
    `${cases.map((c) => `${c.name} (${mb(c.bytes)})`).join(', ')}. Wall time from spawn to exit in the bench process; peak RSS from the process's own \`resourceUsage().maxRSS\` at exit. ` +
    'The 196,000-check file is over the 4 MiB config limit and must be refused without being parsed; the 4 MiB file of one-line checks is parsed, then refused by the 20,000-check cap.';
  const rows = cases.map((c) => {
    const wall = median(c.runs.map((r) => r.wallMs));
    const rss = median(c.runs.map((r) => r.maxRss));
    return `| Config: ${c.name}, wall (peak RSS ${mb(rss)}) | ${secs(wall)} | ${c.runs.map((r) => secs(r.wallMs)).join(', ')} | < ${secs(c.targetMs)}, ${c.expect} | ${wall < c.targetMs && !configProblems([c]).length ? 'yes' : '**no**'} |`;
  });
  const perRun = ['### Config load', '', '| case | run | exit | wall | peak RSS | first line of output |', '|---|---|---|---|---|---|'];
  for (const c of cases) c.runs.forEach((r, i) => perRun.push(`| ${c.name} | ${i + 1} | ${r.code} | ${secs(r.wallMs)} | ${mb(r.maxRss)} | ${r.said.replace(/\|/g, '\\|').slice(0, 160)} |`));
  return { method, rows, perRun };
}
