/**
 * The integrity check's baseline through the agent: kept in the store across a restart, and
 * re-taken by `POST /api/v1/checks/NAME/baseline` and `keepwatch baseline accept` (the built
 * CLI), with who and why recorded.
 */
import fs from 'node:fs';
import path from 'node:path';
import { startAgentOnStore, type RunningAgent } from '../helpers/agent-on-store';
import { runCli, tempDir } from '../helpers/daemon';

let dir: ReturnType<typeof tempDir>;
let configFile: string;
const etc = (name: string) => path.join(dir.dir, 'etc', name);

beforeAll(() => {
  dir = tempDir();
  fs.mkdirSync(path.join(dir.dir, 'etc'));
  fs.writeFileSync(etc('passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
  fs.writeFileSync(etc('sudoers'), 'root ALL=(ALL:ALL) ALL\n');
  configFile = path.join(dir.dir, 'keepwatch.yaml');
  fs.writeFileSync(configFile, [
    `agent: { name: t, dataDir: "${path.join(dir.dir, 'data')}" }`,
    'api: { token: admin-1, readToken: reader-2 }',
    'checks:',
    `  - { name: files, type: integrity, root: "${dir.dir}", defaultPaths: false, paths: ["/etc/*"], every: 1h }`,
    '  - { name: load, type: load, every: 1h }',
  ].join('\n'));
});
afterAll(() => dir.cleanup());

/** Starts the agent in this process on its real store, as `keepwatch run` does; no check runs on its own for an hour. */
const start = () => startAgentOnStore(configFile);

async function call(base: string, p: string, init: { method?: string; token?: string; body?: unknown } = {}) {
  const headers: Record<string, string> = init.token ? { Authorization: `Bearer ${init.token}` } : {};
  if (init.body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${base}${p}`, { method: init.method ?? 'GET', headers, body: init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body) });
  return { status: res.status, json: (await res.json()) as any };
}

test('the baseline outlives a restart; accepting it through the API records who and why and takes a new one at once', async () => {
  let a = await start();
  const first = (await a.agent.runNow('files')).result!;
  expect(first).toMatchObject({ statusText: 'ok', message: 'baseline recorded: 2 files', values: { files: 2, changed: 0 } });
  await a.stop();

  fs.appendFileSync(etc('sudoers'), 'eve ALL=(ALL) NOPASSWD: ALL\n');
  a = await start();
  const changed = (await a.agent.runNow('files')).result!;
  expect(changed).toMatchObject({ statusText: 'critical', condition: 'changed > 0', values: { changed: 1, high: 1 }, findingCounts: { high: 1 } });
  expect(changed.findings).toEqual([expect.objectContaining({ id: 'integrity.changed./etc/sudoers', severity: 'high', title: expect.stringMatching(/^\/etc\/sudoers changed: content .*, size 23→51 bytes/) })]);

  const accepted = await call(a.base, '/api/v1/checks/files/baseline', { method: 'POST', token: 'admin-1', body: { by: 'alice', reason: 'CHG-42: ops sudo rule' } });
  expect(accepted).toMatchObject({
    status: 200,
    json: { check: 'files', acceptance: { by: 'alice', reason: 'CHG-42: ops sudo rule', at: expect.stringMatching(/Z$/) }, result: { statusText: 'ok', message: 'baseline recorded: 2 files' } },
  });
  expect((await a.agent.runNow('files')).result).toMatchObject({ statusText: 'ok', values: { changed: 0 } });
  await a.stop();

  a = await start();
  expect((await a.agent.runNow('files')).result).toMatchObject({ statusText: 'ok', message: expect.stringMatching(/^2 files match the baseline of /) });
  const shown = await call(a.base, '/api/v1/checks/files/baseline', { token: 'reader-2' });
  expect(shown).toEqual({
    status: 200,
    json: { check: 'files', persistent: true, held: [{ key: 'baseline', bytes: expect.any(Number), updatedAt: expect.any(String) }], acceptances: [{ by: 'alice', reason: 'CHG-42: ops sudo rule', at: accepted.json.acceptance.at }] },
  });
  await a.stop();
});

describe('errors are JSON with the right status', () => {
  let a: RunningAgent;
  beforeAll(async () => (a = await start()));
  afterAll(() => a.stop());
  const post = (p: string, body: unknown, token = 'admin-1') => call(a.base, p, { method: 'POST', token, body });

  test('an unknown check is 404; a check that keeps no baseline is 409', async () => {
    expect(await post('/api/v1/checks/nope/baseline', { by: 'a', reason: 'b' })).toEqual({ status: 404, json: { error: 'no check named "nope"' } });
    expect(await call(a.base, '/api/v1/checks/nope/baseline', { token: 'reader-2' })).toEqual({ status: 404, json: { error: 'no check named "nope"' } });
    expect(await post('/api/v1/checks/load/baseline', { by: 'a', reason: 'b' })).toEqual({
      status: 409,
      json: { error: 'check "load" (type load) keeps no baseline; only checks that compare with one (type integrity) can accept a new one' },
    });
  });

  test('a body without who or why, with unknown keys, or not JSON is 400', async () => {
    const none = await post('/api/v1/checks/files/baseline', undefined);
    expect(none).toEqual({ status: 400, json: { error: 'by: say who accepts the new baseline (by); reason: say why the files changed (reason), e.g. a change ticket' } });
    expect((await post('/api/v1/checks/files/baseline', { by: 'a', reason: '  ' })).json.error).toBe('reason: say why the files changed (reason), e.g. a change ticket');
    expect((await post('/api/v1/checks/files/baseline', { by: 'a', reason: 'b', comment: 'c' })).json.error).toMatch(/^body: Unrecognized key: "comment"/);
    expect((await post('/api/v1/checks/files/baseline', '{"by":')).status).toBe(400);
  });

  test('accepting needs the admin token: 401 without it or with the read token; nothing is recorded', async () => {
    expect((await post('/api/v1/checks/files/baseline', { by: 'a', reason: 'b' }, '')).status).toBe(401);
    expect((await post('/api/v1/checks/files/baseline', { by: 'a', reason: 'b' }, 'reader-2')).status).toBe(401);
    expect((await call(a.base, '/api/v1/checks/files/baseline')).status).toBe(401);
    expect(a.agent.states.acceptances('files').map((x) => x.by)).toEqual(['alice']);
  });
});

describe('keepwatch baseline (the built CLI)', () => {
  let a: RunningAgent;
  beforeAll(async () => (a = await start()));
  afterAll(() => a.stop());
  const cli = (args: string[], token = 'admin-1') => runCli(['baseline', ...args, '--url', a.base], { env: { KEEPWATCH_TOKEN: token } });

  test('accept takes a new baseline and prints who, why and the run; show lists the acceptances', async () => {
    fs.writeFileSync(etc('group'), 'root:x:0:\n');
    expect((await a.agent.runNow('files')).result).toMatchObject({ statusText: 'warning', values: { added: 1 } });
    const r = await cli(['accept', 'files', '--by', 'bob', '--reason', 'CHG-43: group file']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^baseline of files accepted by bob at \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ: CHG-43: group file\nok: baseline recorded: 3 files\n$/);
    const shown = await cli(['show', 'files']);
    expect(shown.code).toBe(0);
    const lines = shown.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^files: keeps baseline of \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ \(\d+ bytes\)$/);
    expect(lines[1]).toMatch(/^ACCEPTED\s+BY\s+REASON$/);
    expect(lines.slice(2).map((l) => l.split(/\s{2,}/).slice(1))).toEqual([['bob', 'CHG-43: group file'], ['alice', 'CHG-42: ops sudo rule']]);
    const json = await cli(['show', 'files', '--json']);
    expect(JSON.parse(json.stdout).acceptances).toHaveLength(2);
  });

  test('no --reason is a usage error (3); an unknown check, or no token, fails (1) with the API\'s answer', async () => {
    const noReason = await cli(['accept', 'files', '--by', 'bob']);
    expect(noReason).toMatchObject({ code: 3, stdout: '', stderr: 'baseline accept needs --reason saying why the files changed (e.g. a change ticket)\n' });
    const unknown = await cli(['accept', 'nope', '--reason', 'x']);
    expect(unknown).toMatchObject({ code: 1, stderr: 'POST /api/v1/checks/nope/baseline: HTTP 404: no check named "nope"\n' });
    const noToken = await cli(['accept', 'files', '--reason', 'x'], '');
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toMatch(/HTTP 401: missing or wrong bearer token \(api\.token\) \(set KEEPWATCH_TOKEN\)/);
    const badAction = await cli(['drop', 'files']);
    expect(badAction.code).toBe(3);
  });

  test('keepwatch check runs it once without the store and says the baseline is not kept', async () => {
    const r = await runCli(['check', '--config', configFile, 'files']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/baseline recorded: \d+ files \(not kept: this run has no store/);
  });
});
