import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { memoryState } from '../../agent/check-state';
import { parseCondition } from '../../agent/evaluate';
import { packageRoot } from '../../agent/paths';
import { gpuCheck, gpuValues } from '../../checks/gpu';
import { busKey, decodeThrottle, invalidField, num, parseQueryCsv, QUERY_FIELDS } from '../../checks/gpu/nvidia-smi';
import { countXids, parseKmsg, parseXidLine, xidSource } from '../../checks/gpu/xid';
import type { Observation, Value } from '../../checks/types';
import { NOBODY } from '../helpers/as-nobody';
import { runCheck, startRun } from '../helpers/check';

const FIXTURES = path.join(packageRoot(), 'test/fixtures/nvidia-smi-h200');
const fixture = (name: string) => readFileSync(path.join(FIXTURES, name), 'utf8');
/** The field list of the recorded query, from the command line its README gives. */
const RECORDED_FIELDS = /--query-gpu=(\S+) --format=csv,noheader,nounits/.exec(fixture('README.md'))![1].split(',');
const RECORDED_LINE = fixture('query-gpu.csv').trim();
const QUERY_ARGS = `--query-gpu=${RECORDED_FIELDS.join(',')} --format=csv,noheader,nounits`;
const KEYS = QUERY_FIELDS.map((f) => f.key);
const H200_UUID = 'GPU-37a858c7-e148-68d2-4ba3-18d11ac95448';

/** What the recorded H200 row gives: every value, exactly; fan speed and retired pages are [N/A], so absent. */
const H200_VALUES: Record<string, Value> = {
  utilizationPercent: 0,
  memoryUtilizationPercent: 0,
  memoryUsedPercent: 0,
  memoryUsedBytes: 0,
  memoryTotalBytes: 143771 * 1024 * 1024,
  temperatureC: 34,
  memoryTemperatureC: 35,
  powerW: 88.31,
  powerLimitW: 700,
  powerPercent: 12.6,
  smClockMHz: 345,
  smClockMaxMHz: 1980,
  pstate: 'P0',
  eccEnabled: true,
  eccCorrected: 0,
  eccUncorrected: 0,
  throttled: false,
  thermalThrottled: false,
  hwSlowdown: false,
  throttleReasons: 'gpu_idle',
};

describe('nvidia-smi query', () => {
  it('asks exactly the fields of the recorded H200 query, each a name this driver documents', () => {
    expect(QUERY_FIELDS.map((f) => f.names[0])).toEqual(RECORDED_FIELDS);
    const help = fixture('help-query-gpu.txt');
    for (const f of QUERY_FIELDS) for (const n of f.names) expect([n, help.includes(`"${n}"`)]).toEqual([n, true]);
    // The header of the same query has one column per field.
    expect(fixture('query-gpu-header.csv').split('\n')[0].split(', ')).toHaveLength(RECORDED_FIELDS.length);
  });

  it('parses the recorded H200 row, [N/A] as absent', () => {
    const rows = parseQueryCsv(fixture('query-gpu.csv'), KEYS);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ index: '0', name: 'NVIDIA H200', uuid: H200_UUID, 'pci.bus_id': '00000000:00:06.0', 'memory.total': '143771', 'power.draw': '88.31', throttle: '0x0000000000000001' });
    expect(rows[0]['fan.speed']).toBeUndefined();
    expect(rows[0]['retired_pages.pending']).toBeUndefined();
    expect(gpuValues(rows[0])).toEqual(H200_VALUES);
  });

  it('refuses a line with the wrong number of values', () => {
    expect(() => parseQueryCsv('0, NVIDIA H200, 34\n', KEYS)).toThrow(/3 values for 23 fields/);
  });

  it('reads the field an invalid-field error names', () => {
    expect(invalidField(fixture('bad-field.txt'))).toBe('bogus.field');
    expect(invalidField('No devices were found')).toBeUndefined();
  });

  it.each([['[N/A]'], ['[Not Supported]'], ['N/A'], ['[Unknown Error]'], ['12a'], [undefined]])('reads %s as no number', (raw) => {
    expect(num(raw)).toBeUndefined();
  });

  it.each([
    ['0x0000000000000000', [], false, false, false],
    ['0x0000000000000001', ['gpu_idle'], false, false, false],
    ['0x0000000000000004', ['sw_power_cap'], true, false, false],
    ['0x0000000000000008', ['hw_slowdown'], true, false, true],
    ['0x0000000000000010', ['sync_boost'], false, false, false],
    ['0x0000000000000020', ['sw_thermal_slowdown'], true, true, false],
    ['0x0000000000000048', ['hw_slowdown', 'hw_thermal_slowdown'], true, true, true],
    ['0x0000000000000080', ['hw_power_brake_slowdown'], true, false, true],
    ['0x0000000000000102', ['applications_clocks_setting', 'display_clock_setting'], false, false, false],
    ['0x0000000000000201', ['gpu_idle', 'bit_0x200'], false, false, false],
  ])('decodes throttle mask %s', (raw, reasons, throttled, thermal, hardware) => {
    expect(decodeThrottle(raw)).toEqual({ reasons, throttled, thermal, hardware });
  });

  it('has no throttle state without a mask', () => {
    expect(decodeThrottle('[N/A]')).toBeUndefined();
    expect(decodeThrottle(undefined)).toBeUndefined();
  });

  it('reads nvidia-smi and kernel PCI addresses alike', () => {
    expect(busKey('00000000:00:06.0')).toBe(busKey('PCI:0000:00:06'));
    expect(busKey('00000000:3B:00.0')).toBe(busKey('PCI:0000:3b:00'));
    expect(busKey('00000000:3B:00.0')).not.toBe(busKey('00000000:3C:00.0'));
  });
});

