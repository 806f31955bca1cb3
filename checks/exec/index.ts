import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { defineCheck, formatDuration, targetDown, type FieldSpec, type FieldUnit, type Value } from '../types';
import { parsePluginOutput, perfValues, type PerfValue } from './perfdata';
import { runPlugin, type PluginRun } from './spawn';

export { parsePerfdata, parsePluginOutput, perfValues, toUnit, valueName, MAX_PERF_VALUES } from './perfdata';
export { runPlugin, MAX_STDOUT_BYTES, MAX_STDERR_BYTES, KILL_GRACE_MS } from './spawn';

const FIELD_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const UNITS = ['ms', 'bytes', 'percent', 'count', 'none'] as const satisfies readonly FieldUnit[];
/** The PATH a plugin gets when the agent has none. */
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Where Debian's and Ubuntu's monitoring-plugins install the check_* programs. */
const PLUGIN_DIR = '/usr/lib/nagios/plugins';
/** The longest message taken from a plugin's first line. */
const MAX_MESSAGE = 300;

const schema = z.strictObject({
  command: z
    .array(z.string())
    .min(1, { message: 'give the program and its arguments, e.g. [/usr/lib/nagios/plugins/check_load, -w, "5,4,3", -c, "10,8,6"]' })
    .refine((argv) => argv.length === 0 || (argv[0] !== '' && (path.isAbsolute(argv[0]) || !argv[0].includes('/'))), {
      message: 'the program must be an absolute path or a bare name looked up in PATH',
      path: [0],
    })
    .refine((argv) => argv.every((a) => !a.includes('\0')), { message: 'arguments must not contain NUL characters' })
    .describe('The plugin and its arguments as a list (argv), run without a shell: [program, arg, ...]; the program is an absolute path or a name looked up in PATH.'),
  env: z
    .record(z.string().regex(ENV_NAME_RE, { message: 'environment variable names are letters, digits and _' }), z.string())
    .default({})
    .describe('Environment variables for the plugin, added to a minimal environment (PATH, HOME, LANG=C, LC_ALL=C); use ${ENV} for secrets.'),
  cwd: z
    .string()
    .refine((d) => path.isAbsolute(d), { message: 'must be an absolute path' })
    .optional()
    .describe('Working directory of the plugin (absolute); default the agent\'s.'),
  perfdata: z
    .record(
      z.string().regex(FIELD_NAME_RE, { message: 'value names are letters, digits and _' }).refine((k) => k !== 'exitCode', { message: 'exitCode is a built-in value' }),
      z.enum(UNITS),
    )
    .default({})
    .describe('Perfdata values that conditions use, by value name (see README: `/` is `root`, `/var/log` is `var_log`) with their unit: ms, bytes, percent, count or none. Every perfdata value is returned either way.'),
});

type ExecSpec = z.output<typeof schema>;

const BASE_FIELDS: Record<string, FieldSpec> = {
  exitCode: { type: 'number', unit: 'none', help: 'The plugin\'s exit code: 0 OK, 1 WARNING, 2 CRITICAL (3 UNKNOWN and others make the run unknown)' },
};

function fields(spec: ExecSpec): Record<string, FieldSpec> {
  const out: Record<string, FieldSpec> = { ...BASE_FIELDS };
  for (const [name, unit] of Object.entries(spec.perfdata)) out[name] = { type: 'number', unit, help: `Perfdata value ${name} of the plugin (declared in perfdata:)` };
  return out;
}

/** The environment of a plugin: a minimal one, then the configured variables. */
export function pluginEnv(spec: Pick<ExecSpec, 'env'>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH || DEFAULT_PATH, LANG: 'C', LC_ALL: 'C' };
  if (process.env.HOME) env.HOME = process.env.HOME;
  return { ...env, ...spec.env };
}

