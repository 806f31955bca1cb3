import fs from 'node:fs';
import path from 'node:path';
import { eventually, runCli, startDaemon, tempDir, type Daemon } from '../helpers/daemon';
import { closedPort } from '../helpers/servers';

jest.setTimeout(90_000);

const ADMIN = 'admin-token-for-the-api-0001';
const BACKUP = 'backup-push-token-0123456789';
const NIGHTLY = 'nightly-push-token-9876543210';
const env = { KEEPWATCH_TOKEN: ADMIN, BACKUP_TOKEN: BACKUP, NIGHTLY_TOKEN: NIGHTLY, KEEPWATCH_PUSH_TOKEN: '' };

let dir: ReturnType<typeof tempDir>;
let file: string;
let d: Daemon;

beforeAll(async () => {
  dir = tempDir();
  file = path.join(dir.dir, 'keepwatch.yaml');
  fs.writeFileSync(file, [
    `agent: { listen: "127.0.0.1:0", dataDir: "${dir.dir}/data" }`,
    'api: { token: "${KEEPWATCH_TOKEN}" }',
    'checks:',
    '  - { name: backup, type: push, period: 2s, grace: 1s, every: 1s, token: "${BACKUP_TOKEN}" }',
    '  - { name: nightly, type: push, period: 1d, every: 1h, token: "${NIGHTLY_TOKEN}" }',
    '  - { name: load, type: load, every: 1h }',
  ].join('\n'));
  fs.writeFileSync(path.join(dir.dir, 'nightly.token'), `${NIGHTLY}\n`);
  d = await startDaemon(['--config', file], { env });
});
afterAll(async () => {
  await d?.stop('SIGKILL');
  dir.cleanup();
});

