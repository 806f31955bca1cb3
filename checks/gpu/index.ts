import { z } from 'zod';
import { defineCheck, formatBytes, formatDuration, round, targetDown, type Expansion, type FieldSpec, type Value } from '../types';
import { decodeThrottle, flag, lastLine, num, parseQueryCsv, queryGpus, type GpuRow, type SmiRun } from './nvidia-smi';
import { countXids } from './xid';

const schema = z
  .strictObject({
    index: z.number().int().min(0).optional().describe('GPU index as nvidia-smi numbers it (0, 1, …). Omit index and uuid to watch every GPU, one check each (gpu:0, gpu:1, …).'),
    uuid: z.string().regex(/^GPU-[0-9a-fA-F-]+$/, { message: 'expected a GPU UUID such as GPU-37a858c7-e148-68d2-4ba3-18d11ac95448' }).optional()
      .describe('GPU UUID (nvidia-smi -L), stable across reboots and slot changes; instead of index.'),
    xid: z.boolean().default(true).describe('Count the Xid errors the NVIDIA driver logged to the kernel log for this GPU (needs root or CAP_SYSLOG); false: not read.'),
  })
  .refine((s) => s.index === undefined || s.uuid === undefined, { message: 'give index or uuid, not both', path: ['uuid'] });

type GpuSpec = z.output<typeof schema>;

const FIELDS: Record<string, FieldSpec> = {
  utilizationPercent: { type: 'number', unit: 'percent', help: 'Time a kernel ran on the GPU over the last sample period (utilization.gpu)' },
  memoryUtilizationPercent: { type: 'number', unit: 'percent', help: 'Time device memory was read or written (utilization.memory)' },
  memoryUsedPercent: { type: 'number', unit: 'percent', help: 'Device memory allocated, of memory.total' },
  memoryUsedBytes: { type: 'number', unit: 'bytes', help: 'Device memory allocated (memory.used)' },
  memoryTotalBytes: { type: 'number', unit: 'bytes', help: 'Device memory the driver reports (memory.total; less with ECC on)' },
  temperatureC: { type: 'number', unit: 'none', help: 'GPU core temperature in °C' },
  memoryTemperatureC: { type: 'number', unit: 'none', help: 'HBM memory temperature in °C (absent on GPUs without the sensor)' },
  powerW: { type: 'number', unit: 'none', help: 'Board power draw in watts (1 s average on Ampere and newer)' },
  powerLimitW: { type: 'number', unit: 'none', help: 'Software power limit in watts' },
  powerPercent: { type: 'number', unit: 'percent', help: 'Power draw, of the power limit' },
  smClockMHz: { type: 'number', unit: 'none', help: 'Current SM clock in MHz' },
  smClockMaxMHz: { type: 'number', unit: 'none', help: 'Maximum SM clock in MHz' },
  fanPercent: { type: 'number', unit: 'percent', help: 'Intended fan speed, of the maximum (absent on passively cooled data-centre GPUs)' },
  pstate: { type: 'string', help: 'Performance state, P0 (fastest) to P12' },
  eccEnabled: { type: 'boolean', help: 'ECC mode currently on (absent on GPUs without ECC)' },
  eccCorrected: { type: 'number', unit: 'count', help: 'Corrected ECC errors since the driver loaded (volatile)' },
  eccUncorrected: { type: 'number', unit: 'count', help: 'Uncorrected ECC errors since the driver loaded (volatile)' },
  retiredPagesPending: { type: 'boolean', help: 'Memory pages waiting to be retired at the next reboot (absent on GPUs that remap rows instead, e.g. H100/H200)' },
  throttled: { type: 'boolean', help: 'Clocks held down by power cap, thermal or hardware slowdown (idle, clock settings and sync boost do not count)' },
  thermalThrottled: { type: 'boolean', help: 'Software or hardware thermal slowdown active' },
  hwSlowdown: { type: 'boolean', help: 'Hardware slowdown active (clocks halved or worse): hw_slowdown, hw_thermal_slowdown or hw_power_brake_slowdown' },
  throttleReasons: { type: 'string', help: 'Active clock event reasons, comma-separated (gpu_idle, sw_power_cap, …); empty when none' },
  xidErrors: { type: 'number', unit: 'count', help: 'Xid errors the driver logged for this GPU since the last run (the first run: since boot); absent when the kernel log is unreadable' },
  lastXid: { type: 'number', unit: 'none', help: 'The Xid code of the newest of those (absent when none)' },
};

