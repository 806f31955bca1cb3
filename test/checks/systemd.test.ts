import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseCondition } from '../../agent/evaluate';
import { systemdCheck, unitValues } from '../../checks/systemd';
import { parseShow, PROPERTIES, unitName } from '../../checks/systemd/show';
import type { Observation, Thresholds, Value } from '../../checks/types';
import { runCheck, startRun } from '../helpers/check';

// This machine has systemd 252's systemctl but systemd is not PID 1, so the "not running" path
// is tested against the real systemctl. The running-systemd paths use a stand-in `systemctl`
// first in PATH that prints `systemctl show` output in systemd 252's format: properties in the
// order the manager's D-Bus vtables list them (the Service interface's before the Unit's),
// `Key=Value` a line. These are written to that format, not captured from a live systemd.

/** CLOCK_MONOTONIC now in µs, as systemd's *TimestampMonotonic properties count. */
const monoNow = () => process.hrtime.bigint() / 1000n;
const HOUR_US = 3_600_000_000n;
// The fixtures' state changes lie this far back: short, since CLOCK_MONOTONIC starts at boot
// (a fresh CI machine may be up for less than a minute).
const SECOND_US = 1_000_000n;

const show = (p: Record<string, string | number | bigint>) => Object.entries(p).map(([k, v]) => `${k}=${v}`).join('\n') + '\n';

const ACTIVE_RUNNING = () => show({
  MainPID: 812, Result: 'success', NRestarts: 0, ExecMainStatus: 0,
  LoadState: 'loaded', ActiveState: 'active', SubState: 'running', StateChangeTimestampMonotonic: monoNow() - 2n * SECOND_US,
});
const FAILED = () => show({
  MainPID: 0, Result: 'exit-code', NRestarts: 5, ExecMainStatus: 1,
  LoadState: 'loaded', ActiveState: 'failed', SubState: 'failed', StateChangeTimestampMonotonic: monoNow() - SECOND_US,
});
const AUTO_RESTART = () => show({
  MainPID: 0, Result: 'exit-code', NRestarts: 3, ExecMainStatus: 2,
  LoadState: 'loaded', ActiveState: 'activating', SubState: 'auto-restart', StateChangeTimestampMonotonic: monoNow() - SECOND_US,
});
const ONESHOT_DONE = () => show({
  MainPID: 0, Result: 'success', NRestarts: 0, ExecMainStatus: 0,
  LoadState: 'loaded', ActiveState: 'inactive', SubState: 'dead', StateChangeTimestampMonotonic: monoNow() - 3n * SECOND_US,
});
const NOT_FOUND = show({
  MainPID: 0, Result: 'success', NRestarts: 0, ExecMainStatus: 0,
  LoadState: 'not-found', ActiveState: 'inactive', SubState: 'dead', StateChangeTimestampMonotonic: 0,
});
// A timer has no MainPID, NRestarts or ExecMainStatus: systemctl leaves them out.
const TIMER_WAITING = () => show({
  Result: 'success', LoadState: 'loaded', ActiveState: 'active', SubState: 'waiting', StateChangeTimestampMonotonic: monoNow() - SECOND_US,
});

let fake: string;
const realPath = process.env.PATH;

beforeAll(() => {
  fake = mkdtempSync(path.join(os.tmpdir(), 'kw-systemctl-'));
  // The stand-in records its argv, prints the prepared stdout/stderr and exits with the prepared status.
  writeFileSync(path.join(fake, 'systemctl'), `#!/bin/sh
printf '%s\\n' "$@" > "${fake}/args"
echo $$ > "${fake}/pid"
if [ -f "${fake}/hang" ]; then exec sleep 30; fi
cat "${fake}/stdout"
cat "${fake}/stderr" >&2
exit "$(cat "${fake}/code")"
`);
  chmodSync(path.join(fake, 'systemctl'), 0o755);
});
afterAll(() => rmSync(fake, { recursive: true, force: true }));

function standIn(stdout: string, opts: { stderr?: string; code?: number; hang?: boolean } = {}): void {
  writeFileSync(path.join(fake, 'stdout'), stdout);
  writeFileSync(path.join(fake, 'stderr'), opts.stderr ?? '');
  writeFileSync(path.join(fake, 'code'), String(opts.code ?? 0));
  if (opts.hang) writeFileSync(path.join(fake, 'hang'), '');
  else rmSync(path.join(fake, 'hang'), { force: true });
}

/** Runs the check against the stand-in. */
async function withStandIn<T>(fn: () => Promise<T>): Promise<T> {
  process.env.PATH = `${fake}:${realPath}`;
  try {
    return await fn();
  } finally {
    process.env.PATH = realPath;
  }
}