describe('gpu config', () => {
  it('takes index or uuid, not both, and only a GPU UUID', () => {
    expect(gpuCheck.schema.parse({})).toEqual({ xid: true });
    expect(gpuCheck.schema.safeParse({ index: 0, uuid: H200_UUID }).success).toBe(false);
    expect(gpuCheck.schema.safeParse({ uuid: '0' }).success).toBe(false);
    expect(gpuCheck.schema.safeParse({ index: -1 }).success).toBe(false);
    expect(gpuCheck.schema.parse({ uuid: H200_UUID, xid: false })).toEqual({ uuid: H200_UUID, xid: false });
  });
});

describe('Xid lines', () => {
  const bus06 = busKey('00000000:00:06.0');
  const bus3b = busKey('00000000:3B:00.0');
  it.each([
    ["NVRM: Xid (PCI:0000:00:06): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.", { bus: bus06, xid: 79 }],
    ['NVRM: Xid (PCI:0000:3b:00): 48, pid=2811, name=python3, An uncorrectable double bit error (DBE) has been detected on GPU in the framebuffer at partition 6, subpartition 0.', { bus: bus3b, xid: 48 }],
    ['NVRM: Xid (PCI:0000:3b:00): 13, pid=31337, name=python, Graphics SM Warp Exception on (GPC 0, TPC 1, SM 0): Out Of Range Address', { bus: bus3b, xid: 13 }],
    ['NVRM: Xid (PCI:0000:00:06.0): 94, pid=1, name=train, Contained: CE User Channel (0x2). RST: No, D-RST: No', { bus: bus06, xid: 94 }],
    ['NVRM: Xid (0000:00:06): 31, Ch 00000010, engmask 00000101, intr 10000000', { bus: bus06, xid: 31 }],
    ['NVRM: GPU at PCI:0000:00:06: GPU-37a858c7-e148-68d2-4ba3-18d11ac95448', undefined],
    ['nvidia-nvswitch0: SXid (PCI:0000:00:00.0): 11001, Fatal, Link 0 ingress invalid command', undefined],
    ['NVRM: GPU 0000:00:06.0: RmInitAdapter failed! (0x62:0x55:2477)', undefined],
  ])('%s', (line, expected) => {
    expect(parseXidLine(line)).toEqual(expected);
  });

  it('reads /dev/kmsg records and skips their dictionary lines', () => {
    const text = '4,1207,98765432,-;NVRM: Xid (PCI:0000:00:06): 79, pid=0, GPU has fallen off the bus.\n SUBSYSTEM=pci\n DEVICE=+pci:0000:00:06.0\n6,1208,98765500,c;nvidia-modeset: ok\n';
    expect(parseKmsg(text)).toEqual([
      { seq: 1207, message: 'NVRM: Xid (PCI:0000:00:06): 79, pid=0, GPU has fallen off the bus.' },
      { seq: 1208, message: 'nvidia-modeset: ok' },
    ]);
  });
});