/** nvidia-smi exit statuses that mean the GPU or its driver is broken: the target fails (nvidia-smi(1), RETURN VALUE). */
const GPU_BROKEN: Record<number, string> = {
  6: 'no GPU found (the query was unsuccessful)',
  8: 'external power cables are not attached',
  9: 'the NVIDIA driver is not loaded or does not answer',
  10: 'the NVIDIA kernel module detected an interrupt issue with a GPU',
  14: 'the infoROM is corrupted',
  15: 'the GPU has fallen off the bus or has otherwise become inaccessible',
};

/** Watches one NVIDIA GPU through nvidia-smi, or every GPU of the host, one check each. */
export const gpuCheck = defineCheck({
  type: 'gpu',
  category: 'performance',
  summary: 'Reports an NVIDIA GPU\'s utilisation, memory, temperature, power, ECC errors, clock throttling and Xid errors via nvidia-smi; without index or uuid, one check per GPU.',
  schema,
  fields: FIELDS,
  defaults: {
    warn: ['temperatureC > 85', 'memoryTemperatureC > 85', 'thermalThrottled == true', 'hwSlowdown == true', 'retiredPagesPending == true', 'xidErrors > 0'],
    crit: ['eccUncorrected > 0'],
  },
  async expand(spec) {
    if (spec.index !== undefined || spec.uuid !== undefined) return undefined;
    const gpus = await listGpus();
    if (!gpus?.length) return undefined; // no nvidia-smi or no answer: each run says why
    return gpus.map((g): Expansion<GpuSpec> => ({ suffix: String(g.index), spec: { ...spec, index: g.index }, labels: { gpu: String(g.index), model: g.name } }));
  },
  async run({ spec, signal, timeoutMs, state }) {
    const { run, keys } = await queryGpus(signal);
    const failed = failure(run, timeoutMs);
    if (failed) return failed;
    const rows = parseQueryCsv(run.stdout, keys);
    const row = pick(rows, spec);
    if (!row) {
      const wanted = spec.uuid ?? `GPU ${spec.index}`;
      return targetDown('error', `no ${wanted}; GPUs here: ${rows.map((r) => r.index).join(', ') || 'none'}`);
    }
    const values = gpuValues(row);
    const notes: string[] = [];
    if (spec.xid && row['pci.bus_id'] !== undefined) {
      const x = await countXids(row['pci.bus_id'], state);
      if ('unavailable' in x) notes.push(x.unavailable);
      else {
        values.xidErrors = x.count;
        if (x.last !== undefined) values.lastXid = x.last;
        if (x.count > 0) notes.push(`${x.count} Xid error${x.count === 1 ? '' : 's'} since ${x.since} (last: Xid ${x.last})`);
      }
    }
    return { values, message: [describe(row, values), ...notes].join('; ') };
  },
});

/** The row a check watches: by uuid, by index, or the only one when neither is given. */
function pick(rows: GpuRow[], spec: GpuSpec): GpuRow | undefined {
  if (spec.uuid !== undefined) return rows.find((r) => r.uuid?.toLowerCase() === spec.uuid!.toLowerCase());
  if (spec.index !== undefined) return rows.find((r) => num(r.index) === spec.index);
  if (rows.length > 1) {
    throw new Error(`${rows.length} GPUs here and neither index nor uuid given: reload the config so that it makes one check per GPU, or set index`);
  }
  return rows[0];
}

/** The observation for an nvidia-smi that gave no rows, or undefined when it did. */
function failure(run: SmiRun, timeoutMs: number) {
  if (run.spawnError) {
    if (run.spawnError.code === 'ENOENT') {
      throw new Error('nvidia-smi not found: install the NVIDIA driver utilities (nvidia-utils-<driver version>, e.g. apt-get install nvidia-utils-580; RHEL: nvidia-driver-cuda) or put nvidia-smi on the agent\'s PATH');
    }
    throw new Error(`could not run nvidia-smi: ${run.spawnError.message}`);
  }
  if (run.aborted) return targetDown('timeout', `nvidia-smi gave no answer within ${formatDuration(timeoutMs)} (a hung driver or GPU?)`);
  if (run.tooLarge) throw new Error('nvidia-smi printed more than expected; output cut off');
  if (run.code === 0) return undefined;
  const said = lastLine(run.stdout) || lastLine(run.stderr);
  const broken = run.code === null ? undefined : GPU_BROKEN[run.code];
  if (broken) return targetDown('error', `nvidia-smi: ${broken} (exit ${run.code}): ${said}`);
  if (run.code === 4) throw new Error(`nvidia-smi: insufficient permissions (exit 4): the agent's user needs access to /dev/nvidia*: ${said}`);
  if (run.code === 12) throw new Error(`nvidia-smi: the NVML library was not found (exit 12): install the NVIDIA driver's libnvidia-ml: ${said}`);
  throw new Error(`nvidia-smi failed (exit ${run.code ?? 'killed'}): ${said}`);
}

