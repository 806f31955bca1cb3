import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { checkConfigFile, loadConfigText } from '../../agent/config/load';
import { ConfigError, formatProblem } from '../../agent/errors';
import { isLocated, mutate, seeds, STACK_RE } from '../helpers/config-corpus';
import { CLI, tempDir } from '../helpers/daemon';
import { rng } from '../helpers/rng';

/**
 * A fixed-seed corpus of mutated configs (the shipped ones and hand-written seeds, with lines
 * deleted, duplicated and swapped, values of every wrong type, random bytes, deep nesting,
 * huge values, bad units and conditions, aliases and alias bombs, tabs, truncation, too many
 * checks): the loader in-process over thousands of them, `keepwatch validate` as a child over
 * a few dozen. No hang, no stack trace, exit 0 or 1 only, and every refusal located.
 */

const SEED = 20_261_201;
const IN_PROCESS = 2500;
const CHILDREN = 36;
/** An item taking longer than this is a hang (the loader is synchronous: measured, not aborted). */
const SLOW_MS = 10_000;
const CHILD_TIMEOUT_MS = 20_000;

const ENV = { KEEPWATCH_TOKEN: 'corpus-token-0123456789', API_TOKEN: 'api-token-abcdef', SHOP_API_KEY: 'shop-key-123456', BACKUP_PUSH_TOKEN: 'backup-push-token-0123456789', HOME: '/root' };

let dir: ReturnType<typeof tempDir>;
beforeAll(() => {
  dir = tempDir();
  execFileSync('mkfifo', [path.join(dir.dir, 'fifo')]);
});
afterAll(() => dir.cleanup());

/** The corpus items, in a fixed order: each seed as it is, then mutations of random seeds. */
function corpus(n: number, seed: number): Array<{ text: string; how: string[] }> {
  const r = rng(seed);
  const base = seeds();
  const fifo = path.join(dir.dir, 'fifo');
  const items = base.map((text) => ({ text, how: ['seed as is'] }));
  while (items.length < n) {
    const item = mutate(r.pick(base), r);
    // A FIFO named in ${file:} must be refused, never waited on.
    if (r.next() < 0.02) item.text = `api: { token: "\${file:${fifo}}" }\n${item.text}`;
    items.push(item);
  }
  return items;
}

test('the loader in-process: every config loads or is refused with located problems; nothing throws anything else', () => {
  // The seeds themselves are valid, so mutations start from configs that reach every stage.
  for (const text of seeds()) expect(loadConfigText(text, 'seed.yaml', { env: ENV }).file).toBe('seed.yaml');
  const items = corpus(IN_PROCESS, SEED);
  let loaded = 0;
  let refused = 0;
  let problems = 0;
  let slowest = 0;
  const failures: string[] = [];
  const times: Array<[number, string]> = [];
  items.forEach((item, i) => {
    const file = `corpus-${i}.yaml`;
    const lines = item.text.split('\n').length;
    const t0 = performance.now();
    try {
      const config = loadConfigText(item.text, file, { env: ENV, requireChecks: i % 2 === 1 });
      loaded++;
      if (!Object.isFrozen(config) || !Object.isFrozen(config.checks)) failures.push(`${file} (${item.how}): loaded config not frozen`);
    } catch (err) {
      if (!(err instanceof ConfigError)) {
        const e = err as Error;
        if (process.env.CORPUS_DUMP) fs.writeFileSync(path.join(process.env.CORPUS_DUMP, file), item.text);
        failures.push(`${file} (${item.how.join(', ')}): threw ${e?.name}: ${String(e?.message).slice(0, 200)} ${(e?.stack ?? '').split('\n').slice(1, 4).join(' ').replace(/\s+/g, ' ')}`);
        return;
      }
      refused++;
      problems += err.problems.length;
      if (!err.problems.length) failures.push(`${file} (${item.how}): ConfigError without problems`);
      for (const p of err.problems) {
        const text = formatProblem(p);
        if (!isLocated(text, file) || p.line > lines + 1 || STACK_RE.test(p.message)) failures.push(`${file} (${item.how}): not located: ${text.slice(0, 300)}`);
      }
    } finally {
      const ms = performance.now() - t0;
      slowest = Math.max(slowest, ms);
      times.push([ms, `${file} (${item.how.join(', ')}, ${item.text.length} chars)`]);
      if (ms > SLOW_MS) failures.push(`${file} (${item.how}): took ${Math.round(ms)} ms`);
    }
  });
  console.log(`reliability: config-corpus in-process ${items.length} configs (seed ${SEED}): ${loaded} loaded, ${refused} refused with ${problems} located problems, ${failures.length} failures, slowest ${Math.round(slowest)} ms`);
  if (process.env.CORPUS_DEBUG) console.log(times.sort((a, b) => b[0] - a[0]).slice(0, 15).map(([ms, w]) => `${Math.round(ms)} ms ${w}`).join('\n'));
  expect(failures.slice(0, 10)).toEqual([]);
  expect(loaded + refused).toBe(items.length);
});

