import { execFile } from 'node:child_process';

/** The most output read from nvidia-smi: a line of a few hundred bytes per GPU. */
export const MAX_OUTPUT_BYTES = 256 * 1024;

/**
 * The fields queried, in order (the order of the recorded H200 output the tests replay). Each entry lists the names drivers accept for it, newest first
 * where they differ: 535+ renamed `clocks_throttle_reasons` to `clocks_event_reasons` (580
 * still takes both; the header prints the new one), while drivers before 530 know only the old
 * name. `optional` fields are dropped if a driver rejects every name (older drivers lack
 * `temperature.memory`); the rest must exist.
 */
export const QUERY_FIELDS: ReadonlyArray<{ key: string; names: readonly string[]; optional?: boolean }> = [
  { key: 'index', names: ['index'] },
  { key: 'name', names: ['name'] },
  { key: 'uuid', names: ['uuid'] },
  { key: 'pci.bus_id', names: ['pci.bus_id'] },
  { key: 'driver_version', names: ['driver_version'] },
  { key: 'pstate', names: ['pstate'] },
  { key: 'utilization.gpu', names: ['utilization.gpu'] },
  { key: 'utilization.memory', names: ['utilization.memory'] },
  { key: 'memory.total', names: ['memory.total'] },
  { key: 'memory.used', names: ['memory.used'] },
  { key: 'memory.free', names: ['memory.free'] },
  { key: 'temperature.gpu', names: ['temperature.gpu'] },
  { key: 'temperature.memory', names: ['temperature.memory'], optional: true },
  { key: 'power.draw', names: ['power.draw'] },
  { key: 'power.limit', names: ['power.limit'] },
  { key: 'clocks.sm', names: ['clocks.sm'] },
  { key: 'clocks.max.sm', names: ['clocks.max.sm'] },
  { key: 'fan.speed', names: ['fan.speed'] },
  { key: 'ecc.mode.current', names: ['ecc.mode.current'], optional: true },
  { key: 'ecc.errors.corrected.volatile.total', names: ['ecc.errors.corrected.volatile.total'], optional: true },
  { key: 'ecc.errors.uncorrected.volatile.total', names: ['ecc.errors.uncorrected.volatile.total'], optional: true },
  { key: 'retired_pages.pending', names: ['retired_pages.pending'], optional: true },
  { key: 'throttle', names: ['clocks_throttle_reasons.active', 'clocks_event_reasons.active'], optional: true },
];

/** One GPU's row: the raw text by field key, `undefined` where the driver has no value (`[N/A]`). */
export type GpuRow = Record<string, string | undefined>;

/** What one nvidia-smi invocation did. Never a rejection. */
export interface SmiRun {
  stdout: string;
  stderr: string;
  /** Exit status; null when killed. */
  code: number | null;
  aborted: boolean;
  tooLarge: boolean;
  spawnError?: NodeJS.ErrnoException;
}

/** Runs nvidia-smi without a shell, C locale, output bounded, killed (SIGKILL) when `signal` aborts. */
export function runNvidiaSmi(args: string[], signal: AbortSignal): Promise<SmiRun> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve({ stdout: '', stderr: '', code: null, aborted: true, tooLarge: false });
    execFile(
      'nvidia-smi',
      args,
      { signal, maxBuffer: MAX_OUTPUT_BYTES, killSignal: 'SIGKILL', encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' }, windowsHide: true },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { code?: string | number }) | null;
        const out = { stdout: String(stdout ?? ''), stderr: String(stderr ?? ''), aborted: false, tooLarge: false };
        if (!e) return resolve({ ...out, code: 0 });
        if (signal.aborted || e.name === 'AbortError') return resolve({ ...out, code: null, aborted: true });
        if (e.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') return resolve({ ...out, code: null, tooLarge: true });
        if (typeof e.code === 'number') return resolve({ ...out, code: e.code });
        if (typeof e.code === 'string' && e.syscall?.startsWith('spawn')) return resolve({ ...out, code: null, spawnError: e });
        resolve({ ...out, code: null });
      },
    );
  });
}

/** The field nvidia-smi refused (`Field "x" is not a valid field to query.`, exit 2), if that is what it said. */
export function invalidField(text: string): string | undefined {
  return /Field "([^"]+)" is not a valid field to query/.exec(text)?.[1];
}

/** Whether nvidia-smi printed a value it does not have: `[N/A]`, `[Not Supported]`, `[Unknown Error]`, `N/A`. */
export function isMissing(raw: string): boolean {
  return raw === '' || raw === 'N/A' || /^\[.*\]$/.test(raw);
}

/**
 * Parses `--format=csv,noheader,nounits` output for `keys` (the queried fields, in order) into
 * one row per GPU; throws when a line does not have one value per field. Only `name` is free
 * text, and no GPU name holds a comma.
 */
export function parseQueryCsv(text: string, keys: readonly string[]): GpuRow[] {
  const rows: GpuRow[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const cells = line.split(',').map((c) => c.trim());
    if (cells.length !== keys.length) {
      throw new Error(`unexpected nvidia-smi output: ${cells.length} values for ${keys.length} fields in "${line.trim().slice(0, 200)}"`);
    }
    const row: GpuRow = {};
    keys.forEach((k, i) => (row[k] = isMissing(cells[i]) ? undefined : cells[i]));
    rows.push(row);
  }
  return rows;
}

