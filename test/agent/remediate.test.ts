import fs from 'node:fs';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { remediationAllowed } from '../../agent/incidents/remediation-limit';
import {
  COMMAND_TIMING,
  OUTPUT_LIMIT,
  describeAction,
  remediateSchema,
  runRemediation,
  systemdArgv,
  type RemediationAction,
} from '../../agent/responders/remediate';
import { setSecrets } from '../../agent/secrets';
import { closedPort, startHttp, type TestServer } from '../helpers/servers';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'remediate');
const node = (code: string, timeout = 10_000): RemediationAction => ({ kind: 'command', argv: [process.execPath, '-e', code], timeout });

/** Alive and not a zombie: an orphan's zombie may linger where pid 1 does not reap. */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\S+ \(.*\) [ZX] /s.test(stat);
  } catch {
    return false;
  }
}

async function eventually(cond: () => boolean, ms = 3000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'keepwatch-remediate-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('command actions', () => {
  test('a command that succeeds', async () => {
    const out = await runRemediation([node('console.log("restarted"); console.error("warming up")')]);
    expect(out.ok).toBe(true);
    expect(out.skipped).toEqual([]);
    const [a] = out.actions;
    expect(a).toMatchObject({ kind: 'command', ok: true, exitCode: 0, outputTruncated: false });
    expect(a.output).toContain('restarted\n');
    expect(a.output).toContain('warming up\n');
    expect(a.description).toBe(`${process.execPath} -e "console.log(\\"restarted\\"); console.error(\\"warming up\\")"`);
    expect(a.durationMs).toBeGreaterThanOrEqual(0);
    expect(a.error).toBeUndefined();
  });

  test('a command that exits 3 fails, with its stderr', async () => {
    const out = await runRemediation([node('process.stderr.write("cannot bind :8080\\n"); process.exit(3)')]);
    expect(out.ok).toBe(false);
    expect(out.actions[0]).toMatchObject({ ok: false, exitCode: 3, error: 'exited with code 3', output: 'cannot bind :8080\n' });
  });

  test('long output keeps its last 4 KiB', async () => {
    const out = await runRemediation([node('process.stdout.write("x".repeat(20000)); process.stderr.write("THE END"); process.exit(1)')]);
    const a = out.actions[0];
    expect(a.outputTruncated).toBe(true);
    expect(Buffer.byteLength(a.output)).toBeLessThanOrEqual(OUTPUT_LIMIT);
    expect(a.output.length).toBeGreaterThan(OUTPUT_LIMIT - 100);
    expect(a.output.endsWith('THE END')).toBe(true);
  });

  test('ANSI colours are stripped from the output', async () => {
    const out = await runRemediation([node('console.log("\\u001b[31mred\\u001b[0m done")')]);
    expect(out.actions[0].output).toBe('red done\n');
  });

  test('a command past its timeout is killed with the processes it started', async () => {
    const started = Date.now();
    const out = await runRemediation([
      { kind: 'command', argv: [process.execPath, path.join(FIXTURES, 'hang-with-child.js')], timeout: 1000 },
    ]);
    const a = out.actions[0];
    expect(a).toMatchObject({ ok: false, timedOut: true, error: 'timed out after 1s; killed its process group' });
    expect(Date.now() - started).toBeLessThan(4000);
    const grandchild = Number(/grandchild (\d+)/.exec(a.output)?.[1]);
    expect(grandchild).toBeGreaterThan(0);
    expect(await eventually(() => !alive(grandchild), 1000)).toBe(true);
  });

  test('processes that ignore SIGTERM get SIGKILL after the grace period', async () => {
    // The agent gives them 2 s; this run gives them 300 ms, so the test does not sit out the agent's grace.
    expect(COMMAND_TIMING.killGraceMs).toBe(2000);
    const timing = { ...COMMAND_TIMING, killGraceMs: 300 };
    const started = Date.now();
    const out = await runRemediation(
      [{ kind: 'command', argv: [process.execPath, path.join(FIXTURES, 'hang-with-child.js'), 'stubborn'], timeout: 500 }],
      { timing },
    );
    const a = out.actions[0];
    expect(a).toMatchObject({ ok: false, timedOut: true, exitSignal: 'SIGKILL' });
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(700); // 500 ms timeout + 300 ms grace
    expect(elapsed).toBeLessThan(3300);
    const grandchild = Number(/grandchild (\d+)/.exec(a.output)?.[1]);
    expect(grandchild).toBeGreaterThan(0);
    expect(await eventually(() => !alive(grandchild), 1000)).toBe(true);
  });

  test('a missing program is a failed action, not an exception', async () => {
    const out = await runRemediation([{ kind: 'command', argv: ['/nonexistent/keepwatch-restart', '--fast'], timeout: 1000 }]);
    expect(out.ok).toBe(false);
    expect(out.actions[0]).toMatchObject({
      ok: false,
      exitCode: null,
      output: '',
      error: 'command not found: /nonexistent/keepwatch-restart (no such file, or not on PATH)',
    });
    const onPath = await runRemediation([{ kind: 'command', argv: ['keepwatch-no-such-program'], timeout: 1000 }]);
    expect(onPath.actions[0].error).toMatch(/^command not found: keepwatch-no-such-program/);
  });

  test('a file that is not executable is a failed action', async () => {
    const file = path.join(tmp, 'script.sh');
    fs.writeFileSync(file, '#!/bin/sh\nexit 0\n', { mode: 0o644 });
    const out = await runRemediation([{ kind: 'command', argv: [file], timeout: 1000 }]);
    expect(out.actions[0]).toMatchObject({ ok: false, error: `cannot run ${file}: permission denied (not executable?)` });
  });

  test('a command that starts a background server is done when it exits', async () => {
    const pidfile = path.join(tmp, 'daemon.pid');
    const started = Date.now();
    const out = await runRemediation([
      { kind: 'command', argv: [process.execPath, path.join(FIXTURES, 'start-daemon.js'), pidfile], timeout: 10_000 },
    ]);
    try {
      // Well before its 10 s timeout: the daemon holds the pipes open, and we did not wait for them.
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(out.ok).toBe(true);
      expect(out.actions[0].output).toMatch(/started daemon \d+/);
      // The daemon outlives the command (it was not killed), and still answers.
      expect(await eventually(() => fs.existsSync(pidfile) && fs.readFileSync(pidfile, 'utf8').endsWith('\n'))).toBe(true);
      const [pid, port] = fs.readFileSync(pidfile, 'utf8').trim().split(' ').map(Number);
      const res = await fetch(`http://127.0.0.1:${port}/`);
      expect(await res.text()).toBe('up');
      // It keeps writing to the pipe it inherited: we must not have closed it on it (its next
      // write would kill it with EPIPE). Three more lines written, and it is still there.
      const lines = () => Number(fs.readFileSync(`${pidfile}.lines`, 'utf8') || 0);
      expect(await eventually(() => fs.existsSync(`${pidfile}.lines`))).toBe(true);
      const seen = lines();
      expect(await eventually(() => lines() >= seen + 3)).toBe(true);
      expect(alive(pid)).toBe(true);
    } finally {
      const pid = fs.existsSync(pidfile) ? Number(fs.readFileSync(pidfile, 'utf8').split(' ')[0]) : Number(/started daemon (\d+)/.exec(out.actions[0].output)?.[1]);
      try {
        if (pid > 0) process.kill(pid, 'SIGKILL');
      } catch (err) {
        // ESRCH: the daemon died, which an assertion above has already reported.
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
    }
  });

  test('extra environment reaches the command; secret values are not echoed', async () => {
    const out = await runRemediation([
      {
        kind: 'command',
        argv: [process.execPath, '-e', 'console.log(process.env.MODE, process.env.API_TOKEN)', '--', '--password=hunter22', '--token', 's3cr3t-arg'],
        env: { MODE: 'fast', API_TOKEN: 'tok-123456' },
        timeout: 10_000,
      },
    ]);
    const a = out.actions[0];
    expect(a.ok).toBe(true);
    expect(a.output).toBe('fast [REDACTED]\n');
    expect(a.description).not.toMatch(/tok-123456|hunter22|s3cr3t-arg|fast/);
    expect(a.description).toContain('--password=[REDACTED] --token [REDACTED]');
  });

  test('a config secret in a long argument or across the output cut keeps no piece of it', async () => {
    const token = 'kw-admin-9f8e7d6c5b4a3210';
    setSecrets([token]);
    try {
      // The output's last 4 KiB begin inside the token when cut before scrubbing; the argv line's 200 characters end inside it.
      const code = `process.stdout.write(${JSON.stringify(token)} + "x".repeat(${OUTPUT_LIMIT - 10}))`;
      const out = await runRemediation([{ kind: 'command', argv: [process.execPath, '-e', code, '--', `${'a'.repeat(190 - code.length - process.execPath.length)}${token}`], timeout: 10_000 }]);
      const a = out.actions[0];
      expect(a.ok).toBe(true);
      expect(a.description.length).toBeLessThanOrEqual(200);
      for (const text of [a.output, a.description]) {
        for (let i = 0; i + 6 <= token.length; i++) expect(text).not.toContain(token.slice(i, i + 6));
      }
    } finally {
      setSecrets([]);
    }
  });

  test('actions run in order and stop at the first that fails', async () => {
    const marker = path.join(tmp, 'third-ran');
    const out = await runRemediation([
      node('console.log("one")'),
      node('process.exit(2)'),
      node(`require("fs").writeFileSync(${JSON.stringify(marker)}, "x")`),
    ]);
    expect(out.ok).toBe(false);
    expect(out.actions.map((a) => a.ok)).toEqual([true, false]);
    expect(out.skipped).toEqual([describeAction(node(`require("fs").writeFileSync(${JSON.stringify(marker)}, "x")`))]);
    expect(fs.existsSync(marker)).toBe(false);
  });

  test('an abort kills the running action and skips the rest', async () => {
    const ac = new AbortController();
    // Abort once the action is surely running, whatever the machine's load.
    const running = path.join(tmp, 'running');
    void eventually(() => fs.existsSync(running), 10_000).then(() => ac.abort());
    const started = Date.now();
    const out = await runRemediation([node(`require("fs").writeFileSync(${JSON.stringify(running)}, ""); setInterval(() => {}, 1000)`), node('console.log("never")')], { signal: ac.signal });
    // Before its 10 s timeout, which would have said 'timed out' instead.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(out.ok).toBe(false);
    expect(out.actions).toHaveLength(1);
    expect(out.actions[0]).toMatchObject({ ok: false, error: 'aborted; killed its process group' });
    expect(out.skipped).toHaveLength(1);
  });
});