/** Runs a Nagios-compatible plugin: its exit code is the status, its first line the message, its perfdata the values. */
export const execCheck = defineCheck({
  type: 'exec',
  category: 'health',
  summary: 'Runs a Nagios-compatible plugin (argv, no shell): exit 0/1/2 is ok/warning/critical, 3 unknown; the first output line is the message and perfdata become values with units.',
  schema,
  fields,
  defaults: { warn: ['exitCode == 1'], crit: ['exitCode == 2'] },
  async run({ spec, signal, timeoutMs }) {
    const program = spec.command[0];
    if (spec.cwd !== undefined && !isDirectory(spec.cwd)) throw new Error(`exec: cwd ${spec.cwd} is not a directory: create it or fix cwd`);
    const r = await runPlugin(spec.command, { env: pluginEnv(spec), cwd: spec.cwd, signal });
    if (r.spawnError) throw new Error(cannotStart(program, r.spawnError, pluginEnv(spec).PATH ?? ''));
    const name = path.basename(program);
    if (r.timedOut) return targetDown('timeout', `${name} did not finish within ${formatDuration(timeoutMs)} (killed)`);

    const out = parsePluginOutput(r.stdout);
    const said = bound(out.text || firstLine(r.stderr));
    if (r.code === null) throw new Error(`${name} was killed by ${r.signal ?? 'a signal'}${said ? `: ${said}` : ''}`);
    if (r.code === 3) throw new Error(said ? bound(`${said}`) : `${name} exited 3 (UNKNOWN) without output`);
    if (r.code === 126 || r.code === 127) {
      throw new Error(`${name} exited ${r.code} (${r.code === 127 ? 'a command it runs was not found' : 'a command it runs is not executable'})${said ? `: ${said}` : ''}`);
    }
    if (r.code > 3) throw new Error(`${name} exited ${r.code}, which is no Nagios status (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)${said ? `: ${said}` : ''}`);

    const perf = perfValues(out.perfdata, Object.keys(BASE_FIELDS));
    checkDeclaredUnits(spec, perf);
    const values: Record<string, Value> = { exitCode: r.code };
    for (const p of perf) values[p.name] = p.value;
    const message = said || `${name} exited ${r.code} (${['OK', 'WARNING', 'CRITICAL'][r.code]}) without output`;
    return { values, message };
  },
});

/** A declared perfdata value must come in the unit the conditions on it were checked against. */
function checkDeclaredUnits(spec: ExecSpec, perf: readonly PerfValue[]): void {
  for (const p of perf) {
    const declared = spec.perfdata[p.name];
    if (declared !== undefined && declared !== p.unit) {
      throw new Error(
        `perfdata ${p.name} ('${p.label}'=…${p.uom}) is in ${p.unit}, but perfdata: declares it ${declared}: set perfdata.${p.name} to ${p.unit}`,
      );
    }
  }
}

/** What to install or fix when the program could not be started. */
function cannotStart(program: string, err: NodeJS.ErrnoException, searchPath: string): string {
  if (err.code === 'ENOENT') {
    if (path.isAbsolute(program) && existsSync(program)) {
      return `exec: ${program} cannot be run: the interpreter its #! line names is missing; install it or fix that line`;
    }
    const pkg = program.startsWith(`${PLUGIN_DIR}/`) || /^check_/.test(path.basename(program))
      ? ` (the standard plugins: Debian, Ubuntu: apt-get install monitoring-plugins-basic or monitoring-plugins-standard, into ${PLUGIN_DIR}; RHEL: dnf install nagios-plugins-all from EPEL, into /usr/lib64/nagios/plugins)`
      : '';
    return path.isAbsolute(program)
      ? `exec: ${program} not found: install the plugin or fix the path in command${pkg}`
      : `exec: ${program} not found in PATH (${searchPath}): install it, give its absolute path in command, or set PATH in env${pkg}`;
  }
  if (err.code === 'EACCES') {
    return `exec: ${program} is not executable by the agent's user: chmod +x it (and make its directories searchable), or run the agent as a user that may run it`;
  }
  return `exec: cannot run ${program}: ${err.message}`;
}

function isDirectory(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

function firstLine(text: string): string {
  return text.split('\n').map((l) => l.trim()).find(Boolean) ?? '';
}

function bound(text: string): string {
  return text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE - 1)}…` : text;
}

export type { PluginRun };