/** A number from a row's cell, undefined when absent or not a plain decimal number. */
export function num(raw: string | undefined): number | undefined {
  if (raw === undefined || !/^-?\d+(\.\d+)?$/.test(raw)) return undefined;
  return Number(raw);
}

/** A Yes/No or Enabled/Disabled cell as a boolean, undefined otherwise. */
export function flag(raw: string | undefined): boolean | undefined {
  if (raw === undefined) return undefined;
  if (/^(yes|enabled|active)$/i.test(raw)) return true;
  if (/^(no|disabled|not active)$/i.test(raw)) return false;
  return undefined;
}

/** The clock event ("throttle") reasons of NVML's nvmlClocksEventReasons bitmask (nvml.h). */
export const THROTTLE_REASONS: ReadonlyArray<[bit: number, name: string]> = [
  [0x1, 'gpu_idle'],
  [0x2, 'applications_clocks_setting'],
  [0x4, 'sw_power_cap'],
  [0x8, 'hw_slowdown'],
  [0x10, 'sync_boost'],
  [0x20, 'sw_thermal_slowdown'],
  [0x40, 'hw_thermal_slowdown'],
  [0x80, 'hw_power_brake_slowdown'],
  [0x100, 'display_clock_setting'],
];

/** Reasons that slow a busy GPU down: all but idle, application/display clock settings and sync boost. */
const SLOWING = 0x4 | 0x8 | 0x20 | 0x40 | 0x80;
const THERMAL = 0x20 | 0x40;
/** Hardware slowdown (clocks halved or worse): hw_slowdown, hw_thermal_slowdown, hw_power_brake_slowdown. */
const HARDWARE = 0x8 | 0x40 | 0x80;

export interface ThrottleState {
  reasons: string[];
  throttled: boolean;
  thermal: boolean;
  hardware: boolean;
}

/** Decodes the hex bitmask (`0x0000000000000001`); undefined when it is not one. Unknown bits read as `bit_0x…`. */
export function decodeThrottle(raw: string | undefined): ThrottleState | undefined {
  if (raw === undefined || !/^0x[0-9a-f]{1,16}$/i.test(raw)) return undefined;
  const mask = BigInt(raw);
  const reasons: string[] = [];
  for (let bit = 0n; bit < 64n; bit++) {
    const v = 1n << bit;
    if ((mask & v) === 0n) continue;
    const known = THROTTLE_REASONS.find(([b]) => BigInt(b) === v);
    reasons.push(known ? known[1] : `bit_0x${v.toString(16)}`);
  }
  const low = Number(mask & 0xffffn);
  return { reasons, throttled: (low & SLOWING) !== 0, thermal: (low & THERMAL) !== 0, hardware: (low & HARDWARE) !== 0 };
}

/**
 * PCI bus id in a form both nvidia-smi (`00000000:00:06.0`) and the kernel's Xid lines
 * (`PCI:0000:00:06`) reduce to: domain:bus:device as plain hex numbers, function dropped.
 */
export function busKey(id: string): string | undefined {
  const m = /^(?:PCI:)?([0-9a-f]+):([0-9a-f]+):([0-9a-f]+)/i.exec(id.trim());
  if (!m) return undefined;
  return [m[1], m[2], m[3]].map((h) => parseInt(h, 16).toString(16)).join(':');
}

/**
 * The field names that worked, by PATH (one nvidia-smi per PATH): a driver that rejected a
 * name is not asked for it again on every run. A key maps to the index of the name used, or
 * -1 when the driver knows none of its names.
 */
const workingNames = new Map<string, Map<string, number>>();

/** The output of one query of every GPU, with the field keys its columns hold. */
export interface GpuQuery {
  run: SmiRun;
  keys: string[];
}

/**
 * Queries every GPU. On exit 2 `Field "x" is not a valid field to query` the run retries with
 * the field's other name, or without it when it is optional; a required field the driver
 * does not know throws (status unknown).
 */
export async function queryGpus(signal: AbortSignal): Promise<GpuQuery> {
  const pathKey = process.env.PATH ?? '';
  const choice = new Map(workingNames.get(pathKey) ?? []);
  for (let attempt = 0; ; attempt++) {
    const used = QUERY_FIELDS.filter((f) => (choice.get(f.key) ?? 0) >= 0);
    const names = used.map((f) => f.names[choice.get(f.key) ?? 0]);
    const run = await runNvidiaSmi([`--query-gpu=${names.join(',')}`, '--format=csv,noheader,nounits'], signal);
    const bad = run.code === 2 ? invalidField(`${run.stdout}\n${run.stderr}`) : undefined;
    if (bad === undefined || attempt > QUERY_FIELDS.length) {
      if (run.code === 0) {
        if (workingNames.size > 16) workingNames.clear();
        workingNames.set(pathKey, choice);
      }
      return { run, keys: used.map((f) => f.key) };
    }
    const field = used.find((f) => f.names[choice.get(f.key) ?? 0] === bad);
    if (!field) throw new Error(`nvidia-smi rejected the field "${bad}", which was not asked for`);
    const next = (choice.get(field.key) ?? 0) + 1;
    if (next < field.names.length) choice.set(field.key, next);
    else if (field.optional) choice.set(field.key, -1);
    else throw new Error(`nvidia-smi does not know the field "${bad}" (${lastLine(run.stdout + run.stderr)}): the driver is too old for this check; update the NVIDIA driver`);
  }
}

/** The last non-empty line of some output, at most 200 characters. */
export function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  return (lines.at(-1) ?? '').slice(0, 200);
}
