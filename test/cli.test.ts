import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { formatTable, selectChecks, worstStatus } from '../agent/cli';
import { formatColumns } from '../agent/cli-table';
import { Status } from '../agent/evaluate';
import { CLI, runCli, stopChild, tempDir } from './helpers/daemon';
import { checkConfig } from './helpers/fake-checks';
import { closedPort, startHttp, startTcp, type TestServer } from './helpers/servers';

let dir: ReturnType<typeof tempDir>;
let web: TestServer;
let tcp: TestServer;

beforeAll(async () => {
  dir = tempDir();
  web = await startHttp((_req, res) => res.writeHead(200).end('hello'));
  tcp = await startTcp((s) => s.end('SSH-2.0-test\r\n'));
});
afterAll(async () => {
  await web.close();
  await tcp.close();
  dir.cleanup();
});

function writeConfig(name: string, yaml: string): string {
  const f = path.join(dir.dir, name);
  fs.writeFileSync(f, yaml);
  return f;
}

describe('keepwatch validate', () => {
  test('exit 0 and a summary for a valid config', async () => {
    const f = writeConfig('ok.yaml', `checks:\n  - { name: web, type: http, url: "${web.url}/" }\n`);
    const r = await runCli(['validate', '--config', f]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${f}: ok (1 check)\n`);
  });

  test('exit 1 and every error as file:line:col: path: message', async () => {
    const f = writeConfig('bad.yaml', 'agent:\n  lisen: x\nchecks:\n  - name: web\n    type: htp\n  - { name: d, type: disk, warn: "usedPrecent > 80" }\n');
    const r = await runCli(['validate', '--config', f]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toEqual([
      `${f}:2:3: agent.lisen: unknown key "lisen"; did you mean "listen"? (valid: name, listen, dataDir, concurrency, logLevel, http)`,
      expect.stringMatching(new RegExp(`^${f}:5:11: checks\\[0\\]\\.type: unknown check type "htp"; did you mean "http"\\?`)),
      expect.stringMatching(new RegExp(`^${f}:6:35: checks\\[1\\]\\.warn: invalid condition: unknown field "usedPrecent"; did you mean "usedPercent"\\?`)),
    ]);
  });

  test('finds ./keepwatch.yaml, then $KEEPWATCH_CONFIG wins over it', async () => {
    writeConfig('keepwatch.yaml', 'checks: []\n');
    const local = await runCli(['validate'], { cwd: dir.dir, env: { KEEPWATCH_CONFIG: '' } });
    expect(local.stdout).toBe(`${path.join(dir.dir, 'keepwatch.yaml')}: ok (0 checks)\n`);
    const other = writeConfig('other.yaml', 'checks: [{ name: l, type: load }]\n');
    const viaEnv = await runCli(['validate'], { cwd: dir.dir, env: { KEEPWATCH_CONFIG: other } });
    expect(viaEnv.stdout).toBe(`${other}: ok (1 check)\n`);
    fs.rmSync(path.join(dir.dir, 'keepwatch.yaml'));
  });
});

describe('keepwatch check: table and Nagios exit codes', () => {
  let config: string;
  beforeAll(async () => {
    const closed = await closedPort();
    config = writeConfig('checks.yaml', [
      'checks:',
      `  - { name: web, type: http, url: "${web.url}/" }`,
      `  - { name: web-slowish, type: http, url: "${web.url}/", warn: "latencyMs >= 0" }`,
      `  - { name: ssh, type: tcp, port: ${tcp.port}, expect: "^SSH-2" }`,
      `  - { name: dead, type: tcp, port: ${closed} }`,
      '  - { name: gone, type: disk, mount: /no/such/mount }',
      '  - { name: data, type: disk }',
    ].join('\n'));
  });

  test('all ok → 0, with a table', async () => {
    const r = await runCli(['check', '--config', config, 'web', 'ssh']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^STATUS\s+CHECK\s+TYPE\s+TIME\s+MESSAGE$/);
    expect(lines[1]).toMatch(/^OK\s+web\s+http\s+\d+ms\s+200 OK in \d+ ms, 5 bytes$/);
    expect(lines[2]).toMatch(/^OK\s+ssh\s+tcp\s+/);
  });

  test('a warning → 1', async () => {
    expect((await runCli(['check', '--config', config, 'web', 'web-slowish'])).code).toBe(1);
  });

  test('a critical → 2, and critical outranks unknown', async () => {
    const r = await runCli(['check', '--config', config, 'dead', 'gone', 'web-slowish']);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/^CRITICAL\s+dead\s+tcp\s+\d+ms\s+.*ECONNREFUSED/m);
  });

  test('a check that cannot run → 3 (unknown)', async () => {
    const r = await runCli(['check', '--config', config, 'gone']);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/^UNKNOWN\s+gone\s+disk/m);
  });

  test('a name selects its expansions; an unknown name → 3 with the list', async () => {
    const r = await runCli(['check', '--config', config, 'data', '--json']);
    const results = JSON.parse(r.stdout);
    expect(results.map((x: { check: string }) => x.check)).toContain('data:/');
    const bad = await runCli(['check', '--config', config, 'nope']);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toMatch(/^no such check: nope \(checks: web, web-slowish, ssh, dead, gone, data:\//);
  });

  test('an invalid config → 3 with located errors', async () => {
    const f = writeConfig('broken.yaml', 'checks:\n  - { name: x, type: nope }\n');
    const r = await runCli(['check', '--config', f]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/broken\.yaml:2:22: checks\[0\]\.type: unknown check type "nope"/);
  });
});

describe('help', () => {
  test('--help lists every command accurately', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    for (const cmd of ['run', 'check \\[names..\\]', 'validate', 'schema']) expect(r.stdout).toMatch(new RegExp(`keepwatch ${cmd}\\s`));
  });

  test.each([
    ['run', ['--config', '--listen', '--log-level']],
    ['check', ['--config', '--json', 'names']],
    ['validate', ['--config']],
  ])('%s --help names its options', async (cmd, options) => {
    const r = await runCli([cmd, '--help']);
    expect(r.code).toBe(0);
    for (const o of options) expect(r.stdout).toContain(o);
  });

  test('no command, or an unknown option, is a usage error: exit 3 (UNKNOWN), never 1 (WARNING)', async () => {
    expect((await runCli([])).code).toBe(3);
    const r = await runCli(['validate', '--confg', 'x']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/Unknown argument: confg/);
  });

  test('an unknown KEEPWATCH_LOG_LEVEL is a clear usage error, not a stack trace', async () => {
    const f = writeConfig('lvl.yaml', 'checks: [{ name: l, type: load }]\n');
    const r = await runCli(['check', '--config', f], { env: { KEEPWATCH_LOG_LEVEL: 'verbose' } });
    expect(r.code).toBe(3);
    expect(r.stderr).toBe('KEEPWATCH_LOG_LEVEL: unknown level "verbose" (valid: trace, debug, info, warn, error, fatal, silent)\n');
  });

  test('schema prints the JSON Schema', async () => {
    const r = await runCli(['schema']);
    expect(JSON.parse(r.stdout).title).toBe('keepwatch configuration');
  });
});

describe('helpers', () => {
  test('worstStatus ranks critical over unknown over warning over ok', () => {
    expect(worstStatus([])).toBe(Status.Ok);
    expect(worstStatus([Status.Ok, Status.Warning])).toBe(Status.Warning);
    expect(worstStatus([Status.Warning, Status.Unknown])).toBe(Status.Unknown);
    expect(worstStatus([Status.Unknown, Status.Critical, Status.Warning])).toBe(Status.Critical);
  });

  test('selectChecks', () => {
    const run = async () => ({ values: {}, message: '' });
    const all = [checkConfig('disk:/', run), checkConfig('disk:/boot', run), checkConfig('diskette', run), checkConfig('off', run, { enabled: false })];
    expect(selectChecks(all, []).selected.map((c) => c.name)).toEqual(['disk:/', 'disk:/boot', 'diskette']);
    expect(selectChecks(all, ['disk']).selected.map((c) => c.name)).toEqual(['disk:/', 'disk:/boot']);
    expect(selectChecks(all, ['x']).unknown).toEqual(['x']);
  });

  test('formatTable aligns columns', () => {
    const t = formatTable([
      { check: 'a', type: 'http', status: Status.Ok, statusText: 'ok', up: true, message: 'm1', values: {}, startedAt: 0, durationMs: 5 },
      { check: 'longer', type: 'tcp', status: Status.Critical, statusText: 'critical', up: false, message: 'm2', values: {}, startedAt: 0, durationMs: 12.4 },
    ]);
    expect(t.split('\n')).toEqual([
      'STATUS    CHECK   TYPE  TIME  MESSAGE',
      'OK        a       http  5ms   m1',
      'CRITICAL  longer  tcp   12ms  m2',
    ]);
  });

  test.each([
    ['columns two spaces apart, the last one not padded', [['ID', 'STATE', 'SUMMARY'], ['1', 'acknowledged', 'down'], ['12', 'open', 'slow']], {}, ['ID  STATE         SUMMARY', '1   acknowledged  down', '12  open          slow']],
    ['a gap and an indent (incidents show)', [['summary:', 's'], ['resolved:', '-']], { gap: ' ', indent: '  ' }, ['  summary:  s', '  resolved: -']],
    ['one column', [['a'], ['bbb']], {}, ['a', 'bbb']],
    ['no rows', [], {}, ['']],
  ])('formatColumns: %s', (_name, rows, opts, lines) => {
    expect(formatColumns(rows, opts).split('\n')).toEqual(lines);
  });
});

describe('usage errors exit 3 (UNKNOWN)', () => {
  const emptyConfig = /--config needs a file name, and it was empty \(is the variable that should hold it unset\?\)/;
  test.each([
    ['validate --config "" (an unset variable)', ['validate', '--config', ''], emptyConfig],
    ['validate --config=', ['validate', '--config='], emptyConfig],
    ['validate --config with no value', ['validate', '--config'], emptyConfig],
    ['check --config ""', ['check', '--config', '', 'web'], emptyConfig],
    ['run --config ""', ['run', '--config', ''], emptyConfig],
    ['run --config with no value', ['run', '--listen', '127.0.0.1:0', '--config'], emptyConfig],
    ['--config twice', ['validate', '--config', 'a.yaml', '--config', 'b.yaml'], /--config is given 2 times; give one file/],
    ['run --listen that is no address', ['run', '--listen', 'nowhere:port'], /--listen: not a listen address: nowhere:port/],
    ['run --log-format xml', ['run', '--log-format', 'xml'], /Invalid values:\s+Argument: log-format, Given: "xml", Choices: "json", "pretty"/],
    ['incidents ack with a word for an id', ['incidents', 'ack', 'abc'], /incident ids are positive integers, not "abc"/],
    ['incidents show 0', ['incidents', 'show', '0'], /incident ids are positive integers, not "0"/],
    ['incidents resolve 1.5', ['incidents', 'resolve', '1.5'], /incident ids are positive integers, not "1.5"/],
    ['incidents show without an id', ['incidents', 'show'], /^incidents show needs an incident id\n$/],
    ['--url with no value', ['incidents', 'list', '--url', ''], /--url is empty/],
    ['--url of another scheme', ['incidents', 'list', '--url', 'ftp://agent:9470'], /--url "ftp:\/\/agent:9470": only http:\/\/ and https:\/\/ are supported/],
    ['silence without --check', ['silence', '--comment', 'x'], /^silence needs --check NAME/],
    ['silence without --comment', ['silence', '--check', 'web'], /^silence needs --comment saying why\n$/],
    ['silence --label without =', ['silence', '--check', 'web', '--comment', 'x', '--label', 'team'], /^--label team: expected name=value\n$/],
    ['silence delete without an id', ['silence', 'delete'], /^silence delete needs a silence id/],
  ])('%s', async (_name, args, message) => {
    // Nothing listens at this URL: a usage error must be found before any request.
    const r = await runCli(args, { cwd: dir.dir, env: { KEEPWATCH_URL: 'http://127.0.0.1:1', KEEPWATCH_CONFIG: '' } });
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/cannot reach|\n\s+at /);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
  });

  test('an unknown KEEPWATCH_LOG_FORMAT', async () => {
    const r = await runCli(['run', '--config', writeConfig('fmt.yaml', 'checks: [{ name: l, type: load }]\n')], { env: { KEEPWATCH_LOG_FORMAT: 'xml' } });
    expect(r).toEqual({ code: 3, stdout: '', stderr: 'KEEPWATCH_LOG_FORMAT: unknown format "xml" (valid: json, pretty)\n' });
  });
});

describe('a reader that stops reading ends the process quietly (keepwatch schema | head -1)', () => {
  /** Runs the CLI with its stdout's reading end closed before it writes a byte. */
  function runClosedStdout(args: string[]): Promise<{ code: number | null; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.destroy();
      let stderr = '';
      child.stderr.on('data', (c) => (stderr += c));
      child.on('close', (code) => resolve({ code, stderr }));
    });
  }

  test.each([
    ['schema', () => ['schema'], 0],
    ['--help', () => ['--help'], 0],
    ['validate', () => ['validate', '--config', writeConfig('pipe.yaml', `checks: [{ name: web, type: http, url: "${web.url}/" }]\n`)], 0],
    ['check (keeps its Nagios status)', () => ['check', '--config', writeConfig('pipe2.yaml', `checks: [{ name: web, type: http, url: "${web.url}/", warn: "latencyMs >= 0" }]\n`)], 1],
  ])('%s', async (_name, args, code) => {
    const r = await runClosedStdout(args());
    expect(r).toEqual({ code, stderr: '' });
  });
});

describe('--log-format', () => {
  test.each([
    ['--log-format pretty', ['--log-format', 'pretty'], {}],
    ['$KEEPWATCH_LOG_FORMAT=pretty', [], { KEEPWATCH_LOG_FORMAT: 'pretty' }],
  ])('%s: one readable line per record', async (_name, flags, env) => {
    const f = writeConfig('pretty.yaml', `agent: { listen: "127.0.0.1:0", dataDir: "${dir.dir}/pretty-data" }\nchecks: [{ name: web, type: http, url: "${web.url}/" }]\n`);
    const child = spawn(process.execPath, [CLI, 'run', '--config', f, ...flags], { env: { ...process.env, ...env } });
    try {
      let out = '';
      const line = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (c) => {
          out += c;
          const m = /^.*listening.*$/m.exec(out);
          if (m) resolve(m[0]);
        });
        child.on('exit', () => reject(new Error(`exited before listening: ${out}`)));
      });
      expect(line).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z INFO  listening address=127\.0\.0\.1:\d+ config=\S+pretty\.yaml version=\S+$/);
    } finally {
      await stopChild(child);
    }
  });
});
