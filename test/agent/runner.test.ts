import { execFile } from 'node:child_process';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Status } from '../../agent/evaluate';
import { createLogger } from '../../agent/logger';
import { packageRoot } from '../../agent/paths';
import { strayOrigin } from '../../agent/process-guard';
import { ABORT_GRACE_MS, runCheckOnce } from '../../agent/runner';
import { setSecrets } from '../../agent/secrets';
import { targetDown } from '../../checks/types';
import { checkConfig, sleep } from '../helpers/fake-checks';

function capture() {
  const lines: string[] = [];
  const log = createLogger({
    level: 'debug',
    destination: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) as never,
  });
  return { log, lines };
}

/**
 * Advances the fake clock by `ms` and says when, on that clock, `p` settled (undefined if it
 * has not): the runner's timeout and grace are timers, so on fake time they are exact.
 */
async function settleTime(p: Promise<unknown>, ms: number): Promise<number | undefined> {
  let at: number | undefined;
  p.then(() => (at = Date.now()), () => (at = Date.now()));
  await jest.advanceTimersByTimeAsync(ms);
  return at;
}

afterEach(() => jest.useRealTimers());

describe('runCheckOnce', () => {
  test('judges the observation with the check\'s rules', async () => {
    const { log } = capture();
    const ok = await runCheckOnce(checkConfig('a', async () => ({ values: { value: 1 }, message: 'fine' })), { log });
    expect(ok).toMatchObject({ check: 'a', status: Status.Ok, statusText: 'ok', up: true, message: 'fine', values: { value: 1 } });
    expect(ok.reason).toBeUndefined();
    const bad = await runCheckOnce(checkConfig('a', async () => ({ values: { value: 5 }, message: 'high' })), { log });
    expect(bad).toMatchObject({ status: Status.Critical, reason: 'threshold', condition: 'value > 1', message: 'high (value > 1)' });
    const warn = await runCheckOnce(
      checkConfig('a', async () => ({ values: { value: 5 }, message: 'high' }), { warn: ['value > 2'], crit: ['value > 10'] }),
      { log },
    );
    expect(warn.status).toBe(Status.Warning);
  });

  test('a target that did not answer is critical and not up', async () => {
    const { log } = capture();
    const r = await runCheckOnce(checkConfig('a', async () => targetDown('refused', 'connect ECONNREFUSED')), { log });
    expect(r).toMatchObject({ status: Status.Critical, up: false, reason: 'refused' });
  });

  test('a check that throws is unknown with reason error', async () => {
    const { log } = capture();
    const r = await runCheckOnce(checkConfig('a', async () => { throw new Error('permission denied: /var/run/x.pid'); }), { log });
    expect(r).toMatchObject({ status: Status.Unknown, statusText: 'unknown', up: false, reason: 'error' });
    expect(r.message).toBe('check failed: permission denied: /var/run/x.pid');
  });

  test('a check that honours its signal times out as critical with reason timeout', async () => {
    jest.useFakeTimers({ now: 0 });
    const { log } = capture();
    const run = runCheckOnce(checkConfig('a', async ({ signal }) => {
      await sleep(5000, signal);
      return { values: {}, message: 'never' };
    }, { timeoutMs: 150 }), { log });
    expect(await settleTime(run, 1000)).toBe(150); // at its timeout, not after the grace
    expect(await run).toMatchObject({ status: Status.Critical, reason: 'timeout', up: false });
  });

  test('a hung check that ignores its signal is abandoned at the timeout, and logged when it finally ends', async () => {
    jest.useFakeTimers({ now: 0 });
    const { log, lines } = capture();
    const run = runCheckOnce(checkConfig('hung', async () => {
      await sleep(400); // ignores the signal
      return { values: { value: 0 }, message: 'too late' };
    }, { timeoutMs: 100 }), { log });
    expect(await settleTime(run, 100 + ABORT_GRACE_MS)).toBe(100 + ABORT_GRACE_MS);
    expect(await run).toMatchObject({ status: Status.Critical, reason: 'timeout', message: 'no result within 100 ms' });
    expect(lines.join('')).not.toMatch(/check finished after its timeout/);
    await jest.advanceTimersByTimeAsync(400 - (100 + ABORT_GRACE_MS));
    expect(lines.join('')).toMatch(/check finished after its timeout/);
  });

  test('a check that answers its abort within the grace keeps its own verdict and message', async () => {
    jest.useFakeTimers({ now: 0 });
    const { log, lines } = capture();
    const run = runCheckOnce(checkConfig('banner', async ({ signal }) => {
      await sleep(5000, signal).catch(() => undefined);
      // e.g. tcp: some bytes came but never the expected banner
      return { values: { value: 0 }, message: 'got "HTTP/1.1" but expected SSH' };
    }, { timeoutMs: 100, crit: ['value < 1'] }), { log });
    expect(await settleTime(run, 100)).toBe(100);
    expect(await run).toMatchObject({ status: Status.Critical, up: true, reason: 'threshold', message: 'got "HTTP/1.1" but expected SSH (value < 1)' });
    await jest.advanceTimersByTimeAsync(ABORT_GRACE_MS + 5000);
    expect(lines.join('')).not.toMatch(/ignores its abort signal/);
  });

  test('stopping the agent aborts a run in flight', async () => {
    jest.useFakeTimers({ now: 0 });
    const { log } = capture();
    const stop = new AbortController();
    const p = runCheckOnce(checkConfig('a', async ({ signal }) => {
      await sleep(5000, signal);
      return { values: {}, message: 'never' };
    }, { timeoutMs: 10_000 }), { log, signal: stop.signal });
    setTimeout(() => stop.abort(new Error('stopping')), 50);
    expect(await settleTime(p, 100)).toBe(50);
    const r = await p;
    expect(r.status).toBe(Status.Unknown);
    expect(r.message).toMatch(/stopping/);
  });

  describe('secrets in what a check says', () => {
    const TOKEN = 'kw-admin-9f8e7d6c5b4a3210';
    beforeEach(() => setSecrets([TOKEN]));
    afterEach(() => setSecrets([]));

    test('a message the check cut inside a token (as tcp cuts a reply) keeps no piece of it, before the condition is added', async () => {
      const { log } = capture();
      const reply = `user=probe token=${TOKEN} rest`.slice(0, 37); // the check's own 37-character cut
      const run = async () => ({ values: { value: 5 }, message: `reply does not match: ${JSON.stringify(reply)}` });
      const r = await runCheckOnce(checkConfig('a', run), { log });
      expect(r.message).toBe('reply does not match: "user=probe token=[REDACTED]" (value > 1)');
    });

    test('a thrown message and string values are scrubbed too', async () => {
      const { log } = capture();
      const thrown = await runCheckOnce(checkConfig('a', async () => { throw new Error(`pidfile holds "${TOKEN.slice(0, 20)}"`); }), { log });
      expect(thrown.message).toBe('check failed: pidfile holds "[REDACTED]"');
      const values = await runCheckOnce(checkConfig('a', async () => ({ values: { value: 0, who: `${TOKEN}`, n: 'x' } as never, message: 'ok' })), { log });
      expect(values.values).toEqual({ value: 0, who: '[REDACTED]', n: 'x' });
    });
  });
});

