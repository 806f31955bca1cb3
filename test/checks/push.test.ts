import { CheckStates, memoryState } from '../../agent/check-state';
import { loadConfigText } from '../../agent/config/load';
import { ConfigError, formatProblem } from '../../agent/errors';
import { createLogger } from '../../agent/logger';
import { runCheckOnce } from '../../agent/runner';
import { Store } from '../../agent/store/store';
import { FIRST_SEEN_KEY, graceOf, LAST_PUSH_KEY, pushCheck, type PushRecord } from '../../checks/push';
import type { CheckState } from '../../checks/types';
import { tempDir } from '../helpers/daemon';

const log = createLogger({ level: 'silent' });
const TOKEN = 'push-token-0123456789';
const T0 = Date.parse('2026-12-01T02:00:00Z');
const S = 1000;
const M = 60 * S;
const H = 60 * M;

let dir: ReturnType<typeof tempDir>;
let store: Store;
beforeEach(() => {
  dir = tempDir();
  store = Store.open(dir.dir);
});
afterEach(() => {
  store.close();
  dir.cleanup();
});

/** The check of these keys, as the agent compiles it (thresholds and all). */
function compile(keys: Record<string, unknown>) {
  const config = loadConfigText(JSON.stringify({ checks: [{ name: 'backup', type: 'push', token: TOKEN, ...keys }] }), 'kw.yaml', { env: {} });
  return config.checks[0];
}

/** Runs the check at `now` as the agent would, judged by its thresholds, with `state`. */
function runAt(keys: Record<string, unknown>, state: CheckState, now: number) {
  return runCheckOnce(compile(keys), { log, now: () => now, state });
}

function problems(keys: Record<string, unknown>): string[] {
  try {
    compile(keys);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map(formatProblem);
    throw err;
  }
}

const push = (state: CheckState, p: Partial<PushRecord> & { at: number }) => state.set(LAST_PUSH_KEY, { status: 'ok', count: 1, ...p });

describe('config', () => {
  test('period and token are required; the token must be long and without spaces', () => {
    expect(problems({ period: '1h' })).toEqual([]);
    expect(problems({ period: '1h', token: undefined })).toEqual([expect.stringMatching(/checks\[0\]\.token: required/)]);
    expect(problems({ token: TOKEN })).toEqual([expect.stringMatching(/period/)]);
    expect(problems({ period: '1h', token: 'short-token' })).toEqual([expect.stringMatching(/token must be at least 16 characters \(generate one with: openssl rand -hex 24\)/)]);
    expect(problems({ period: '1h', token: 'has a space in it, 32 chars long' })).toEqual([expect.stringMatching(/must not contain spaces/)]);
    expect(problems({ period: '500ms' })).toEqual([expect.stringMatching(/period: must be at least 1s/)]);
  });

  test('the token is a secret of the config (scrubbed from logs and messages)', () => {
    const config = loadConfigText(JSON.stringify({ checks: [{ name: 'b', type: 'push', period: '1h', token: TOKEN }] }), 'kw.yaml', { env: {} });
    expect([...config.secrets]).toContain(TOKEN);
  });

  test('grace defaults to a tenth of the period, at least a minute', () => {
    expect(graceOf({ period: 24 * H })).toBe(144 * M);
    expect(graceOf({ period: H })).toBe(6 * M);
    expect(graceOf({ period: 5 * M })).toBe(M);
    expect(graceOf({ period: 2 * S, grace: S })).toBe(S);
    expect(graceOf({ period: H, grace: 0 })).toBe(0);
  });

  test('it runs every 30s unless told otherwise', () => {
    expect(compile({ period: '1d' }).schedule).toEqual({ kind: 'every', everyMs: 30 * S });
    expect(compile({ period: '1d', every: '5s' }).schedule).toEqual({ kind: 'every', everyMs: 5 * S });
  });
});