describe('http actions', () => {
  let server: TestServer;
  const seen: Array<{ method?: string; url?: string; body: string; headers: http.IncomingHttpHeaders }> = [];

  beforeAll(async () => {
    server = await startHttp((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, body, headers: req.headers });
        if (req.url?.startsWith('/reload')) res.end('reloaded; token=abcd-secret-1234');
        else if (req.url === '/broken') {
          res.statusCode = 500;
          res.end('config error on line 3');
        } else if (req.url === '/hang') {
          // never answers
        } else {
          res.statusCode = 404;
          res.end();
        }
      });
    });
  });
  afterAll(() => server.close());

  test('a 2xx answer succeeds', async () => {
    const url = `http://admin:pw-9999@127.0.0.1:${server.port}/reload?token=abcd-secret-1234`;
    const out = await runRemediation([
      { kind: 'http', url, method: 'POST', headers: { 'X-Api-Key': 'key-abcdef' }, body: { graceful: true }, timeout: 5000 },
    ]);
    expect(out.ok).toBe(true);
    const a = out.actions[0];
    expect(a).toMatchObject({ kind: 'http', ok: true, status: 200, description: `POST http://127.0.0.1:${server.port}/reload` });
    // The query's token value is scrubbed from the echoed body.
    expect(a.output).toBe('reloaded; token=[REDACTED]');
    const req = seen.at(-1)!;
    expect(req).toMatchObject({ method: 'POST', url: '/reload?token=abcd-secret-1234', body: '{"graceful":true}' });
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers['x-api-key']).toBe('key-abcdef');
    expect(req.headers.authorization).toBe(`Basic ${Buffer.from('admin:pw-9999').toString('base64')}`);
  });

  test('a 500 answer fails, with the body', async () => {
    const out = await runRemediation([{ kind: 'http', url: `${server.url}/broken`, method: 'POST', timeout: 5000 }]);
    expect(out.ok).toBe(false);
    expect(out.actions[0]).toMatchObject({ ok: false, status: 500, error: 'HTTP 500', output: 'config error on line 3' });
  });

  test('a refused connection fails', async () => {
    const port = await closedPort();
    const out = await runRemediation([{ kind: 'http', url: `http://127.0.0.1:${port}/reload`, method: 'GET', timeout: 5000 }]);
    expect(out.ok).toBe(false);
    expect(out.actions[0].ok).toBe(false);
    expect(out.actions[0].status).toBeUndefined();
    expect(out.actions[0].error).toMatch(/ECONNREFUSED/);
  });

  test('an endpoint that never answers times out', async () => {
    const out = await runRemediation([{ kind: 'http', url: `${server.url}/hang`, method: 'POST', timeout: 300 }]);
    expect(out.actions[0]).toMatchObject({ ok: false, timedOut: true, error: 'timed out after 300ms' });
    expect(out.actions[0].durationMs).toBeLessThan(2000);
  });
});