describe('Xid count', () => {
  let dir: string;
  const saved = { ...xidSource };
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'kw-xid-'));
    xidSource.kmsg = path.join(dir, 'kmsg');
    xidSource.bootId = path.join(dir, 'boot_id');
    writeFileSync(xidSource.bootId, 'boot-1\n');
  });
  afterEach(() => {
    Object.assign(xidSource, saved);
    rmSync(dir, { recursive: true, force: true });
  });

  it('counts this GPU\'s Xids since boot, then since the last run, and again since boot after a reboot', async () => {
    const state = memoryState();
    writeFileSync(xidSource.kmsg, [
      '6,1,0,-;Linux version 6.8.0',
      '4,2,100,-;NVRM: Xid (PCI:0000:00:06): 13, pid=1, name=a, Graphics Exception',
      '4,3,200,-;NVRM: Xid (PCI:0000:00:07): 79, pid=1, GPU has fallen off the bus.',
      '4,4,300,-;NVRM: Xid (PCI:0000:00:06): 31, pid=2, name=b, MMU Fault',
      '',
    ].join('\n'));
    expect(await countXids('00000000:00:06.0', state)).toEqual({ count: 2, last: 31, since: 'boot' });
    expect(await countXids('00000000:00:06.0', state)).toEqual({ count: 0, last: undefined, since: 'the last run' });
    writeFileSync(xidSource.kmsg, '4,5,400,-;NVRM: Xid (PCI:0000:00:06): 48, pid=3, DBE\n', { flag: 'a' });
    expect(await countXids('00000000:00:06.0', state)).toEqual({ count: 1, last: 48, since: 'the last run' });
    writeFileSync(xidSource.bootId, 'boot-2\n');
    writeFileSync(xidSource.kmsg, '4,1,10,-;NVRM: Xid (PCI:0000:00:06): 79, pid=0, GPU has fallen off the bus.\n');
    expect(await countXids('00000000:00:06.0', state)).toEqual({ count: 1, last: 79, since: 'boot' });
  });

  it('says why when there is no kernel log to read', async () => {
    expect(await countXids('00000000:00:06.0', memoryState())).toEqual({ unavailable: `Xid errors not read: no ${xidSource.kmsg} (a container without the kernel log?)` });
  });

  it('reads the real /dev/kmsg to its end', async () => {
    Object.assign(xidSource, saved);
    const r = await countXids('00000000:00:06.0', memoryState());
    // Root reads it; a container without CAP_SYSLOG (Docker drops it) or without the device cannot.
    if ('unavailable' in r) expect(r.unavailable).toMatch(/needs root or CAP_SYSLOG|no \/dev\/kmsg/);
    else expect(r).toEqual({ count: expect.any(Number), last: r.count ? expect.any(Number) : undefined, since: 'boot' });
  });
});

