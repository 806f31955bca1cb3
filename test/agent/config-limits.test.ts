import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CHECKS_MAX, loadConfigFile, loadConfigFileAsync, loadConfigText } from '../../agent/config/load';
import { CONFIG_MAX_BYTES, FILE_REF_MAX_BYTES } from '../../agent/config/read';
import { ALIAS_NODES_MAX } from '../../agent/config/yaml';
import { ConfigError, formatProblem } from '../../agent/errors';
import { runCli, tempDir } from '../helpers/daemon';

function problems(run: () => unknown): string[] {
  try {
    run();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map(formatProblem);
    throw err;
  }
  throw new Error('expected the config to be refused');
}

async function problemsAsync(run: () => Promise<unknown>): Promise<string[]> {
  try {
    await run();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map(formatProblem);
    throw err;
  }
  throw new Error('expected the config to be refused');
}

const text = (yaml: string, opts = {}) => problems(() => loadConfigText(yaml, 'kw.yaml', { env: {}, ...opts }));

/** Nine lols, nine of those, …: 9^levels strings once expanded. */
function aliasBomb(levels: number): string {
  const lines = ['checks:', '  - name: lol', '    type: load', '    labels:', '      a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  let prev = 'a';
  for (let i = 0; i < levels; i++) {
    const name = `l${i}`;
    lines.push(`      ${name}: &${name} [${Array(9).fill(`*${prev}`).join(', ')}]`);
    prev = name;
  }
  return lines.join('\n') + '\n';
}

let dir: ReturnType<typeof tempDir>;
beforeAll(() => {
  dir = tempDir();
});
afterAll(() => dir.cleanup());

describe('only regular files, of bounded size, are read', () => {
  let fifo: string;
  beforeAll(() => {
    fifo = path.join(dir.dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
  });

  test.each([
    ['a FIFO (reading it would wait for a writer forever)', () => fifo, 'not a regular file (a FIFO)'],
    ['a device with no end (/dev/zero)', () => '/dev/zero', 'not a regular file (a character device)'],
    ['a directory', () => dir.dir, 'not a regular file (a directory)'],
  ])('${file:} naming %s is a located error', async (_what, target, why) => {
    const yaml = `agent: { name: x }\napi: { token: "\${file:${target()}}" }\n`;
    const expected = [`kw.yaml:2:15: api.token: \${file:${target()}}: cannot read ${target()}: ${why}`];
    expect(text(yaml)).toEqual(expected);
    const file = path.join(dir.dir, 'ref.yaml');
    fs.writeFileSync(file, yaml);
    const located = expected.map((p) => p.replace('kw.yaml', file));
    expect(problems(() => loadConfigFile(file, { env: {} }))).toEqual(located);
    expect(await problemsAsync(() => loadConfigFileAsync(file, { env: {} }))).toEqual(located);
  });

  test.each([
    ['a FIFO', () => fifo, 'not a regular file (a FIFO)'],
    ['/dev/zero', () => '/dev/zero', 'not a regular file (a character device)'],
    ['a directory', () => dir.dir, 'not a regular file (a directory)'],
  ])('the config path being %s is a located error, sync and async', async (_what, target, why) => {
    const expected = [`${target()}:1:1: cannot read config: ${why}`];
    expect(problems(() => loadConfigFile(target()))).toEqual(expected);
    expect(await problemsAsync(() => loadConfigFileAsync(target()))).toEqual(expected);
  });

  test('a ${file:} over 1 MiB and a config over 4 MiB are refused, saying the limit', async () => {
    const big = path.join(dir.dir, 'big-secret');
    fs.writeFileSync(big, Buffer.alloc(FILE_REF_MAX_BYTES + 1, 'a'));
    expect(text(`api: { token: "\${file:${big}}" }`)).toEqual([`kw.yaml:1:15: api.token: \${file:${big}}: cannot read ${big}: larger than the 1 MiB limit (1048577 bytes)`]);
    fs.writeFileSync(big, Buffer.alloc(FILE_REF_MAX_BYTES, 'a'));
    expect(loadConfigText(`api: { token: "\${file:${big}}" }`, 'kw.yaml', { env: {} }).api.token).toHaveLength(FILE_REF_MAX_BYTES);

    const huge = path.join(dir.dir, 'huge.yaml');
    fs.writeFileSync(huge, `# ${'x'.repeat(CONFIG_MAX_BYTES)}\n`);
    expect(problems(() => loadConfigFile(huge))).toEqual([`${huge}:1:1: cannot read config: larger than the 4 MiB limit (4194307 bytes)`]);
    expect(await problemsAsync(() => loadConfigFileAsync(huge))).toEqual([`${huge}:1:1: cannot read config: larger than the 4 MiB limit (4194307 bytes)`]);
    expect(text(`# ${'x'.repeat(CONFIG_MAX_BYTES)}\n`)).toEqual(['kw.yaml:1:1: config larger than the 4 MiB limit (4194307 bytes)']);
  });

  test('one file named in many places is read once, and interpolation as a whole is bounded', () => {
    const secret = path.join(dir.dir, 'mib');
    fs.writeFileSync(secret, Buffer.alloc(FILE_REF_MAX_BYTES - 1, 'b'));
    const checks = Array.from({ length: 20 }, (_, i) => `  - { name: c${i}, type: load, description: "\${file:${secret}}" }`);
    const got = text(`checks:\n${checks.join('\n')}\n`);
    expect(got).toEqual([expect.stringMatching(/^kw\.yaml:18:\d+: checks\[16\]\.description: interpolation adds more than 16777216 characters to the config; refused$/)]);
  });

  test('the async loader reads off the event loop: other callbacks run while it reads', async () => {
    const file = path.join(dir.dir, 'async.yaml');
    const secret = path.join(dir.dir, 'token');
    fs.writeFileSync(secret, 'tok-123456789\n');
    fs.writeFileSync(file, `api: { token: "\${file:${secret}}" }\nchecks: [{ name: l, type: load }]\n`);
    let ticked = false;
    setImmediate(() => (ticked = true));
    const config = await loadConfigFileAsync(file, { env: {} });
    expect(ticked).toBe(true);
    expect(config.api.token).toBe('tok-123456789');
    expect(config.secrets).toContain('tok-123456789');
    // The synchronous loader (start, validate) holds the loop until it is done.
    ticked = false;
    setImmediate(() => (ticked = true));
    loadConfigFile(file, { env: {} });
    expect(ticked).toBe(false);
  });
});

describe('YAML aliases', () => {
  test('an alias bomb is refused where the expansion passes the limit, without expanding it', () => {
    const got = text(aliasBomb(9));
    expect(got).toEqual([`kw.yaml:10:16: checks[0].labels.l4[0]: aliases expand to more than ${ALIAS_NODES_MAX} nodes (an alias bomb?); refused`]);
  });

  test('a few levels of aliases, and hundreds of checks sharing one anchor, load', () => {
    expect(() => loadConfigText(aliasBomb(2), 'kw.yaml', { env: {} })).toThrow(/labels\.a: expected string, got a list/);
    const checks = Array.from({ length: 500 }, (_, i) => `  - { name: c${i}, type: load, labels: ${i ? '*common' : '&common { team: ops }'} }`);
    const config = loadConfigText(`checks:\n${checks.join('\n')}\n`, 'kw.yaml', { env: {} });
    expect(config.checks).toHaveLength(500);
    expect(config.checks[499].labels).toEqual({ team: 'ops' });
  });

  test('an alias before its anchor, a dangling alias and a cycle are located errors', () => {
    expect(text('agent: { name: *n }\n')).toEqual(['kw.yaml:1:16: agent.name: alias *n has no anchor &n before it']);
    expect(text('agent: { name: *n, dataDir: &n /tmp }\n')).toEqual(['kw.yaml:1:16: agent.name: alias *n has no anchor &n before it']);
    expect(text('checks: &c\n  - *c\n')).toEqual(['kw.yaml:2:5: checks[0]: alias *c is inside the node it names (a cycle)']);
  });

  test('an alias to an interpolated value takes the value once (an escaped $${ stays literal)', () => {
    const c = loadConfigText('agent: { name: &n "$${HOME}-${ZONE}", dataDir: *n }\n', 'kw.yaml', { env: { ZONE: 'eu' } });
    expect(c.agent.name).toBe('${HOME}-eu');
    expect(c.agent.dataDir).toBe('${HOME}-eu');
  });
});

describe('large configs', () => {
  test('a check with 20,000 labels loads (duplicate keys are found without comparing every pair)', () => {
    const labels = Array.from({ length: 20_000 }, (_, i) => `      l${i}: v${i}`);
    const config = loadConfigText(`checks:\n  - name: c\n    type: load\n    labels:\n${labels.join('\n')}\n`, 'kw.yaml', { env: {} });
    expect(Object.keys(config.checks[0].labels)).toHaveLength(20_000);
    labels.push('      l17: again');
    expect(text(`checks:\n  - name: c\n    type: load\n    labels:\n${labels.join('\n')}\n`)).toEqual([
      'kw.yaml:20005:7: checks[0].labels.l17: duplicate key (first set on line 22)',
    ]);
  });

  test('10,000 checks with dependencies load; more than the cap are refused at the list, before validation', () => {
    const entry = (i: number) => `  - { name: c${i}, type: tcp, port: 1, dependsOn: [c${(i + 1) % 10_000}] }`;
    const config = loadConfigText(`checks:\n${Array.from({ length: 10_000 }, (_, i) => entry(i)).join('\n')}\n`, 'kw.yaml', { env: {} });
    expect(config.checks).toHaveLength(10_000);
    expect(config.checks[9_999].dependsOn).toEqual(['c0']);
    const many = Array.from({ length: CHECKS_MAX + 1 }, (_, i) => `- {name: c${i}, type: nope}`);
    expect(text(`checks:\n${many.join('\n')}\n`)).toEqual([`kw.yaml:2:1: checks: ${CHECKS_MAX + 1} checks: more than the ${CHECKS_MAX} one agent takes (split them over several agents)`]);
  });

  test('megabytes of one-line checks far past the cap are refused by a scan of the text, at the key past the limit, without parsing', () => {
    const many = Array.from({ length: 2 * CHECKS_MAX + 5 }, (_, i) => `  - {name: c${i}, type: load}`);
    // Unparseable past the flood: a parse would report it; the scan stops first.
    expect(text(`checks:\n${many.join('\n')}\n  - {broken\n`)).toEqual([
      `kw.yaml:${2 * CHECKS_MAX + 2}:20: checks: more than ${2 * CHECKS_MAX} "type:" keys: far more checks than the ${CHECKS_MAX} one agent takes (split them over several agents)`,
    ]);
  });
});

describe('what the mutated-config corpus found', () => {
  test('input that overflows the YAML parser\'s stack is a problem at the start of the file, not a RangeError', () => {
    const lines = Array.from({ length: 5000 }, (_, i) => `  - {name: m${i}}`);
    expect(text(`checks:\n x:O - {name: m}\n${lines.join('\n')}\n---\nx: 1\n`)).toEqual([
      'kw.yaml:1:1: the YAML is nested too deeply, or broken in a way its parser cannot recover from',
    ]);
  });

  test('a list or mapping as a key is refused where it stands (the library would only warn on stderr)', () => {
    expect(text('agent:\n  ? [complex, key]\n  : value\n')).toEqual(['kw.yaml:2:5: agent: a key must be a plain value, not a list or mapping']);
    expect(text('agent: { name: &k [a] }\napi:\n  ? *k\n  : value\n')).toEqual(['kw.yaml:3:5: api: a key must be a plain value, not an alias of a list or mapping']);
  });

  test('a 50,000-character value is reported quickly and briefly: no suggestion search, the message cut', () => {
    const got = text(`defaults: { coverage: "${'x'.repeat(50_000)}" }\n`);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatch(/^kw\.yaml:1:23: defaults\.coverage: unknown coverage timeframe "x{900,}… \(\d+ characters\)$/);
    expect(got[0].length).toBeLessThan(1200);
  });

  test('10,000 unknown dependencies among 10,000 checks: every one reported, without a suggestion search over all names', () => {
    const checks = Array.from({ length: 10_000 }, (_, i) => `  - { name: c${i}, type: tcp, port: 1, dependsOn: [c${i}x] }`);
    const got = text(`checks:\n${checks.join('\n')}\n`);
    expect(got).toHaveLength(10_000);
    expect(got[9_999]).toBe('kw.yaml:10001:52: checks[9999].dependsOn[0]: unknown check "c9999x"');
  });
});

describe('a config without checks', () => {
  test.each([
    ['an empty file', ''],
    ['comments only', '# all checks moved elsewhere\n'],
    ['no checks key', 'agent: { name: web-01 }\napi: { token: t }\n'],
  ])('%s loads, but is refused when checks are required (a reload), at the start of the file', (_what, yaml) => {
    expect(loadConfigText(yaml, 'kw.yaml', { env: {} }).checks).toEqual([]);
    expect(text(yaml, { requireChecks: true })).toEqual([
      'kw.yaml:1:1: checks: no checks: a reload to a config without checks is refused, as it would stop all monitoring (restart the agent to run one without checks)',
    ]);
  });

  test('an empty checks list is refused where it stands; a list of disabled checks is a choice and loads', () => {
    expect(text('agent: { name: web-01 }\nchecks: []\n', { requireChecks: true })).toEqual([
      'kw.yaml:2:9: checks: no checks: a reload to a config without checks is refused, as it would stop all monitoring (restart the agent to run one without checks)',
    ]);
    expect(loadConfigText('checks: [{ name: l, type: load, enabled: false }]\n', 'kw.yaml', { env: {}, requireChecks: true }).checks).toHaveLength(1);
  });
});

describe('keepwatch validate', () => {
  test('an alias bomb: exit 1, one located line, no stack trace', async () => {
    const file = path.join(dir.dir, 'bomb.yaml');
    fs.writeFileSync(file, aliasBomb(9));
    const r = await runCli(['validate', '--config', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`${file}:10:16: checks[0].labels.l4[0]: aliases expand to more than ${ALIAS_NODES_MAX} nodes (an alias bomb?); refused\n`);
  });

  test('a config without checks: exit 0, with a warning that a reload to it is refused', async () => {
    const file = path.join(dir.dir, 'empty.yaml');
    fs.writeFileSync(file, '# nothing yet\n');
    const r = await runCli(['validate', '--config', file]);
    expect(r).toMatchObject({ code: 0, stdout: `${file}: ok (0 checks)\n` });
    expect(r.stderr).toBe(`${file}: warning: no checks configured: the agent watches nothing, and a reload to a config without checks is refused\n`);
  });

  test('/dev/zero as the config: exit 1 at once, located', async () => {
    const r = await runCli(['validate', '--config', '/dev/zero']);
    expect(r).toMatchObject({ code: 1, stdout: '', stderr: '/dev/zero:1:1: cannot read config: not a regular file (a character device)\n' });
  });
});