/** A push over HTTP: its status and JSON answer. */
async function push(name: string, opts: { token?: string; body?: unknown; query?: string; method?: string } = {}) {
  const res = await fetch(`${d.base}/api/v1/push/${encodeURIComponent(name)}${opts.query ?? ''}`, {
    method: opts.method ?? 'POST',
    headers: {
      ...(opts.token !== undefined ? { Authorization: `Bearer ${opts.token}` } : {}),
      ...(opts.body !== undefined ? { 'Content-Type': 'application/json' } : {}),
    },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, any>, auth: res.headers.get('www-authenticate') };
}

async function last(name: string): Promise<Record<string, any> | undefined> {
  const view = (await (await fetch(`${d.base}/api/v1/checks/${name}`)).json()) as { last?: Record<string, any> };
  return view.last;
}

describe('POST /api/v1/push/NAME', () => {
  test('only the check\'s own token is taken: a missing, wrong or api token is 401, with one message', async () => {
    const none = await push('nightly');
    const wrong = await push('nightly', { token: 'x'.repeat(28) });
    const api = await push('nightly', { token: ADMIN });
    const other = await push('nightly', { token: BACKUP });
    for (const r of [none, wrong, api, other]) {
      expect(r.status).toBe(401);
      expect(r.json.error).toBe(none.json.error);
      expect(r.auth).toMatch(/^Bearer /);
    }
    expect(none.json.error).toMatch(/missing or wrong bearer token for push check "nightly"/);
  });

  test('a token in the query is refused whatever it is, saying to use the header', async () => {
    for (const query of [`?token=${NIGHTLY}`, `?access_token=${NIGHTLY}`, '?status=ok']) {
      const r = await push('nightly', { query });
      expect(r.status).toBe(400);
      expect(r.json.error).toMatch(/no query parameters: send the check's token as the header "Authorization: Bearer <token>"/);
    }
    // Refused even with the right header: the URL has already gone into a log.
    expect((await push('nightly', { query: `?token=${NIGHTLY}`, token: NIGHTLY })).status).toBe(400);
  });

  test('no such check is 404, a check of another type 409, a GET 405', async () => {
    expect(await push('nosuch', { token: NIGHTLY })).toMatchObject({ status: 404, json: { error: 'no check named "nosuch"' } });
    expect(await push('load', { token: NIGHTLY })).toMatchObject({ status: 409, json: { error: 'check "load" is of type load: only push checks take pushes' } });
    expect((await push('nightly', { token: NIGHTLY, method: 'GET' })).status).toBe(405);
  });

  test('a bad body is 400 with what is wrong', async () => {
    const bad = async (body: unknown) => push('nightly', { token: NIGHTLY, body });
    expect(await bad({ status: 'maybe' })).toMatchObject({ status: 400, json: { error: expect.stringMatching(/^status: status must be ok, warn or crit/) } });
    expect(await bad({ message: 'm'.repeat(1001) })).toMatchObject({ status: 400, json: { error: expect.stringMatching(/message may be at most 1000 characters/) } });
    expect(await bad({ duration: '12 parsecs' })).toMatchObject({ status: 400, json: { error: expect.stringMatching(/duration must be a duration such as "12s"/) } });
    expect(await bad({ duration: '12s', durationMs: 12000 })).toMatchObject({ status: 400, json: { error: expect.stringMatching(/not both/) } });
    expect(await bad({ exitCode: 3 })).toMatchObject({ status: 400 });
  });

  test('a push makes the check ok at once; after period + grace without one it is critical; a crit push is critical', async () => {
    const r = await push('backup', { token: BACKUP, body: { status: 'success', message: 'dumped 41 GB', duration: '1m5s' } });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ check: 'backup', pushedStatus: 'ok', pushes: 1, status: 'ok' });
    expect(r.json.message).toMatch(/^last push ok \w+ ago at .+, took 1m5s: dumped 41 GB$/);
    expect(await last('backup')).toMatchObject({ statusText: 'ok', values: { pushes: 1, durationMs: 65_000, late: false } });

    // period 2s + grace 1s, checked every second: critical within a few seconds, however slow the machine.
    const late = await eventually(async () => {
      const l = await last('backup');
      return l?.statusText === 'critical' && l;
    }, 30_000, 'backup to go late');
    expect(late).toMatchObject({ up: false, reason: 'timeout', values: { late: true, pushes: 1 } });
    expect(late.message).toMatch(/^late: no push for \d+s \(expected every 2s \+ 1s grace\); last push ok/);

    const crit = await push('backup', { token: BACKUP, body: { status: 'FAIL', message: 'exit 3: disk full', durationMs: 1200 } });
    expect(crit.json).toMatchObject({ pushedStatus: 'crit', pushes: 2, status: 'critical' });
    expect(crit.json.message).toMatch(/took 1s: exit 3: disk full \(pushedStatus == "crit"\)$/);
  });

  test('the tokens never reach the log', () => {
    const all = d.logs.join('\n');
    expect(all).toMatch(/"msg":"push received"/);
    for (const t of [BACKUP, NIGHTLY, ADMIN]) expect(all).not.toContain(t);
  });
});