/** The values of one GPU's row; a field the GPU does not report is absent. */
export function gpuValues(row: GpuRow): Record<string, Value> {
  const values: Record<string, Value> = {};
  const put = (key: string, v: Value | undefined) => {
    if (v !== undefined) values[key] = v;
  };
  const MiB = 1024 * 1024;
  const total = num(row['memory.total']);
  const used = num(row['memory.used']);
  const power = num(row['power.draw']);
  const limit = num(row['power.limit']);
  put('utilizationPercent', num(row['utilization.gpu']));
  put('memoryUtilizationPercent', num(row['utilization.memory']));
  put('memoryUsedPercent', total && used !== undefined ? round((used / total) * 100) : undefined);
  put('memoryUsedBytes', used === undefined ? undefined : used * MiB);
  put('memoryTotalBytes', total === undefined ? undefined : total * MiB);
  put('temperatureC', num(row['temperature.gpu']));
  put('memoryTemperatureC', num(row['temperature.memory']));
  put('powerW', power);
  put('powerLimitW', limit);
  put('powerPercent', limit && power !== undefined ? round((power / limit) * 100) : undefined);
  put('smClockMHz', num(row['clocks.sm']));
  put('smClockMaxMHz', num(row['clocks.max.sm']));
  put('fanPercent', num(row['fan.speed']));
  put('pstate', row.pstate);
  put('eccEnabled', flag(row['ecc.mode.current']));
  put('eccCorrected', num(row['ecc.errors.corrected.volatile.total']));
  put('eccUncorrected', num(row['ecc.errors.uncorrected.volatile.total']));
  put('retiredPagesPending', flag(row['retired_pages.pending']));
  const t = decodeThrottle(row.throttle);
  if (t) Object.assign(values, { throttled: t.throttled, thermalThrottled: t.thermal, hwSlowdown: t.hardware, throttleReasons: t.reasons.join(',') });
  return values;
}

function describe(row: GpuRow, v: Record<string, Value>): string {
  const parts: string[] = [];
  if (v.utilizationPercent !== undefined) parts.push(`${v.utilizationPercent}% busy`);
  if (v.memoryUsedPercent !== undefined) parts.push(`memory ${v.memoryUsedPercent}% of ${formatBytes(v.memoryTotalBytes as number, { iec: true })}`);
  if (v.temperatureC !== undefined) parts.push(`${v.temperatureC}°C`);
  if (v.powerW !== undefined) parts.push(`${v.powerW} W${v.powerLimitW !== undefined ? ` of ${v.powerLimitW} W` : ''}`);
  if (v.eccUncorrected !== undefined) parts.push(`ECC errors ${v.eccCorrected ?? '?'} corrected, ${v.eccUncorrected} uncorrected`);
  if (v.throttleReasons !== undefined) parts.push(`clock events: ${v.throttleReasons || 'none'}`);
  return `GPU ${row.index ?? '?'}${row.name ? ` ${row.name}` : ''}: ${parts.join(', ') || 'no values reported'}`;
}

/** The GPUs nvidia-smi lists (index and name), or undefined when it cannot say within 10 s. */
export async function listGpus(): Promise<Array<{ index: number; name: string }> | undefined> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new Error('timeout')), 10_000);
  try {
    const { run, keys } = await queryGpus(ac.signal);
    if (run.code !== 0) return undefined;
    const gpus = parseQueryCsv(run.stdout, keys).map((r) => ({ index: num(r.index), name: r.name ?? 'unknown' }));
    return gpus.every((g) => g.index !== undefined) ? (gpus as Array<{ index: number; name: string }>) : undefined;
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}