/** Whether the type's default crit fires on these values. */
function critFires(raw: Record<string, unknown>, values: Record<string, Value>): boolean {
  const spec = systemdCheck.schema.parse(raw);
  const crit = (systemdCheck.defaults as (s: unknown) => Thresholds)(spec).crit ?? [];
  return crit.some((c) => parseCondition(c, systemdCheck.fields as never).test(values) === true);
}

describe('systemd check against the real systemctl (systemd is not PID 1 here)', () => {
  it('is unknown, saying systemd is not running, where it is not; reports the unit where it is', async () => {
    const run = runCheck(systemdCheck, { unit: 'nginx.service' });
    if (existsSync('/run/systemd/system')) {
      await expect(run).resolves.toEqual(expect.objectContaining({ values: expect.objectContaining({ loadState: expect.any(String) }) }));
    } else {
      await expect(run).rejects.toThrow(/systemd is not running on this host \(PID 1 is not systemd/);
    }
  });
});

describe('systemd check against a stand-in systemctl', () => {
  it('asks systemctl show for the properties, without a pager, the unit after --', async () => {
    standIn(ACTIVE_RUNNING());
    await withStandIn(() => runCheck(systemdCheck, { unit: 'nginx' }));
    expect(readFileSync(path.join(fake, 'args'), 'utf8').trim().split('\n')).toEqual(['show', '--no-pager', `--property=${PROPERTIES.join(',')}`, '--', 'nginx.service']);
    await withStandIn(() => runCheck(systemdCheck, { unit: 'nginx', user: true }));
    expect(readFileSync(path.join(fake, 'args'), 'utf8').split('\n')[0]).toBe('--user');
  });

  it('active/running: values, numbers as numbers, time in state from the monotonic clock, no crit', async () => {
    standIn(ACTIVE_RUNNING());
    const obs = await withStandIn(() => runCheck(systemdCheck, { unit: 'nginx.service' }));
    expect(obs.up).toBeUndefined();
    expect(obs.values).toEqual(expect.objectContaining({
      active: true, activeState: 'active', subState: 'running', loadState: 'loaded', result: 'success', restarts: 0, mainPid: 812, exitStatus: 0,
    }));
    // 2s before the fixture was written, by the same clock; more by now, however loaded the machine.
    expect(obs.values.secondsInState).toBeGreaterThanOrEqual(2);
    expect(obs.message).toMatch(/^nginx\.service: active\/running, for \d+s, pid 812$/);
    expect(critFires({ unit: 'nginx' }, obs.values)).toBe(false);
  });

  it('failed with NRestarts=5: critical by default, restarts and exit status reported', async () => {
    standIn(FAILED());
    const obs = await withStandIn(() => runCheck(systemdCheck, { unit: 'worker' }));
    expect(obs.values).toEqual(expect.objectContaining({ active: false, activeState: 'failed', subState: 'failed', result: 'exit-code', restarts: 5, exitStatus: 1 }));
    expect(obs.message).toContain('result exit-code, exit status 1');
    expect(obs.message).toContain('5 restarts');
    expect(critFires({ unit: 'worker' }, obs.values)).toBe(true);
    expect(critFires({ unit: 'worker', expect: 'success' }, obs.values)).toBe(true);
    expect(parseCondition('restarts > 3', systemdCheck.fields as never).test(obs.values)).toBe(true);
  });

  it('activating/auto-restart (crash loop): critical with expect active', async () => {
    standIn(AUTO_RESTART());
    const obs = await withStandIn(() => runCheck(systemdCheck, { unit: 'worker.service' }));
    expect(obs.values).toEqual(expect.objectContaining({ active: false, activeState: 'activating', subState: 'auto-restart', restarts: 3 }));
    expect(critFires({ unit: 'worker' }, obs.values)).toBe(true);
  });

  it('a oneshot that exited with success is inactive/dead: critical for expect active, fine for expect success', async () => {
    standIn(ONESHOT_DONE());
    const obs = await withStandIn(() => runCheck(systemdCheck, { unit: 'backup.service', expect: 'success' }));
    expect(obs.values).toEqual(expect.objectContaining({ active: false, activeState: 'inactive', subState: 'dead', result: 'success' }));
    expect(obs.values.secondsInState).toBeGreaterThanOrEqual(3);
    expect(critFires({ unit: 'backup', expect: 'success' }, obs.values)).toBe(false);
    expect(critFires({ unit: 'backup' }, obs.values)).toBe(true);
    expect(critFires({ unit: 'backup', expect: 'inactive' }, obs.values)).toBe(false);
  });

  it('expect inactive fires on a running unit', () => {
    expect(critFires({ unit: 'telnet', expect: 'inactive' }, { activeState: 'active' })).toBe(true);
    expect(critFires({ unit: 'telnet', expect: 'inactive' }, { activeState: 'failed' })).toBe(true);
  });

  it('no such unit (LoadState not-found) is a failed target', async () => {
    standIn(NOT_FOUND);
    const obs = await withStandIn(() => runCheck(systemdCheck, { unit: 'nosuch' }));
    expect(obs.up).toBe(false);
    expect(obs.failure).toBe('error');
    expect(obs.message).toBe('no unit named nosuch.service (LoadState not-found)');
    expect(obs.values.loadState).toBe('not-found');
    expect(obs.values.secondsInState).toBeUndefined();
  });

  it('a timer: the properties it lacks are absent, not zero', async () => {
    standIn(TIMER_WAITING());
    const obs = await withStandIn(() => runCheck(systemdCheck, { unit: 'backup.timer' }));
    expect(obs.values.active).toBe(true);
    expect(obs.values.subState).toBe('waiting');
    expect(obs.values).not.toHaveProperty('restarts');
    expect(obs.values).not.toHaveProperty('mainPid');
    expect(readFileSync(path.join(fake, 'args'), 'utf8')).toContain('backup.timer\n');
  });

  it.each([
    ['permission denied', 'Failed to get properties: Access denied\n', false, /polkit/],
    ['no user manager', 'Failed to connect to bus: No medium found\n', true, /loginctl enable-linger/],
    ['systemd not PID 1', "System has not been booted with systemd as init system (PID 1). Can't operate.\nFailed to connect to bus: Host is down\n", false, /systemd is not running/],
    ['anything else', 'Something odd\n', false, /systemctl show x\.service failed: Something odd/],
  ])('%s is unknown with a message saying what to do', async (_, stderr, user, message) => {
    standIn('', { stderr, code: 1 });
    await expect(withStandIn(() => runCheck(systemdCheck, { unit: 'x', user }))).rejects.toThrow(message);
  });

  it('without systemctl is unknown, saying to install systemd', async () => {
    const empty = mkdtempSync(path.join(os.tmpdir(), 'kw-nopath-'));
    process.env.PATH = empty;
    try {
      await expect(runCheck(systemdCheck, { unit: 'nginx' })).rejects.toThrow(/systemctl is not installed.*install systemd/);
    } finally {
      process.env.PATH = realPath;
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('a hanging systemctl is killed at the timeout: a timeout result, the child gone', async () => {
    standIn('', { hang: true });
    rmSync(path.join(fake, 'pid'), { force: true });
    process.env.PATH = `${fake}:${realPath}`;
    let obs: Observation;
    try {
      const { run, abort } = startRun(systemdCheck, { unit: 'nginx' }, { timeoutMs: 1000 });
      while (!existsSync(path.join(fake, 'pid'))) await new Promise((r) => setTimeout(r, 20));
      const pid = Number(readFileSync(path.join(fake, 'pid'), 'utf8'));
      abort();
      obs = await run;
      expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    } finally {
      process.env.PATH = realPath;
    }
    expect(obs.up).toBe(false);
    expect(obs.failure).toBe('timeout');
    expect(obs.message).toBe('systemctl show nginx.service: no answer within 1s (systemd busy or hung)');
  });
});

describe('systemd unit names and output', () => {
  it('time in state is CLOCK_MONOTONIC now minus StateChangeTimestampMonotonic, absent when 0', () => {
    const now = 10n * HOUR_US;
    const props = parseShow(show({ ActiveState: 'active', StateChangeTimestampMonotonic: now - HOUR_US - 500_000n, NRestarts: 7, MainPID: 0 }));
    expect(unitValues(props, now)).toEqual({ active: true, activeState: 'active', secondsInState: 3600.5, restarts: 7, mainPid: 0 });
    expect(unitValues(parseShow('ActiveState=inactive\nStateChangeTimestampMonotonic=0\n'), now)).toEqual({ active: false, activeState: 'inactive' });
  });

  it('a name without a unit suffix is a service', () => {
    expect(unitName('nginx')).toBe('nginx.service');
    expect(unitName('getty@tty1')).toBe('getty@tty1.service');
    expect(unitName('backup.timer')).toBe('backup.timer');
    expect(unitName('php8.2-fpm')).toBe('php8.2-fpm.service');
  });

  it('refuses names systemd would not take, or that read as options', () => {
    for (const bad of ['-H host', 'a b', 'x;reboot', '', 'a'.repeat(300), 'nginx/../x']) {
      expect(systemdCheck.schema.safeParse({ unit: bad }).success).toBe(false);
    }
    expect(systemdCheck.schema.parse({ unit: 'nginx' })).toEqual({ unit: 'nginx', expect: 'active', user: false });
  });

  it('parses Key=Value lines, values holding =', () => {
    expect(parseShow('A=1\nB=x=y\n\nC=\n')).toEqual({ A: '1', B: 'x=y', C: '' });
  });
});
