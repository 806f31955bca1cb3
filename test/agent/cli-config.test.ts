import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../agent/paths';
import { runCli, startDaemon, tempDir, type Daemon } from '../helpers/daemon';

jest.setTimeout(30_000);

let dir: ReturnType<typeof tempDir>;
let daemon: Daemon | undefined;
beforeAll(() => (dir = tempDir()));
afterEach(async () => {
  await daemon?.stop('SIGKILL');
  daemon = undefined;
});
afterAll(() => dir.cleanup());

function writeConfig(name: string, lines: string[]): string {
  const f = path.join(dir.dir, name);
  fs.writeFileSync(f, `${lines.join('\n')}\n`);
  return f;
}

/** The environment without the variables a test needs unset (jest's own may hold anything). */
function without(...names: string[]): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !names.includes(k)));
}

const NO_CHECKS = 'warning: no checks configured: the agent watches nothing, and a reload to a config without checks is refused';

describe('a config without checks is loud everywhere', () => {
  test('validate and check: exit 0 with a warning line on stderr', async () => {
    const file = writeConfig('empty.yaml', ['# nothing yet']);
    const v = await runCli(['validate', '--config', file]);
    expect(v).toMatchObject({ code: 0, stdout: `${file}: ok (0 checks)\n`, stderr: `${file}: ${NO_CHECKS}\n` });
    const c = await runCli(['check', '--config', file]);
    expect(c.code).toBe(0);
    expect(c.stderr).toBe(`${file}: ${NO_CHECKS}\n`);
  });

  test('validate --strict: the warning is an error, exit 1', async () => {
    const file = writeConfig('empty-strict.yaml', ['checks: []']);
    const v = await runCli(['validate', '--strict', '--config', file]);
    expect(v).toMatchObject({ code: 1, stdout: '', stderr: `${file}: ${NO_CHECKS.replace('warning: ', '')}\n` });
  });

  test('run: a plain line on stderr, and the warning in the log', async () => {
    const file = writeConfig('empty-run.yaml', [`agent: { listen: "127.0.0.1:0", dataDir: "${dir.dir}/empty-data" }`]);
    daemon = await startDaemon(['--config', file]);
    expect(daemon.logs).toContain(`${file}: ${NO_CHECKS}`);
    expect(await daemon.waitForLog(/"msg":"no checks configured/)).toContain('"level":"warn"');
  });
});

describe('an unset ${VAR}: validate warns (--strict refuses), run and check refuse', () => {
  let file: string;
  beforeAll(() => {
    file = writeConfig('secrets.yaml', [
      `agent: { listen: "127.0.0.1:0", dataDir: "${dir.dir}/secrets-data" }`,
      'checks:',
      '  - name: shop',
      '    type: http',
      '    url: "http://127.0.0.1:1/"',
      '    headers: { Authorization: "Bearer ${KW_TEST_SHOP_API_KEY}" }',
    ]);
  });
  const env = without('KW_TEST_SHOP_API_KEY');
  const where = () => `${file}:6:31: checks[0].headers.Authorization`;

  test('validate: exit 0, a warning naming the variable where it is used', async () => {
    const r = await runCli(['validate', '--config', file], { env });
    expect(r).toMatchObject({ code: 0, stdout: `${file}: ok (1 check)\n` });
    expect(r.stderr).toBe(`${file}:6:31: warning: checks[0].headers.Authorization: environment variable KW_TEST_SHOP_API_KEY is not set, so this value is not checked; run, check and a reload refuse the config without it (write \${KW_TEST_SHOP_API_KEY:-} to allow it to be empty)\n`);
  });

  test('validate --strict: exit 1, the warning as an error', async () => {
    const r = await runCli(['validate', '--strict', '--config', file], { env });
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toMatch(new RegExp(`^${where().replace(/[[\].]/g, '\\$&')}: environment variable KW_TEST_SHOP_API_KEY is not set`));
  });

  test('check: exit 3 with the located error; run: refuses to start', async () => {
    const error = `${where()}: environment variable KW_TEST_SHOP_API_KEY is not set (write \${KW_TEST_SHOP_API_KEY:-} to allow it to be empty)`;
    const c = await runCli(['check', '--config', file], { env });
    expect(c).toMatchObject({ code: 3, stdout: '', stderr: `${error}\n` });
    await expect(startDaemon(['--config', file], { env })).rejects.toThrow(error);
  });

  test('set, all of them are content', async () => {
    const set = { ...env, KW_TEST_SHOP_API_KEY: 'k' };
    expect(await runCli(['validate', '--strict', '--config', file], { env: set })).toMatchObject({ code: 0, stderr: '' });
  });

  test('config/example.yaml validates on a fresh clone, with a warning for SHOP_API_KEY', async () => {
    const example = path.join(packageRoot(), 'config', 'example.yaml');
    const r = await runCli(['validate', '--config', example], { env: without('SHOP_API_KEY', 'KEEPWATCH_TOKEN', 'KEEPWATCH_READ_TOKEN') });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/: ok \(\d+ checks\)\n$/);
    expect(r.stderr).toMatch(/^\S+example\.yaml:\d+:\d+: warning: checks\[\d+\]\.headers\.Authorization: environment variable SHOP_API_KEY is not set/);
  });
});

test('keepwatch check: two disk checks on one mount, run together, both answer', async () => {
  // The disk README's example: the second no longer reads "the last statfs has not returned yet".
  const file = writeConfig('disks.yaml', [
    'checks:',
    '  - { name: root-space, type: disk, mount: /, warn: "totalBytes < 0", crit: "totalBytes < 0" }',
    '  - { name: root-inodes, type: disk, mount: /, warn: "totalBytes < 0", crit: "totalBytes < 0" }',
  ]);
  const r = await runCli(['check', '--config', file, '--json']);
  expect(r.code).toBe(0);
  const results = JSON.parse(r.stdout) as Array<{ check: string; statusText: string; values: { totalBytes: number } }>;
  expect(results.map((x) => [x.check, x.statusText])).toEqual([['root-space', 'ok'], ['root-inodes', 'ok']]);
  expect(results[1].values.totalBytes).toBe(results[0].values.totalBytes);
});
