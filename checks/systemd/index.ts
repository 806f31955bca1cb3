import { z } from 'zod';
import { defineCheck, formatDuration, round, targetDown, type FieldSpec, type Thresholds, type Value } from '../types';
import { cannotAsk, firstLine, parseShow, runShow, UNIT_NAME, unitName } from './show';

const schema = z.strictObject({
  unit: z.string().regex(UNIT_NAME, { message: 'expected a unit name such as nginx.service, backup.timer or getty@tty1 (letters, digits and :_.@-\\, not starting with -)' })
    .describe('The unit: nginx.service, backup.timer, var-lib.mount; a name without a unit suffix is a service (nginx = nginx.service).'),
  expect: z.enum(['active', 'success', 'inactive']).default('active')
    .describe('What is healthy, as the default crit: active (running; default), success (a oneshot or timer-run job: not failed and its last Result success), inactive (must not run).'),
  user: z.boolean().default(false)
    .describe('Ask the agent\'s own user manager (systemctl --user) instead of the system manager.'),
});

type SystemdSpec = z.output<typeof schema>;

const FIELDS: Record<string, FieldSpec> = {
  active: { type: 'boolean', help: 'Whether ActiveState is active' },
  activeState: { type: 'string', help: 'ActiveState: active, reloading, inactive, failed, activating, deactivating, maintenance' },
  subState: { type: 'string', help: 'SubState, by unit type: running, exited, dead, failed, auto-restart, listening, waiting, mounted, …' },
  loadState: { type: 'string', help: 'LoadState: loaded, not-found, bad-setting, error, masked' },
  result: { type: 'string', help: 'Result of the last run: success, exit-code, signal, core-dump, timeout, watchdog, start-limit-hit, oom-kill, …' },
  restarts: { type: 'number', unit: 'count', help: 'Automatic restarts (NRestarts) since the unit was last started by hand; services only' },
  secondsInState: { type: 'number', unit: 'seconds', help: 'Time since the unit last changed state (StateChangeTimestampMonotonic); absent when it never did' },
  mainPid: { type: 'number', unit: 'none', help: 'PID of the main process (MainPID), 0 when none; services only' },
  exitStatus: { type: 'number', unit: 'none', help: 'Exit status (or signal number) of the main process\'s last run (ExecMainStatus); services only' },
};

/** The default crit of each `expect`. */
export function expectThresholds(spec: Pick<SystemdSpec, 'expect'>): Thresholds {
  switch (spec.expect) {
    case 'success': return { crit: ['activeState == "failed"', 'result != "success"'] };
    case 'inactive': return { crit: ['activeState != "inactive"'] };
    default: return { crit: ['activeState != "active"'] };
  }
}

/** CLOCK_MONOTONIC in microseconds: the clock of systemd's *TimestampMonotonic properties (libuv's hrtime on Linux). */
function monotonicMicros(): bigint {
  return process.hrtime.bigint() / 1000n;
}

/** The values of a unit from its `systemctl show` properties. */
export function unitValues(props: Record<string, string>, nowMicros: bigint): Record<string, Value> {
  const values: Record<string, Value> = {};
  const str = (key: string, prop: string) => {
    if (props[prop] !== undefined && props[prop] !== '') values[key] = props[prop];
  };
  const num = (key: string, prop: string) => {
    const v = props[prop];
    if (v !== undefined && /^-?\d+$/.test(v)) values[key] = Number(v);
  };
  str('activeState', 'ActiveState');
  values.active = props.ActiveState === 'active';
  str('subState', 'SubState');
  str('loadState', 'LoadState');
  str('result', 'Result');
  num('restarts', 'NRestarts');
  num('mainPid', 'MainPID');
  num('exitStatus', 'ExecMainStatus');
  const changed = props.StateChangeTimestampMonotonic;
  if (changed !== undefined && /^\d+$/.test(changed) && changed !== '0') {
    values.secondsInState = round(Number(nowMicros - BigInt(changed)) / 1e6, 1);
  }
  return values;
}

/** Checks a systemd unit's state with `systemctl show`. */
export const systemdCheck = defineCheck({
  type: 'systemd',
  category: 'health',
  summary: 'Checks a systemd unit with systemctl show: active, activeState, subState, loadState, result, restarts (NRestarts), secondsInState, mainPid, exitStatus. Not active (or, with expect, failed / running) is critical; no such unit is critical.',
  schema,
  fields: FIELDS,
  defaults: expectThresholds,
  async run({ spec, signal, timeoutMs }) {
    const unit = unitName(spec.unit);
    const systemctl = spec.user ? 'systemctl --user' : 'systemctl';
    const r = await runShow(unit, spec.user, signal);
    if (r.spawnError) {
      if (r.spawnError.code === 'ENOENT') throw new Error('systemctl is not installed or not in the agent\'s PATH: install systemd (Debian, Ubuntu: apt-get install systemd), or use a process check on a host without it');
      if (r.spawnError.code === 'EACCES') throw new Error('systemctl may not be run by the agent\'s user: grant it execute permission on systemctl');
      throw new Error(`could not run systemctl: ${r.spawnError.message}`);
    }
    if (r.aborted) return targetDown('timeout', `${systemctl} show ${unit}: no answer within ${formatDuration(timeoutMs)} (systemd busy or hung)`);
    const why = cannotAsk(r.stderr, spec.user);
    if (why) throw new Error(why);
    const props = parseShow(r.stdout);
    if (r.code !== 0 || props.LoadState === undefined || props.ActiveState === undefined) {
      throw new Error(`${systemctl} show ${unit} failed: ${firstLine(r.stderr) || firstLine(r.stdout) || `exit status ${r.code}`}`);
    }

    const values = unitValues(props, monotonicMicros());
    if (props.LoadState === 'not-found') {
      return targetDown('error', `no unit named ${unit}${spec.user ? ' in the agent\'s user manager' : ''} (LoadState not-found)`, values);
    }
    const parts = [`${unit}: ${props.ActiveState}/${props.SubState ?? '?'}`];
    if (props.LoadState !== 'loaded') parts.push(`load state ${props.LoadState}`);
    if (props.Result && props.Result !== 'success') parts.push(`result ${props.Result}`);
    if (typeof values.exitStatus === 'number' && values.exitStatus !== 0 && props.Result !== 'success') parts.push(`exit status ${values.exitStatus}`);
    if (typeof values.secondsInState === 'number') parts.push(`for ${formatDuration(Math.round(Math.max(0, values.secondsInState)) * 1000)}`);
    if (typeof values.restarts === 'number' && values.restarts > 0) parts.push(`${values.restarts} restart${values.restarts === 1 ? '' : 's'}`);
    if (typeof values.mainPid === 'number' && values.mainPid > 0) parts.push(`pid ${values.mainPid}`);
    return { values, message: parts.join(', ') };
  },
});
