import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfigText } from '../../agent/config/load';
import { ConfigError, formatProblem } from '../../agent/errors';
import { judge, Status } from '../../agent/evaluate';
import { execCheck, MAX_PERF_VALUES, MAX_STDOUT_BYTES, parsePerfdata, parsePluginOutput, perfValues, pluginEnv, runPlugin, toUnit, valueName } from '../../checks/exec';
import type { Observation } from '../../checks/types';
import { fieldsOf, runCheck, startRun } from '../helpers/check';

const PLUGINS = '/usr/lib/nagios/plugins';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'kw-exec-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Writes an executable /bin/sh script into the test's directory and returns its path. */
function script(name: string, body: string, mode = 0o755): string {
  const file = path.join(dir, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, mode);
  return file;
}

/** The run's error message, or fails the test when the run did not throw. */
async function runError(raw: Record<string, unknown>, timeoutMs?: number): Promise<string> {
  try {
    await runCheck(execCheck, raw, { timeoutMs });
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('the run did not throw');
}

/** Whether a process is gone: no such pid, or a zombie that nothing will run again. */
function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/** Waits (up to 10s, polling) for a killed process to be gone. */
async function waitGone(pid: number): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    if (isGone(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return isGone(pid);
}

/** Status the check's default thresholds give an observation. */
function statusOf(obs: Observation, raw: Record<string, unknown> = { command: ['/bin/true'] }): Status {
  const config = loadConfigText(`checks:\n  - name: p\n    type: exec\n    command: ${JSON.stringify((raw.command as string[]) ?? ['/bin/true'])}\n`, 'kw.yaml', { env: {} });
  return judge(obs, config.checks[0].rules).status;
}

describe('perfdata parser', () => {
  it.each([
    ['plain number', 'users=3', [{ label: 'users', value: 3, uom: '' }]],
    ['all fields', "time=0.025s;1;2;0;10", [{ label: 'time', value: 0.025, uom: 's', warn: '1', crit: '2', min: 0, max: 10 }]],
    ['trailing semicolons', 'load1=0.880;1000.000;2000.000;0; load5=0.760;;;;', [
      { label: 'load1', value: 0.88, uom: '', warn: '1000.000', crit: '2000.000', min: 0 },
      { label: 'load5', value: 0.76, uom: '' },
    ]],
    ['ranges kept as written', 'x=5;@10:20;~:30', [{ label: 'x', value: 5, uom: '', warn: '@10:20', crit: '~:30' }]],
    ['quoted label with spaces', "'time to connect'=12ms;;;", [{ label: 'time to connect', value: 12, uom: 'ms' }]],
    ['quoted label with an escaped quote and =', "'it''s = odd'=1", [{ label: "it's = odd", value: 1, uom: '' }]],
    ['path label', '/=23935844352B;267847005634;267847005634;0;270552530944', [
      { label: '/', value: 23935844352, uom: 'B', warn: '267847005634', crit: '267847005634', min: 0, max: 270552530944 },
    ]],
    ['negative and exponent', 'temp=-3.5 big=1.5e3', [{ label: 'temp', value: -3.5, uom: '' }, { label: 'big', value: 1500, uom: '' }]],
    ['decimal comma', 'rta=0,5ms', [{ label: 'rta', value: 0.5, uom: 'ms' }]],
    ['undetermined value', 'x=U;1;2', [{ label: 'x', value: undefined, uom: '', warn: '1', crit: '2' }]],
    ['tabs and repeated spaces', 'a=1\t  b=2c', [{ label: 'a', value: 1, uom: '' }, { label: 'b', value: 2, uom: 'c' }]],
    ['empty', '   ', []],
  ])('%s', (_, text, expected) => {
    expect(parsePerfdata(text).data).toEqual(expected);
  });

  it.each([
    ['no = sign', 'garbage a=1', ['garbage'], ['a']],
    ['non-numeric value', 'a=abc b=2', ['a=abc'], ['b']],
    ['empty value', 'a= b=2', ['a='], ['b']],
    ['empty label', '=5 b=2', ['=5'], ['b']],
    ['unterminated quote', "'open=1 b=2", ["'open=1"], ['b']],
    ['value with junk after the unit', 'a=5ms% b=1', [], ['a', 'b']],
    ['junk unit characters', 'a=5m/s b=1', ['a=5m/s'], ['b']],
    ['only pipes and semicolons', ';;; | ;', [';;;', '|', ';'], []],
  ])('does not crash on malformed perfdata: %s', (_, text, malformed, labels) => {
    const r = parsePerfdata(text);
    expect(r.malformed).toEqual(malformed);
    expect(r.data.map((d) => d.label)).toEqual(labels);
  });

  it.each([
    ['', 5, 5, 'none'],
    ['s', 1.5, 1500, 'ms'],
    ['s', 0.123, 123, 'ms'],
    ['ms', 12, 12, 'ms'],
    ['us', 250, 0.25, 'ms'],
    ['%', 78, 78, 'percent'],
    ['B', 512, 512, 'bytes'],
    ['KB', 2, 2048, 'bytes'],
    ['kB', 1, 1024, 'bytes'],
    ['MB', 1.5, 1572864, 'bytes'],
    ['GB', 1, 1073741824, 'bytes'],
    ['TB', 1, 1099511627776, 'bytes'],
    ['c', 12345, 12345, 'count'],
    ['W', 230, 230, 'none'],
  ])('UOM %p: %p becomes %p %s', (uom, value, converted, unit) => {
    expect(toUnit(value, uom)).toEqual({ value: converted, unit });
  });

  it.each([
    ['load1', 'load1'],
    ['/', 'root'],
    ['/var/log', 'var_log'],
    ['time to connect', 'time_to_connect'],
    ['1min', '_1min'],
    ['__proto__', 'proto'],
    ['!!!', 'value'],
    ['x'.repeat(100), 'x'.repeat(64)],
  ])('value name of %p is %p', (label, name) => {
    expect(valueName(label)).toBe(name);
  });

  test('duplicate and reserved names get a suffix; U values are left out; at most MAX_PERF_VALUES', () => {
    const { data } = parsePerfdata('/var/log=1 var_log=2 exitCode=3 u=U /=4B');
    expect(perfValues(data, ['exitCode']).map((p) => [p.name, p.value, p.unit])).toEqual([
      ['var_log', 1, 'none'], ['var_log_2', 2, 'none'], ['exitCode_2', 3, 'none'], ['root', 4, 'bytes'],
    ]);
    const many = parsePerfdata(Array.from({ length: 150 }, (_, i) => `v${i}=${i}`).join(' ')).data;
    expect(perfValues(many)).toHaveLength(MAX_PERF_VALUES);
  });
});

describe('plugin output', () => {
  test('first line text, long text, and perfdata from the first line and after the long text', () => {
    const out = parsePluginOutput([
      'DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968',
      '/ 15272 MB (77%);',
      '/boot 68 MB (69%); | /boot=68MB;88;93;0;98',
      '/home=69357MB;253404;253409;0;253414',
      '',
    ].join('\n'));
    expect(out.text).toBe('DISK OK - free space: / 3326 MB (56%);');
    expect(out.longText).toEqual(['/ 15272 MB (77%);', '/boot 68 MB (69%); ']);
    expect(out.perfdata.map((d) => [d.label, d.value, d.uom])).toEqual([['/', 2643, 'MB'], ['/boot', 68, 'MB'], ['/home', 69357, 'MB']]);
  });

  test('no perfdata, CRLF line ends, empty output', () => {
    expect(parsePluginOutput('PROCS OK: 3 processes\r\nmore\r\n')).toEqual({ text: 'PROCS OK: 3 processes', longText: ['more'], perfdata: [], malformed: [] });
    expect(parsePluginOutput('')).toEqual({ text: '', longText: [], perfdata: [], malformed: [] });
  });
});

describe('exec check: config', () => {
  test('command is an argv list whose program is absolute or a bare name', () => {
    expect(execCheck.schema.safeParse({ command: ['/bin/true'] }).success).toBe(true);
    expect(execCheck.schema.safeParse({ command: ['true', '-x'] }).success).toBe(true);
    expect(execCheck.schema.safeParse({ command: '/bin/true' }).success).toBe(false);
    expect(execCheck.schema.safeParse({ command: [] }).success).toBe(false);
    expect(execCheck.schema.safeParse({ command: ['./check_x'] }).success).toBe(false);
    expect(execCheck.schema.safeParse({ command: [''] }).success).toBe(false);
    expect(execCheck.schema.safeParse({ command: ['/bin/true'], cwd: 'tmp' }).success).toBe(false);
    expect(execCheck.schema.safeParse({ command: ['/bin/true'], env: { 'A-B': 'x' } }).success).toBe(false);
    expect(execCheck.schema.safeParse({ command: ['/bin/true'], perfdata: { exitCode: 'none' } }).success).toBe(false);
    expect(execCheck.schema.safeParse({ command: ['/bin/true'], perfdata: { load1: 'seconds' } }).success).toBe(false);
  });

  test('declared perfdata are fields with their unit; conditions on them load, undeclared ones do not', () => {
    expect(fieldsOf(execCheck, { command: ['/bin/true'], perfdata: { load1: 'none', root: 'bytes' } })).toMatchObject({
      exitCode: { type: 'number', unit: 'none' }, load1: { type: 'number', unit: 'none' }, root: { type: 'number', unit: 'bytes' },
    });
    const ok = loadConfigText(
      'checks:\n  - name: disk\n    type: exec\n    command: [/bin/true]\n    perfdata: { root: bytes }\n    crit: ["root > 10GB", "root > 10GiB"]\n',
      'kw.yaml', { env: {} },
    );
    expect(ok.checks[0].rules.crit.map((c) => [c.field, c.value])).toEqual([['root', 10e9], ['root', 10 * 1024 ** 3]]);
    let problems: string[] = [];
    try {
      loadConfigText('checks:\n  - name: l\n    type: exec\n    command: [/bin/true]\n    crit: "load1 > 5"\n', 'kw.yaml', { env: {} });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems = err.problems.map(formatProblem);
    }
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/unknown field "load1"/);
  });

  test('the environment is minimal plus env', () => {
    const env = pluginEnv({ env: { TOKEN: 'x', LC_ALL: 'de_DE.UTF-8' } });
    expect(Object.keys(env).sort()).toEqual(['HOME', 'LANG', 'LC_ALL', 'PATH', 'TOKEN'].filter((k) => k !== 'HOME' || process.env.HOME));
    expect(env).toMatchObject({ LANG: 'C', LC_ALL: 'de_DE.UTF-8', TOKEN: 'x' });
  });
});

describe('exec check: real scripts', () => {
  it.each([
    [0, Status.Ok],
    [1, Status.Warning],
    [2, Status.Critical],
  ])('exit %i: the message is the first line, the status follows the exit code', async (code, status) => {
    const file = script(`exit${code}`, `echo "STATE ${code} - all said | t=1s;2;3"\necho "long text"\nexit ${code}`);
    const obs = await runCheck(execCheck, { command: [file] });
    expect(obs).toEqual({ values: { exitCode: code, t: 1000 }, message: `STATE ${code} - all said` });
    expect(statusOf(obs)).toBe(status);
  });

  test('exit 3 is unknown, with the plugin\'s message', async () => {
    const file = script('exit3', 'echo "FOO UNKNOWN - cannot read /x | a=1"\nexit 3');
    expect(await runError({ command: [file] })).toBe('FOO UNKNOWN - cannot read /x');
  });

  test('exit 3 with the reason on stderr only', async () => {
    const file = script('exit3err', 'echo "usage: exit3err -w N" >&2\nexit 3');
    expect(await runError({ command: [file] })).toBe('usage: exit3err -w N');
  });

  it.each([
    [4, /exit4 exited 4, which is no Nagios status.*: odd/],
    [126, /exit126 exited 126 \(a command it runs is not executable\): odd/],
    [127, /exit127 exited 127 \(a command it runs was not found\): odd/],
    [255, /exit255 exited 255, which is no Nagios status/],
  ])('exit %i is unknown', async (code, message) => {
    const file = script(`exit${code}`, `echo odd\nexit ${code}`);
    expect(await runError({ command: [file] })).toMatch(message);
  });

  test('killed by a signal (not the timeout) is unknown', async () => {
    const file = script('selfkill', 'echo "about to die"\nkill -SEGV $$\nsleep 5');
    expect(await runError({ command: [file] })).toBe('selfkill was killed by SIGSEGV: about to die');
  });

  test('no output: the message says the exit code', async () => {
    const file = script('silent', 'exit 1');
    expect(await runCheck(execCheck, { command: [file] })).toEqual({ values: { exitCode: 1 }, message: 'silent exited 1 (WARNING) without output' });
  });

  test('a long first line is bounded to 300 characters', async () => {
    const file = script('longline', 'printf "OK %01000d | n=1\\n" 0');
    const obs = await runCheck(execCheck, { command: [file] });
    expect(obs.message).toHaveLength(300);
    expect(obs.message).toMatch(/^OK 0+…$/);
    expect(obs.values).toEqual({ exitCode: 0, n: 1 });
  });

  test('multi-line output with perfdata of every UOM, quoted labels and malformed items', async () => {
    const file = script('perf', [
      'cat <<\'EOF\'',
      "OK - many | time=0.5s;1;2;0; 'q ms'=12ms;;;; us=250us '/var/lib'=78%;80;90;0;100",
      'long line 1',
      "long line 2 | b=512B kb=2KB mb=1MB 'it''s gb'=1GB tb=1TB",
      'packets=42c;;;; plain=7 watts=230W broken= =1 U=U junk',
      'EOF',
    ].join('\n'));
    const obs = await runCheck(execCheck, { command: [file] });
    expect(obs.message).toBe('OK - many');
    expect(obs.values).toEqual({
      exitCode: 0, time: 500, q_ms: 12, us: 0.25, var_lib: 78, b: 512, kb: 2048, mb: 1048576, it_s_gb: 1073741824, tb: 1099511627776,
      packets: 42, plain: 7, watts: 230,
    });
  });

  test('a declared value in another unit than the plugin reports is unknown, saying what to set', async () => {
    const file = script('pct', 'echo "OK | used=50%"');
    expect(await runError({ command: [file], perfdata: { used: 'bytes' } })).toBe(
      "perfdata used ('used'=…%) is in percent, but perfdata: declares it bytes: set perfdata.used to percent",
    );
    const obs = await runCheck(execCheck, { command: [file], perfdata: { used: 'percent' } });
    expect(obs.values).toEqual({ exitCode: 0, used: 50 });
  });

  test('a condition on declared perfdata decides the status', async () => {
    const file = script('load', 'echo "LOAD OK | load1=7.5;;;0; load5=1;;;0;"');
    const obs = await runCheck(execCheck, { command: [file], perfdata: { load1: 'none' } });
    const config = loadConfigText(`checks:\n  - name: l\n    type: exec\n    command: [${file}]\n    perfdata: { load1: none }\n    crit: "load1 > 5"\n`, 'kw.yaml', { env: {} });
    expect(judge(obs, config.checks[0].rules)).toEqual({ status: Status.Critical, reason: 'threshold', condition: 'load1 > 5' });
    // The defaults for the level not set still apply: exit 1 warns.
    expect(config.checks[0].rules.warn.map((c) => c.source)).toEqual(['exitCode == 1']);
  });

  test('arguments go to the program as they are: no shell', async () => {
    const file = script('args', 'for a in "$@"; do printf "[%s]" "$a"; done; echo');
    const marker = path.join(dir, 'shell-ran');
    const obs = await runCheck(execCheck, { command: [file, `$(touch ${marker})`, 'a b', '*', '; echo hi', '$HOME'] });
    expect(obs.message).toBe(`[$(touch ${marker})][a b][*][; echo hi][$HOME]`);
    expect(existsSync(marker)).toBe(false);
  });

  test('env is passed; the agent\'s own environment is not', async () => {
    process.env.KW_EXEC_LEAK = 'leaked';
    try {
      const file = script('env', 'echo "token=$TOKEN leak=${KW_EXEC_LEAK:-none} lc=$LC_ALL"');
      const obs = await runCheck(execCheck, { command: [file], env: { TOKEN: 's3cret' } });
      expect(obs.message).toBe('token=s3cret leak=none lc=C');
    } finally {
      delete process.env.KW_EXEC_LEAK;
    }
  });

  test('cwd is the working directory; a missing one says so', async () => {
    const obs = await runCheck(execCheck, { command: ['pwd'], cwd: dir });
    expect(obs.message).toBe(dir);
    expect(await runError({ command: ['pwd'], cwd: path.join(dir, 'nope') })).toBe(`exec: cwd ${path.join(dir, 'nope')} is not a directory: create it or fix cwd`);
  });

  test('a bare name is looked up in PATH', async () => {
    const obs = await runCheck(execCheck, { command: ['echo', 'found | x=1'] });
    expect(obs).toEqual({ values: { exitCode: 0, x: 1 }, message: 'found' });
  });

  test('huge output is capped, read to the end and the run still ends', async () => {
    const file = script('chatty', 'echo "OK - chatty | first=1"\nhead -c 5000000 /dev/zero | tr "\\0" "x"\necho\nexit 1');
    const r = await runPlugin([file], { env: pluginEnv({ env: {} }), signal: new AbortController().signal });
    expect(r.code).toBe(1);
    expect(r.truncated).toBe(true);
    expect(Buffer.byteLength(r.stdout)).toBe(MAX_STDOUT_BYTES);
    const obs = await runCheck(execCheck, { command: [file] });
    expect(obs).toEqual({ values: { exitCode: 1, first: 1 }, message: 'OK - chatty' });
  });

  test('a missing program says what to install or fix', async () => {
    expect(await runError({ command: [`${PLUGINS}/check_nonexistent_kw`] })).toMatch(
      new RegExp(`^exec: ${PLUGINS}/check_nonexistent_kw not found: install the plugin or fix the path in command \\(.*apt-get install monitoring-plugins-basic`),
    );
    expect(await runError({ command: ['kw-no-such-program'] })).toMatch(/^exec: kw-no-such-program not found in PATH \(.+\): install it, give its absolute path in command, or set PATH in env$/);
    expect(await runError({ command: ['kw-no-such-program'], env: { PATH: dir } })).toContain(`not found in PATH (${dir})`);
  });

  test('a file that is not executable, and a script whose interpreter is missing', async () => {
    const file = script('noexec', 'echo never', 0o644);
    expect(await runError({ command: [file] })).toBe(
      `exec: ${file} is not executable by the agent's user: chmod +x it (and make its directories searchable), or run the agent as a user that may run it`,
    );
    const bad = path.join(dir, 'badinterp');
    writeFileSync(bad, '#!/nonexistent/interpreter\necho never\n');
    chmodSync(bad, 0o755);
    expect(await runError({ command: [bad] })).toMatch(/interpreter its #! line names is missing/);
  });
});

describe('exec check: timeout', () => {
  test('a plugin that hangs past the timeout is killed with its child; the run is a timeout', async () => {
    const pids = path.join(dir, 'hang.pids');
    const file = script('hang', `sleep 300 &\necho $! > ${pids}\necho $$ >> ${pids}\necho "starting"\nwait`);
    const obs = await runCheck(execCheck, { command: [file] }, { timeoutMs: 1000 });
    expect(obs).toEqual({ up: false, failure: 'timeout', message: 'hang did not finish within 1s (killed)', values: {} });
    const [child, plugin] = readFileSync(pids, 'utf8').trim().split('\n').map(Number);
    expect(child).toBeGreaterThan(0);
    expect(await waitGone(plugin)).toBe(true);
    expect(await waitGone(child)).toBe(true);
    expect(statusOf(obs)).toBe(Status.Critical);
  });

  test('SIGTERM ignored, and a child that let go of the output: both still die', async () => {
    const pids = path.join(dir, 'stubborn.pids');
    const file = script('stubborn', `trap "" TERM\n(trap "" TERM; exec sleep 300) >/dev/null 2>&1 &\necho $! > ${pids}\necho $$ >> ${pids}\nwhile :; do sleep 1; done`);
    const { run, abort } = startRun(execCheck, { command: [file] }, { timeoutMs: 1000 });
    // Abort once the plugin has written its pids: it is running, with its child.
    while (!existsSync(pids) || readFileSync(pids, 'utf8').trim().split('\n').length < 2) await new Promise((r) => setTimeout(r, 20));
    abort();
    expect(await run).toMatchObject({ up: false, failure: 'timeout' });
    const [child, plugin] = readFileSync(pids, 'utf8').trim().split('\n').map(Number);
    expect(await waitGone(plugin)).toBe(true);
    expect(await waitGone(child)).toBe(true);
  });

  test('a plugin that exits leaving a child behind: the child is killed, the run ends', async () => {
    const pids = path.join(dir, 'leaver.pids');
    const file = script('leaver', `sleep 300 &\necho $! > ${pids}\necho "OK - left one | n=1"`);
    const obs = await runCheck(execCheck, { command: [file] });
    expect(obs).toEqual({ values: { exitCode: 0, n: 1 }, message: 'OK - left one' });
    expect(await waitGone(Number(readFileSync(pids, 'utf8').trim()))).toBe(true);
  });

  test('an already aborted run starts nothing', async () => {
    const marker = path.join(dir, 'started');
    const file = script('marker', `touch ${marker}`);
    const ac = new AbortController();
    ac.abort();
    const r = await runPlugin([file], { env: pluginEnv({ env: {} }), signal: ac.signal });
    expect(r.timedOut).toBe(true);
    expect(existsSync(marker)).toBe(false);
  });
});

describe('exec check: monitoring-plugins', () => {
  test('check_load: load1/5/15 as plain numbers, ok', async () => {
    const obs = await runCheck(execCheck, { command: [`${PLUGINS}/check_load`, '-w', '1000,1000,1000', '-c', '2000,2000,2000'] });
    expect(obs.message).toMatch(/^LOAD OK - total load average: /);
    expect(Object.keys(obs.values).sort()).toEqual(['exitCode', 'load1', 'load15', 'load5']);
    for (const k of ['load1', 'load5', 'load15']) {
      expect(typeof obs.values[k]).toBe('number');
      expect(obs.values[k]).toBeGreaterThanOrEqual(0);
    }
    expect(fieldsOf(execCheck, { command: ['x'], perfdata: { load1: 'none' } }).load1.unit).toBe('none');
    expect(statusOf(obs)).toBe(Status.Ok);
  });

  test('check_disk on /: used bytes as root, ok', async () => {
    const obs = await runCheck(execCheck, { command: [`${PLUGINS}/check_disk`, '-w', '1%', '-c', '1%', '-p', '/'], perfdata: { root: 'bytes' } });
    expect(obs.message).toMatch(/^DISK OK/);
    expect(obs.values.exitCode).toBe(0);
    expect(typeof obs.values.root).toBe('number');
    expect(Number.isInteger(obs.values.root)).toBe(true);
    expect(obs.values.root).toBeGreaterThan(0);
    expect(statusOf(obs)).toBe(Status.Ok);
  });

  test('check_disk forced to WARNING (-w 100%) and CRITICAL (-c 100%)', async () => {
    const warn = await runCheck(execCheck, { command: [`${PLUGINS}/check_disk`, '-w', '100%', '-c', '0%', '-p', '/'] });
    expect(warn.message).toMatch(/^DISK WARNING/);
    expect(warn.values.exitCode).toBe(1);
    expect(statusOf(warn)).toBe(Status.Warning);
    const crit = await runCheck(execCheck, { command: [`${PLUGINS}/check_disk`, '-w', '100%', '-c', '100%', '-p', '/'] });
    expect(crit.message).toMatch(/^DISK CRITICAL/);
    expect(crit.values.exitCode).toBe(2);
    expect(typeof crit.values.root).toBe('number');
    expect(statusOf(crit)).toBe(Status.Critical);
  });

  test('check_disk without thresholds is UNKNOWN: the run is unknown with its message', async () => {
    expect(await runError({ command: [`${PLUGINS}/check_disk`, '-p', '/'] })).toMatch(/^DISK UNKNOWN/);
  });
});