describe('systemd actions', () => {
  test('map to systemctl argv', () => {
    expect(systemdArgv('nginx')).toEqual(['systemctl', 'restart', 'nginx']);
    expect(systemdArgv('php-fpm@www.service', 'reload')).toEqual(['systemctl', 'reload', 'php-fpm@www.service']);
    expect(describeAction({ kind: 'systemd', unit: 'nginx', action: 'start', timeout: 30_000 })).toBe('systemctl start nginx');
  });

  test.each([
    ['nginx', { kind: 'systemd', unit: 'nginx', action: 'restart', timeout: 30_000 }],
    [{ unit: 'nginx.service', action: 'reload' }, { kind: 'systemd', unit: 'nginx.service', action: 'reload', timeout: 30_000 }],
    [{ unit: 'redis' }, { kind: 'systemd', unit: 'redis', action: 'restart', timeout: 30_000 }],
  ])('systemd: %j parses', (systemd, action) => {
    expect(remediateSchema.parse({ actions: [{ systemd }] }).actions).toEqual([action]);
  });

  test.each([['--help'], ['nginx; reboot'], [{ unit: 'nginx', action: 'stop' }]])('systemd: %j is rejected', (systemd) => {
    expect(remediateSchema.safeParse({ actions: [{ systemd }] }).success).toBe(false);
  });
});