describe('keepwatch push', () => {
  const cli = (args: string[], extra: NodeJS.ProcessEnv = {}) => runCli(['push', '--url', d.base, ...args], { env: { ...env, ...extra } });
  const tokenFile = () => path.join(dir.dir, 'nightly.token');

  test('pushes a status, message and duration with the token from a file, silently', async () => {
    const r = await cli(['nightly', '--token-file', tokenFile(), '--status', 'warn', '--message', 'disk 91%', '--duration', '38m']);
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
    const l = await last('nightly');
    // The first push taken: none of the refused ones above was recorded.
    expect(l).toMatchObject({ statusText: 'warning', values: { pushedStatus: 'warn', durationMs: 38 * 60_000, pushes: 1 } });
    expect(l?.message).toMatch(/took 38m: disk 91%/);
  });

  test('takes the token from KEEPWATCH_PUSH_TOKEN; a wrong one exits 1 with the agent\'s answer', async () => {
    expect(await cli(['nightly'], { KEEPWATCH_PUSH_TOKEN: NIGHTLY })).toMatchObject({ code: 0, stderr: '' });
    expect((await last('nightly'))?.statusText).toBe('ok');
    const wrong = await cli(['nightly'], { KEEPWATCH_PUSH_TOKEN: BACKUP });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^keepwatch push: POST \/api\/v1\/push\/nightly: HTTP 401: missing or wrong bearer token .*KEEPWATCH_PUSH_TOKEN\)\n$/);
    const unknown = await cli(['nosuch'], { KEEPWATCH_PUSH_TOKEN: NIGHTLY });
    expect(unknown).toMatchObject({ code: 1, stderr: 'keepwatch push: POST /api/v1/push/nosuch: HTTP 404: no check named "nosuch"\n' });
  });

  test('usage errors exit 3; an agent that cannot be reached exits 1', async () => {
    const noToken = await cli(['nightly']);
    expect(noToken).toMatchObject({ code: 3, stderr: expect.stringMatching(/no token: give --token-file FILE or set KEEPWATCH_PUSH_TOKEN/) });
    expect(await cli(['nightly', '--token-file', tokenFile(), '--status', 'maybe'])).toMatchObject({ code: 3, stderr: expect.stringMatching(/--status must be ok, warn or crit/) });
    expect(await cli(['nightly', '--token-file', tokenFile(), '--duration', 'soon'])).toMatchObject({ code: 3 });
    expect((await cli(['nightly', '--token', NIGHTLY])).code).toBe(3); // no such flag: it would show in ps
    const down = await runCli(['push', 'nightly', '--token-file', tokenFile(), '--url', `127.0.0.1:${await closedPort()}`]);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^keepwatch push: cannot reach the agent at http:\/\/127\.0\.0\.1:\d+\/: .*ECONNREFUSED/);
  });

  test('the wrapper runs the command, passes its output through, pushes crit with its exit code and last line, and exits with its code', async () => {
    const r = await cli(['nightly', '--token-file', tokenFile(), '--', 'sh', '-c', 'echo first; echo "disk full" >&2; exit 3']);
    expect(r).toEqual({ code: 3, stdout: 'first\n', stderr: 'disk full\n' });
    const l = await last('nightly');
    expect(l).toMatchObject({ statusText: 'critical', values: { pushedStatus: 'crit', durationMs: expect.any(Number) } });
    expect(l?.message).toMatch(/: exit 3: disk full \(pushedStatus == "crit"\)$/);
  });

  test('the wrapper pushes ok for exit 0; arguments after -- are passed as written', async () => {
    const r = await cli(['nightly', '--token-file', tokenFile(), '--', 'sh', '-c', 'echo "$1 $2"', 'sh', '0x10', '--status']);
    expect(r).toEqual({ code: 0, stdout: '0x10 --status\n', stderr: '' });
    const l = await last('nightly');
    expect(l).toMatchObject({ statusText: 'ok', values: { pushedStatus: 'ok' } });
    expect(l?.message).toMatch(/: exit 0: 0x10 --status$/);
  });

  test('the wrapper: a command that cannot start exits 127 and pushes crit; a failed push keeps the command\'s code', async () => {
    const missing = await cli(['nightly', '--token-file', tokenFile(), '--', '/no/such/program']);
    expect(missing.code).toBe(127);
    expect((await last('nightly'))?.message).toMatch(/cannot run \/no\/such\/program: not found/);
    const refused = await cli(['nightly', '--', 'sh', '-c', 'exit 0'], { KEEPWATCH_PUSH_TOKEN: BACKUP });
    expect(refused.code).toBe(0);
    expect(refused.stderr).toMatch(/^keepwatch push: POST \/api\/v1\/push\/nightly: HTTP 401/);
    expect((await cli(['nightly', '--token-file', tokenFile(), '--status', 'ok', '--', 'true'])).code).toBe(3);
  });
});

test('pushes outlive a restart (kept in the store)', async () => {
  const before = (await last('nightly'))?.values.pushes as number;
  expect(before).toBeGreaterThanOrEqual(5);
  await d.stop('SIGTERM');
  d = await startDaemon(['--config', file], { env });
  // The next run (up to the 5 s start-up spread) still sees every push.
  const l = await eventually(async () => last('nightly'), 30_000, 'the first run after the restart');
  expect(l.values).toMatchObject({ pushes: before });
  const r = await push('nightly', { token: NIGHTLY });
  expect(r.json).toMatchObject({ pushes: before + 1, status: 'ok' });
});