/** A stand-in nvidia-smi: logs its arguments, replays `replies` by exact argument string, else exits 2 like an unknown field. */
function standIn(dir: string, replies: Array<{ args: string; out: string; code?: number }>, fallback = { out: 'Field "x" is not a valid field to query.\n\n', code: 2 }) {
  const cases = replies.map((r, i) => {
    writeFileSync(path.join(dir, `reply${i}`), r.out);
    return `  ${shellQuote(r.args)}) cat ${shellQuote(path.join(dir, `reply${i}`))}; exit ${r.code ?? 0};;`;
  });
  writeFileSync(path.join(dir, 'fallback'), fallback.out);
  const script = [
    '#!/bin/sh',
    `printf '%s\\n' "$*" >> ${shellQuote(path.join(dir, 'calls'))}`,
    'case "$*" in',
    ...cases,
    'esac',
    `cat ${shellQuote(path.join(dir, 'fallback'))}; exit ${fallback.code}`,
    '',
  ].join('\n');
  writeFileSync(path.join(dir, 'nvidia-smi'), script);
  chmodSync(path.join(dir, 'nvidia-smi'), 0o755);
  chmodSync(dir, 0o755);
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

const calls = (dir: string) => (existsSync(path.join(dir, 'calls')) ? readFileSync(path.join(dir, 'calls'), 'utf8').trim().split('\n') : []);

describe('gpu check with a stand-in nvidia-smi', () => {
  const originalPath = process.env.PATH;
  const saved = { ...xidSource };
  const dirs: string[] = [];
  /** A directory with a stand-in, put first on PATH (a new PATH: the field-name cache starts afresh). */
  const useStandIn = (...args: Parameters<typeof standIn> extends [string, ...infer R] ? R : never) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kw-gpu-'));
    dirs.push(dir);
    standIn(dir, ...args);
    process.env.PATH = `${dir}:${originalPath}`;
    return dir;
  };
  let kmsgDir: string;

  beforeAll(() => {
    kmsgDir = mkdtempSync(path.join(os.tmpdir(), 'kw-gpu-kmsg-'));
    xidSource.kmsg = path.join(kmsgDir, 'kmsg');
    xidSource.bootId = path.join(kmsgDir, 'boot_id');
    writeFileSync(xidSource.bootId, 'b\n');
    writeFileSync(xidSource.kmsg, '4,7,1,-;NVRM: Xid (PCI:0000:00:06): 79, pid=\'<unknown>\', name=<unknown>, GPU has fallen off the bus.\n4,8,2,-;NVRM: Xid (PCI:0000:00:07): 13, pid=5, x\n');
  });
  afterEach(() => {
    process.env.PATH = originalPath;
  });
  afterAll(() => {
    Object.assign(xidSource, saved);
    for (const d of [...dirs, kmsgDir]) rmSync(d, { recursive: true, force: true });
  });

  it('runs the recorded query and reports the H200, with its Xids', async () => {
    const dir = useStandIn([{ args: QUERY_ARGS, out: fixture('query-gpu.csv') }]);
    const obs = await runCheck(gpuCheck, { index: 0 });
    expect(calls(dir)).toEqual([QUERY_ARGS]);
    expect(obs.up).toBeUndefined();
    expect(obs.values).toEqual({ ...H200_VALUES, xidErrors: 1, lastXid: 79 });
    expect(obs.message).toBe('GPU 0 NVIDIA H200: 0% busy, memory 0% of 140.4 GiB, 34°C, 88.31 W of 700 W, ECC errors 0 corrected, 0 uncorrected, clock events: gpu_idle; 1 Xid error since boot (last: Xid 79)');
  });

  it('finds the GPU by uuid, or by the only one there, and leaves Xids alone with xid: false', async () => {
    useStandIn([{ args: QUERY_ARGS, out: fixture('query-gpu.csv') }]);
    expect((await runCheck(gpuCheck, { uuid: H200_UUID, xid: false })).values).toEqual(H200_VALUES);
    expect((await runCheck(gpuCheck, { xid: false })).values).toEqual(H200_VALUES);
  });

  it('expands to one check per GPU, and keeps an entry that names its GPU', async () => {
    useStandIn([{ args: QUERY_ARGS, out: fixture('query-gpu.csv') }]);
    expect(await gpuCheck.expand!(gpuCheck.schema.parse({}))).toEqual([{ suffix: '0', spec: { index: 0, xid: true }, labels: { gpu: '0', model: 'NVIDIA H200' } }]);
    expect(await gpuCheck.expand!(gpuCheck.schema.parse({ index: 0 }))).toBeUndefined();
  });

  it('is critical about a GPU that is not there', async () => {
    useStandIn([{ args: QUERY_ARGS, out: fixture('query-gpu.csv') }]);
    const obs = await runCheck(gpuCheck, { index: 3 });
    expect(obs).toMatchObject({ up: false, failure: 'error', message: 'no GPU 3; GPUs here: 0' });
  });

  it('with several GPUs, picks its own; its defaults see heat, hardware slowdown and an uncorrected error', async () => {
    const hot = RECORDED_LINE.replace(/^0, /, '1, ').replace('00000000:00:06.0', '00000000:00:07.0').replace('GPU-37a8', 'GPU-47a8')
      .replace(', 34, 35, 88.31,', ', 91, 88, 702.5,').replace(', Enabled, 0, 0,', ', Enabled, 12, 2,').replace(/0x0+1$/, '0x0000000000000040');
    useStandIn([{ args: QUERY_ARGS, out: `${RECORDED_LINE}\n${hot}\n` }]);
    const expansions = await gpuCheck.expand!(gpuCheck.schema.parse({}));
    expect(expansions!.map((e) => [e.suffix, e.spec.index])).toEqual([['0', 0], ['1', 1]]);
    const obs = await runCheck(gpuCheck, { index: 1 });
    expect(obs.values).toMatchObject({ temperatureC: 91, memoryTemperatureC: 88, powerW: 702.5, powerPercent: 100.4, eccCorrected: 12, eccUncorrected: 2, throttled: true, thermalThrottled: true, hwSlowdown: true, throttleReasons: 'hw_thermal_slowdown', xidErrors: 1, lastXid: 13 });
    const fired = (level: 'warn' | 'crit', values: Record<string, Value>) =>
      (gpuCheck.defaults as Record<string, string[]>)[level].filter((c) => parseCondition(c, gpuCheck.fields as never).test(values));
    expect(fired('warn', obs.values)).toEqual(['temperatureC > 85', 'memoryTemperatureC > 85', 'thermalThrottled == true', 'hwSlowdown == true', 'xidErrors > 0']);
    expect(fired('crit', obs.values)).toEqual(['eccUncorrected > 0']);
    expect(fired('warn', H200_VALUES)).toEqual([]);
    expect(fired('crit', H200_VALUES)).toEqual([]);
    await expect(runCheck(gpuCheck, {})).rejects.toThrow(/2 GPUs here and neither index nor uuid given/);
  });

  it('asks for clocks_event_reasons.active when the driver no longer knows the old name, and remembers it', async () => {
    const renamed = QUERY_ARGS.replace('clocks_throttle_reasons.active', 'clocks_event_reasons.active');
    const dir = useStandIn([{ args: renamed, out: fixture('query-gpu.csv') }], {
      out: fixture('bad-field.txt').split('rc=')[0].replace('bogus.field', 'clocks_throttle_reasons.active'),
      code: 2,
    });
    expect((await runCheck(gpuCheck, { index: 0, xid: false })).values).toEqual(H200_VALUES);
    expect(calls(dir)).toEqual([QUERY_ARGS, renamed]);
    await runCheck(gpuCheck, { index: 0, xid: false });
    expect(calls(dir)).toEqual([QUERY_ARGS, renamed, renamed]);
  });

  it('drops an optional field an older driver does not know', async () => {
    const without = QUERY_ARGS.replace(',temperature.memory', '');
    const cells = RECORDED_LINE.split(', ');
    cells.splice(RECORDED_FIELDS.indexOf('temperature.memory'), 1);
    useStandIn([{ args: without, out: `${cells.join(', ')}\n` }], { out: 'Field "temperature.memory" is not a valid field to query.\n\n', code: 2 });
    const { memoryTemperatureC: _, ...rest } = H200_VALUES;
    expect((await runCheck(gpuCheck, { index: 0, xid: false })).values).toEqual(rest);
  });

  it('is unknown when the driver rejects a field it cannot do without', async () => {
    useStandIn([], { out: 'Field "power.draw" is not a valid field to query.\n\n', code: 2 });
    await expect(runCheck(gpuCheck, { index: 0 })).rejects.toThrow(/does not know the field "power.draw".*update the NVIDIA driver/);
  });

  it('is critical when nvidia-smi cannot talk to the driver (exit 9) or finds no GPU (exit 6); expand keeps the entry', async () => {
    useStandIn([], { out: "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n\n", code: 9 });
    expect(await runCheck(gpuCheck, { index: 0 })).toMatchObject({
      up: false, failure: 'error',
      message: "nvidia-smi: the NVIDIA driver is not loaded or does not answer (exit 9): NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.",
    });
    expect(await gpuCheck.expand!(gpuCheck.schema.parse({}))).toBeUndefined();
    useStandIn([], { out: 'No devices were found\n', code: 6 });
    expect(await runCheck(gpuCheck, { index: 0 })).toMatchObject({ up: false, failure: 'error', message: expect.stringMatching(/no GPU found.*No devices were found/) });
  });

  it('is unknown, saying what to install, without nvidia-smi; expand keeps the entry', async () => {
    const empty = mkdtempSync(path.join(os.tmpdir(), 'kw-gpu-none-'));
    dirs.push(empty);
    process.env.PATH = empty;
    await expect(runCheck(gpuCheck, { index: 0 })).rejects.toThrow(/^nvidia-smi not found: install the NVIDIA driver utilities \(nvidia-utils-<driver version>/);
    expect(await gpuCheck.expand!(gpuCheck.schema.parse({}))).toBeUndefined();
  });

  it('kills a hung nvidia-smi when the run times out', async () => {
    const dir = useStandIn([]);
    const pidFile = path.join(dir, 'pid');
    writeFileSync(path.join(dir, 'nvidia-smi'), `#!/bin/sh\necho $$ > ${shellQuote(pidFile)}\nexec sleep 120\n`);
    const { run, abort } = startRun(gpuCheck, { index: 0 }, { timeoutMs: 2000 });
    while (!existsSync(pidFile) || !readFileSync(pidFile, 'utf8').trim()) await new Promise((r) => setTimeout(r, 20));
    const pid = Number(readFileSync(pidFile, 'utf8'));
    abort();
    expect(await run).toMatchObject({ up: false, failure: 'timeout', message: 'nvidia-smi gave no answer within 2s (a hung driver or GPU?)' });
    // Gone, not left sleeping (a zombie lingers only until node reaps it).
    for (let i = 0; i < 250 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 20));
    expect(existsSync(`/proc/${pid}`)).toBe(false);
  });

  it('as an unprivileged user, reports the GPU and says that the kernel log needs CAP_SYSLOG', async () => {
    const dir = useStandIn([{ args: QUERY_ARGS, out: fixture('query-gpu.csv') }]);
    writeFileSync(path.join(dir, 'calls'), '');
    chmodSync(path.join(dir, 'calls'), 0o666);
    // A kernel log only root may read, as /dev/kmsg is under kernel.dmesg_restrict=1.
    const kmsg = path.join(dir, 'kmsg');
    writeFileSync(kmsg, '4,1,1,-;NVRM: Xid (PCI:0000:00:06): 79, pid=0, GPU has fallen off the bus.\n', { mode: 0o600 });
    const { observation, error } = await runAsNobody(kmsg, `${dir}:/usr/bin:/bin`);
    expect(error).toBeUndefined();
    expect(observation!.values).toEqual(H200_VALUES);
    expect(observation!.message).toMatch(new RegExp(`; Xid errors not read: reading ${kmsg} needs root or CAP_SYSLOG \\(kernel.dmesg_restrict=1\\)$`));
  });
});