describe('remediateSchema', () => {
  const messages = (input: unknown) => {
    const r = remediateSchema.safeParse(input);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  test('defaults', () => {
    expect(remediateSchema.parse({ actions: [{ command: ['/usr/local/bin/restart-app', '--fast'] }] })).toEqual({
      actions: [{ kind: 'command', argv: ['/usr/local/bin/restart-app', '--fast'], env: {}, timeout: 30_000 }],
      limit: { max: 3, within: 3_600_000 },
      cooldown: 300_000,
    });
  });

  test('the full example', () => {
    const parsed = remediateSchema.parse({
      actions: [
        { command: ['/usr/local/bin/restart-app', '--fast'], timeout: '30s', env: { MODE: 'fast' } },
        { http: { url: 'http://127.0.0.1:8080/admin/reload', method: 'POST', headers: {}, body: '...' } },
        { systemd: 'nginx', timeout: '1m' },
      ],
      limit: { max: 5, within: '2h' },
      cooldown: '10m',
    });
    expect(parsed.actions).toEqual([
      { kind: 'command', argv: ['/usr/local/bin/restart-app', '--fast'], env: { MODE: 'fast' }, timeout: 30_000 },
      { kind: 'http', url: 'http://127.0.0.1:8080/admin/reload', method: 'POST', headers: {}, body: '...', timeout: 30_000 },
      { kind: 'systemd', unit: 'nginx', action: 'restart', timeout: 60_000 },
    ]);
    expect(parsed.limit).toEqual({ max: 5, within: 7_200_000 });
    expect(parsed.cooldown).toBe(600_000);
    expect(remediateSchema.parse({ actions: [{ http: { url: 'http://x/' } }] }).actions[0]).toMatchObject({ method: 'POST', headers: {} });
  });

  test('a shell string command is rejected with a way to write it', () => {
    expect(messages({ actions: [{ command: 'systemctl restart nginx' }] })).toEqual([
      'actions.0.command: command is an argv list, not a shell string: write ["systemctl","restart","nginx"]. ' +
        'No shell runs it, so quotes, pipes, redirections and $VARS would not work; wrap a script if you need them',
    ]);
  });

  test.each([
    [{ actions: [] }, 'actions: list at least one action'],
    [{ actions: [{ command: [] }] }, 'actions.0.command: command must name a program: an argv list such as ["/usr/local/bin/restart-app", "--fast"]'],
    [{ actions: [{ command: [''] }] }, 'actions.0.command: the program (first element) must not be empty'],
    [{ actions: [{}] }, 'actions.0: say what to do: set one of command, http or systemd'],
    [{ actions: [{ command: ['x'], systemd: 'nginx' }] }, 'actions.0.systemd: set only one of command, http or systemd per action (this one sets command and systemd); list several actions to do several things'],
    [{ actions: [{ systemd: 'nginx', env: { A: 'b' } }] }, 'actions.0.env: env applies to command actions only'],
    [{ actions: [{ http: { url: 'ftp://host/' } }] }, 'actions.0.http.url: expected an http:// or https:// URL'],
    [{ actions: [{ command: ['x'], timeout: 'soon' }] }, 'actions.0.timeout: expected a duration such as 500ms, 30s, 5m or 1h30m'],
    [{ actions: [{ command: ['x'] }], limit: { max: 0 } }, 'limit.max: Too small: expected number to be >=1'],
  ])('%j is rejected', (input, message) => {
    expect(messages(input)).toContain(message);
  });

  test('unknown keys are errors', () => {
    expect(messages({ actions: [{ command: ['x'], comand: ['y'] }] })).toEqual([expect.stringMatching(/^actions\.0: Unrecognized key: "comand"/)]);
    expect(messages({ actions: [{ command: ['x'] }], cooldwn: '1m' })).toEqual([expect.stringMatching(/Unrecognized key: "cooldwn"/)]);
  });
});

describe('remediationAllowed', () => {
  const H = 3_600_000;
  const M = 60_000;
  const now = 10 * H;
  const limit = { max: 3, within: H };

  test.each([
    ['no history', [], true, undefined],
    ['2 runs in the hour', [now - 50 * M, now - 20 * M], true, undefined],
    ['3 runs in the hour: wait until the oldest leaves the window', [now - 50 * M, now - 30 * M, now - 10 * M], false, now + 10 * M],
    ['3 runs, the oldest exactly 1 h ago, is outside', [now - H, now - 30 * M, now - 10 * M], true, undefined],
    ['4 runs, one older than the window', [now - 2 * H, now - 50 * M, now - 30 * M, now - 10 * M], false, now + 10 * M],
    ['order does not matter', [now - 10 * M, now - 50 * M, now - 30 * M], false, now + 10 * M],
    ['cool-down: last run 2 min ago', [now - 2 * M], false, now + 3 * M],
    ['cool-down over', [now - 5 * M], true, undefined],
    ['both: the later retry wins', [now - 57 * M, now - 30 * M, now - 1 * M], false, now + 4 * M],
    ['a start in the future (clock went back) counts as recent', [now + 10 * M], false, now + 15 * M],
  ])('%s', (_name, history, allowed, retryAt) => {
    const r = remediationAllowed(history, now, limit, 5 * M);
    expect(r.allowed).toBe(allowed);
    if (!r.allowed) expect(r.retryAt).toBe(retryAt);
  });

  test('with more runs than the limit, enough must leave the window', () => {
    const history = [now - 55 * M, now - 50 * M, now - 40 * M, now - 30 * M, now - 20 * M];
    expect(remediationAllowed(history, now, limit, 0)).toEqual({
      allowed: false,
      reason: 'rate limit: 5 runs in the last 1h (at most 3)',
      retryAt: now - 40 * M + H,
    });
  });

  test('reasons say what blocks', () => {
    const r = remediationAllowed([now - 50 * M, now - 30 * M, now - 2 * M], now, limit, 5 * M);
    expect(r).toEqual({
      allowed: false,
      reason: 'rate limit: 3 runs in the last 1h (at most 3); cool-down: last run 2m ago (cool-down 5m)',
      retryAt: now + 10 * M,
    });
  });
});