test('validate\'s loader with no environment: every unset ${VAR} a located warning, every config reported, nothing thrown', () => {
  // Every variable unset: its name stands in for its value, wherever the mutations put it.
  const items = corpus(IN_PROCESS / 5, SEED + 2);
  const failures: string[] = [];
  let warned = 0;
  items.forEach((item, i) => {
    const file = path.join(dir.dir, `lenient-${i}.yaml`);
    fs.writeFileSync(file, item.text);
    try {
      const report = checkConfigFile(file, { env: {} });
      if (report.warnings.length) warned++;
      for (const p of [...report.warnings, ...report.problems]) {
        const text = formatProblem(p);
        if (!isLocated(text, file) || STACK_RE.test(p.message)) failures.push(`${item.how.join(', ')}: not located: ${text.slice(0, 300)}`);
      }
    } catch (err) {
      failures.push(`${item.how.join(', ')}: threw ${(err as Error)?.name}: ${String((err as Error)?.message).slice(0, 200)}`);
    }
  });
  expect(failures.slice(0, 10)).toEqual([]);
  expect(warned).toBeGreaterThan(0);
});

/** Runs `keepwatch validate` on a file, killed after CHILD_TIMEOUT_MS (a hang). */
function validate(file: string): Promise<{ code: number | null; out: string; ms: number; hung: boolean }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [CLI, 'validate', '--config', file], { env: { ...process.env, ...ENV } });
    let out = '';
    let hung = false;
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    const timer = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, CHILD_TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, ms: performance.now() - t0, hung });
    });
  });
}

test('keepwatch validate as a child: exit 0 or 1, no stack trace, every refusal line located, no hang', async () => {
  // Mutations of their own seed, plus the nastiest files by hand.
  const items = corpus(CHILDREN, SEED + 1).slice(0, CHILDREN - 7);
  const files = items.map((item, i) => {
    const file = path.join(dir.dir, `child-${i}.yaml`);
    fs.writeFileSync(file, item.text);
    return { file, how: item.how.join(', ') };
  });
  const nasty = (name: string, text: string) => {
    const file = path.join(dir.dir, name);
    fs.writeFileSync(file, text);
    files.push({ file, how: name });
  };
  nasty('bomb.yaml', `a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n${Array.from({ length: 9 }, (_, i) => `l${i}: &l${i} [${Array(9).fill(i ? `*l${i - 1}` : '*a').join(', ')}]`).join('\n')}\n`);
  nasty('deep.yaml', `checks: ${'['.repeat(5000)}${']'.repeat(5000)}\n`);
  nasty('parser-stack.yaml', `checks:\n x:O - {name: m}\n${Array.from({ length: 5000 }, (_, i) => `  - {name: m${i}}`).join('\n')}\n---\nx: 1\n`);
  nasty('zero.yaml', 'api: { token: "${file:/dev/zero}" }\n');
  nasty('large.yaml', `# ${'x'.repeat(5 * 1024 * 1024)}\n`);
  files.push({ file: path.join(dir.dir, 'fifo'), how: 'the config is a FIFO' });
  files.push({ file: '/dev/zero', how: 'the config is /dev/zero' });

  const results: Array<{ file: string; how: string; code: number | null; out: string; ms: number; hung: boolean }> = [];
  const queue = [...files];
  await Promise.all(Array.from({ length: 3 }, async () => {
    for (let f = queue.shift(); f; f = queue.shift()) results.push({ ...f, ...(await validate(f.file)) });
  }));

  const failures: string[] = [];
  for (const r of results) {
    const lines = r.out.trim().split('\n').filter(Boolean);
    if (r.hung) failures.push(`${r.how}: hung (killed after ${CHILD_TIMEOUT_MS} ms)`);
    if (r.code !== 0 && r.code !== 1) failures.push(`${r.how}: exit ${r.code}`);
    if (STACK_RE.test(r.out)) failures.push(`${r.how}: stack trace: ${r.out.slice(0, 400)}`);
    if (r.code === 1 && !lines.every((l) => isLocated(l, r.file))) failures.push(`${r.how}: unlocated: ${lines.find((l) => !isLocated(l, r.file))?.slice(0, 300)}`);
    // Warnings do not fail validate: a config without checks, or an unset ${VAR} (located).
    const warning = (l: string) => l.startsWith(`${r.file}: warning: `) || (isLocated(l, r.file) && /^:\d+:\d+: warning: /.test(l.slice(r.file.length)));
    if (r.code === 0 && !lines.every((l) => l.startsWith(`${r.file}: ok (`) || warning(l))) failures.push(`${r.how}: exit 0 but said ${r.out.slice(0, 300)}`);
  }
  const refused = results.filter((r) => r.code === 1).length;
  const slowest = Math.max(...results.map((r) => r.ms));
  const codes = [...new Set(results.map((r) => r.code))].sort().join('/');
  console.log(`reliability: config-corpus keepwatch validate ${results.length} files: ${results.length - refused} ok, ${refused} refused, exit codes ${codes}, ${failures.length} failures, slowest ${Math.round(slowest)} ms`);
  expect(failures).toEqual([]);
  expect(results).toHaveLength(CHILDREN);
});