// Runs in a child as uid 65534: the built gpu check (dist/, made by jest's global setup) once,
// with the kernel log at argv[2]. (test/helpers/as-nobody.ts runs with the parent's own PATH.)
const NOBODY_CHILD = `
const { gpuCheck } = require(process.argv[1] + '/checks/gpu/index.js');
require(process.argv[1] + '/checks/gpu/xid.js').xidSource.kmsg = process.argv[2];
const kept = new Map();
const state = { persistent: false, get: async (k) => kept.get(k), set: async (k, v) => { kept.set(k, v); } };
const ac = new AbortController();
setTimeout(() => ac.abort(new Error('timeout')), 10000).unref();
Promise.resolve()
  .then(() => gpuCheck.run({ name: 'gpu', spec: gpuCheck.schema.parse({ index: 0 }), signal: ac.signal, timeoutMs: 10000, log: { debug() {}, info() {}, warn() {}, error() {} }, now: Date.now, holdsSecret: () => false, state }))
  .then((observation) => process.stdout.write(JSON.stringify({ observation })), (err) => process.stdout.write(JSON.stringify({ error: err.message })));
`;

function runAsNobody(kmsg: string, PATH: string): Promise<{ observation?: Observation; error?: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', NOBODY_CHILD, path.join(packageRoot(), 'dist'), kmsg], { uid: NOBODY, gid: NOBODY, timeout: 20_000, env: { PATH } }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`child failed: ${err.message}\n${stderr}`));
      resolve(JSON.parse(stdout));
    });
  });
}