describe('run', () => {
  const keys = { period: '1h', grace: '10m' };

  test('never pushed: ok while waiting, the clock starting at the first run; critical once period + grace have passed', async () => {
    const state = new CheckStates(store).for('backup');
    const first = await runAt(keys, state, T0);
    expect(first.statusText).toBe('ok');
    expect(first.values).toEqual({ secondsSinceLast: 0, late: false, pushedStatus: 'none', pushes: 0 });
    expect(first.message).toBe('no push yet: waiting for the first push since 2026-12-01T02:00:00Z (expected every 1h + 10m grace)');
    expect(await state.get(FIRST_SEEN_KEY)).toBe(T0);

    const later = await runAt(keys, state, T0 + 70 * M);
    expect(later.statusText).toBe('ok');
    expect(later.values).toMatchObject({ secondsSinceLast: 4200, late: false });
    expect(await state.get(FIRST_SEEN_KEY)).toBe(T0); // not moved by later runs

    const late = await runAt(keys, state, T0 + 70 * M + 1);
    expect(late).toMatchObject({ statusText: 'critical', up: false, reason: 'timeout' });
    expect(late.values).toMatchObject({ late: true, pushes: 0, pushedStatus: 'none' });
    expect(late.message).toBe('no push received since 2026-12-01T02:00:00Z, 1h10m (expected every 1h + 10m grace)');
  });

  test('on time: ok with the push\'s message, duration and count', async () => {
    const state = new CheckStates(store).for('backup');
    await push(state, { at: T0, message: '41 GB dumped', durationMs: 38 * M + 400, count: 7 });
    const r = await runAt(keys, state, T0 + 5 * M);
    expect(r.statusText).toBe('ok');
    expect(r.values).toEqual({ secondsSinceLast: 300, late: false, pushedStatus: 'ok', durationMs: 38 * M + 400, pushes: 7 });
    expect(r.message).toBe('last push ok 5m ago at 2026-12-01T02:00:00Z, took 38m: 41 GB dumped');
  });

  test('the grace edge: exactly period + grace is on time, a millisecond more is late', async () => {
    const state = new CheckStates(store).for('backup');
    await push(state, { at: T0 });
    expect((await runAt(keys, state, T0 + 70 * M)).statusText).toBe('ok');
    const late = await runAt(keys, state, T0 + 70 * M + 1);
    expect(late).toMatchObject({ statusText: 'critical', up: false, reason: 'timeout' });
    expect(late.values).toMatchObject({ late: true, secondsSinceLast: 4200.001 });
    expect(late.message).toBe('late: no push for 1h10m (expected every 1h + 10m grace); last push ok 1h10m ago at 2026-12-01T02:00:00Z');
    // A fresh push makes it ok again.
    await push(state, { at: T0 + 71 * M, count: 2 });
    expect((await runAt(keys, state, T0 + 71 * M)).statusText).toBe('ok');
  });

  test('the default grace applies when none is set', async () => {
    const state = new CheckStates(store).for('backup');
    await push(state, { at: T0 });
    expect((await runAt({ period: '1h' }, state, T0 + 66 * M)).statusText).toBe('ok');
    expect((await runAt({ period: '1h' }, state, T0 + 66 * M + S)).statusText).toBe('critical');
  });

  test('a pushed warn or crit sets the status by the default thresholds; lateness outranks it', async () => {
    const state = new CheckStates(store).for('backup');
    await push(state, { at: T0, status: 'warn', message: 'disk 91%' });
    const warn = await runAt(keys, state, T0 + M);
    expect(warn).toMatchObject({ statusText: 'warning', up: true, condition: 'pushedStatus == "warn"' });
    expect(warn.message).toContain('last push warn 1m ago');
    await push(state, { at: T0, status: 'crit', message: 'exit 3: pg_dump: connection refused' });
    const crit = await runAt(keys, state, T0 + M);
    expect(crit).toMatchObject({ statusText: 'critical', up: true, condition: 'pushedStatus == "crit"' });
    expect(crit.message).toMatch(/: exit 3: pg_dump: connection refused \(pushedStatus == "crit"\)$/);
    expect(await runAt(keys, state, T0 + 2 * H)).toMatchObject({ statusText: 'critical', up: false, reason: 'timeout' });
  });

  test('lateness stays critical when the user replaces the crit thresholds', async () => {
    const state = new CheckStates(store).for('backup');
    await push(state, { at: T0, durationMs: 5 * M });
    const own = { ...keys, crit: 'durationMs > 1h' };
    expect((await runAt(own, state, T0 + M)).statusText).toBe('ok');
    expect((await runAt(own, state, T0 + 3 * H)).statusText).toBe('critical');
  });

  test('a restart keeps the last push and the first-seen clock (state in the store)', async () => {
    const states = new CheckStates(store);
    await runAt(keys, states.for('waiting'), T0);
    await push(states.for('backup'), { at: T0, status: 'warn', message: 'slow', count: 3 });
    store.close();

    store = Store.open(dir.dir);
    const again = new CheckStates(store);
    const r = await runAt(keys, again.for('backup'), T0 + 30 * M);
    expect(r).toMatchObject({ statusText: 'warning', values: { pushes: 3, pushedStatus: 'warn', secondsSinceLast: 1800 } });
    expect(r.message).toBe('last push warn 30m ago at 2026-12-01T02:00:00Z: slow (pushedStatus == "warn")');
    const waiting = await runAt(keys, again.for('waiting'), T0 + 71 * M);
    expect(waiting).toMatchObject({ statusText: 'critical', reason: 'timeout' });
    expect(waiting.message).toMatch(/^no push received since 2026-12-01T02:00:00Z/);
  });

  test('without a store the message says pushes are kept in memory only', async () => {
    const r = await runAt(keys, memoryState(), T0);
    expect(r.statusText).toBe('ok');
    expect(r.message).toMatch(/\(pushes are kept in memory only: this run or agent has no store\)$/);
  });

  test('a stored row that is not a push is taken as none', async () => {
    const state = new CheckStates(store).for('backup');
    await state.set(LAST_PUSH_KEY, { at: 'yesterday' });
    const r = await runAt(keys, state, T0);
    expect(r.values).toMatchObject({ pushes: 0, pushedStatus: 'none' });
  });

  test('a push from the future (clock skew) is on time and says so', async () => {
    const state = new CheckStates(store).for('backup');
    await push(state, { at: T0 + 2 * M });
    const r = await pushCheck.run({ name: 'backup', spec: pushCheck.schema.parse({ ...keys, token: TOKEN }), signal: new AbortController().signal, timeoutMs: 1000, log, now: () => T0, holdsSecret: () => false, state });
    expect(r.up).toBeUndefined();
    expect(r.message).toMatch(/^last push ok 2m in the future \(clock skew\?\)/);
  });
});