describe('a check cannot take the agent down', () => {
  test('a synchronous throw, a non-observation and a rejection with nothing are unknown runs', async () => {
    const { log } = capture();
    const sync = await runCheckOnce(checkConfig('sync', (() => { throw new Error('boom'); }) as never), { log });
    expect(sync).toMatchObject({ status: Status.Unknown, reason: 'error', message: 'check failed: boom' });
    for (const answer of [undefined, null, 42, { message: 'no values' }, { values: {} }]) {
      const r = await runCheckOnce(checkConfig('odd', (async () => answer) as never), { log });
      expect(r).toMatchObject({ status: Status.Unknown, reason: 'error', message: 'check failed: the check returned no observation (values and message)' });
    }
    const nothing = await runCheckOnce(checkConfig('nothing', (() => Promise.reject(undefined)) as never), { log });
    expect(nothing).toMatchObject({ status: Status.Unknown, message: 'check failed: the check failed without saying why' });
  });

  // Jest catches uncaught errors itself, so these run the built agent in a process of their own.
  const strays = async (...args: string[]) => {
    const { stdout, stderr, code } = await new Promise<{ stdout: string; stderr: string; code: number | null }>((resolve) => {
      const child = execFile(process.execPath, [path.join(__dirname, '../fixtures/stray-errors/main.js'), path.join(packageRoot(), 'dist/agent'), ...args], (err, out, errOut) =>
        resolve({ stdout: out, stderr: errOut, code: child.exitCode }));
    });
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    return stdout.trim().split('\n').map((l) => JSON.parse(l));
  };

  test('errors that escape every listener (a socket error event, a throw in a callback, a lost rejection) are counted; the agent carries on', async () => {
    const out = await strays();
    // Not traced to their run (that would cost every run CPU): the run ends at its timeout.
    expect(out.slice(0, 3).map((r) => [r.check, r.status, r.reason])).toEqual([
      ['socket', 'critical', 'timeout'],
      ['callback', 'critical', 'timeout'],
      ['lost', 'critical', 'timeout'],
    ]);
    const { counts, exits, log } = out[3];
    expect(exits).toEqual([]);
    // The lost rejection was made in a function the runner called: our innermost frame is agent/.
    expect(counts).toEqual(['agent/rejection', 'io/exception', 'io/exception']);
    expect(log.filter((l: { source?: string }) => l.source)).toEqual([
      { level: 'error', source: 'io', msg: "uncaught error outside the agent's own code; carrying on (a bug; please report it)", err: expect.stringMatching(/ECONNRESET|EPIPE/) },
      { level: 'error', source: 'io', msg: "uncaught error outside the agent's own code; carrying on (a bug; please report it)", err: 'Invalid string length' },
      { level: 'error', source: 'agent', msg: 'unhandled promise rejection (a bug; please report it)', err: 'nobody listens' },
    ]);
  });

  test("an exception made in the agent's own code is fatal (exit 70, to restart from the store); a rejection is not", async () => {
    const [{ counts, exits, log }] = await strays('agent-bug');
    expect(counts).toEqual(['agent/exception', 'io/rejection']);
    expect(exits).toEqual([70]);
    expect(log).toContainEqual(expect.objectContaining({ level: 'fatal', err: expect.stringMatching(/expected an operator/) }));
    expect(log).toContainEqual(expect.objectContaining({ level: 'error', msg: 'unhandled promise rejection (a bug; please report it)', err: 'agent rejection' }));
  });

  test('where a stray error was made: the innermost of our own frames decides', () => {
    const at = (...files: string[]) => Object.assign(new Error('x'), { stack: ['Error: x', ...files.map((f) => `    at fn (${f}:1:2)`)].join('\n') });
    const root = '/opt/keepwatch/dist';
    expect(strayOrigin(at('node:internal/stream_base_commons', '/opt/keepwatch/dist/checks/http/body.js', '/opt/keepwatch/dist/agent/runner.js'), root)).toEqual({ source: 'check', checkType: 'http' });
    expect(strayOrigin(at('/opt/keepwatch/node_modules/axios/lib/x.js', '/opt/keepwatch/dist/agent/store/store.js'), root)).toEqual({ source: 'agent' });
    expect(strayOrigin(at('/opt/keepwatch/dist/checks/proc-table.js'), root)).toEqual({ source: 'check', checkType: undefined });
    expect(strayOrigin(at('node:net', 'node:internal/process/task_queues'), root)).toEqual({ source: 'io' });
    expect(strayOrigin(at('/opt/other/agent/x.js'), root)).toEqual({ source: 'io' });
    expect(strayOrigin('a string', root)).toEqual({ source: 'io' });
    expect(strayOrigin(Object.assign(new Error('y'), { stack: 'Error: y\n    at /opt/keepwatch/dist/agent/agent.js:3:4' }), root)).toEqual({ source: 'agent' });
  });

  test('a check is told which text holds a configured secret', async () => {
    const { log } = capture();
    setSecrets(['s3cr3t-db-password']);
    try {
      const seen: boolean[] = [];
      await runCheckOnce(checkConfig('a', async ({ holdsSecret }) => {
        seen.push(holdsSecret('Basic s3cr3t-db-password'), holdsSecret('nothing here'));
        return { values: { value: 0 }, message: 'ok' };
      }), { log });
      expect(seen).toEqual([true, false]);
    } finally {
      setSecrets([]);
    }
  });
});
