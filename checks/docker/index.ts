import { stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { classifyNetworkError, defineCheck, describeNetworkError, formatDuration, targetDown, type FieldSpec, type Observation, type Value } from '../types';
import { apiMessage, getOverSocket } from './engine-api';

export const DEFAULT_SOCKET = '/var/run/docker.sock';

/** How much of the last health check's output goes into the message. */
const MAX_OUTPUT_CHARS = 200;

const schema = z.strictObject({
  container: z
    .string()
    .min(1)
    .refine((s) => !/[\u0000-\u001f\u007f]/.test(s) && s.replace(/^\//, '') !== '', { message: 'expected a container name or id' })
    .describe('Name or id (full or a unique prefix) of the container, as `docker inspect` takes it: `web`, `shop-web-1`, `3f4e8a`.'),
  socket: z
    .string()
    .refine((s) => path.isAbsolute(s), { message: 'expected an absolute path of a unix socket' })
    .default(DEFAULT_SOCKET)
    .describe('Unix socket of the Docker Engine API (default /var/run/docker.sock); Podman serves the same API at /run/podman/podman.sock (rootless: $XDG_RUNTIME_DIR/podman/podman.sock).'),
  apiVersion: z
    .string()
    .regex(/^v?1\.\d{1,3}$/, { message: 'expected an API version such as 1.44' })
    .optional()
    .describe('Engine API version to ask for, e.g. 1.44 (the path gets /v1.44); default: none, so the daemon answers in its own version, which works from Docker 20.10 to 29 and with Podman.'),
});

type DockerSpec = z.output<typeof schema>;

const FIELDS: Record<string, FieldSpec> = {
  running: { type: 'boolean', help: 'Whether the container runs: state is running (a paused or restarting container is not running)' },
  state: { type: 'string', help: 'State.Status: created, running, paused, restarting, removing, exited or dead' },
  health: { type: 'string', help: 'State.Health.Status: starting, healthy or unhealthy; none without a HEALTHCHECK' },
  restarts: { type: 'number', unit: 'count', help: 'RestartCount: how often the restart policy restarted the container' },
  oomKilled: { type: 'boolean', help: 'State.OOMKilled: a process in the container was killed for lack of memory since it last started' },
  exitCode: { type: 'number', unit: 'none', help: 'State.ExitCode: the last exit code of the main process (0 while it runs)' },
  uptimeSeconds: { type: 'number', unit: 'seconds', help: 'Time since State.StartedAt; only while running' },
  failingStreak: { type: 'number', unit: 'count', help: 'State.Health.FailingStreak: consecutive failed health checks; only with a HEALTHCHECK' },
};

/** The parts of a ContainerInspect reply (GET /containers/{id}/json) that the check reads. */
interface ContainerInspect {
  Id?: string;
  Name?: string;
  RestartCount?: number;
  Config?: { Image?: string };
  State?: {
    Status?: string;
    Running?: boolean;
    Paused?: boolean;
    Restarting?: boolean;
    OOMKilled?: boolean;
    Dead?: boolean;
    ExitCode?: number;
    Error?: string;
    StartedAt?: string;
    FinishedAt?: string;
    Health?: { Status?: string; FailingStreak?: number; Log?: Array<{ Start?: string; End?: string; ExitCode?: number; Output?: string }> | null } | null;
  };
}

/** Watches one container through the Docker Engine API: state, health, restarts, OOM kills. */
export const dockerCheck = defineCheck({
  type: 'docker',
  category: 'health',
  summary: 'Reads a container\'s state, health check status, restart count and OOM kill from the Docker (or Podman) Engine API on its unix socket.',
  schema,
  fields: FIELDS,
  defaults: { crit: ['running == false', 'health == "unhealthy"'], warn: ['oomKilled == true'] },
  async run({ spec, signal, timeoutMs, now }) {
    const name = spec.container.replace(/^\//, '');
    const reply = await getOverSocket(spec.socket, inspectPath(spec), signal);
    if (reply.kind === 'timeout') {
      const within = formatDuration(timeoutMs);
      return targetDown('timeout', reply.connected ? `Docker at ${spec.socket} did not answer within ${within}` : `could not connect to ${spec.socket} within ${within}`);
    }
    if (reply.kind === 'error') return socketError(spec, reply.error, reply.connected);
    if (reply.status === 404) return targetDown('error', `container ${name}: ${apiMessage(reply.body)}`);
    if (reply.status === 400 && spec.apiVersion !== undefined) {
      const speaks = reply.apiVersion ? ` (it speaks up to ${reply.apiVersion})` : '';
      throw new Error(`docker check: the daemon at ${spec.socket} refused API version ${versionOf(spec)}${speaks}: ${apiMessage(reply.body)}; remove apiVersion (the daemon then answers in its own version) or set one it supports`);
    }
    if (reply.status !== 200) throw new Error(`docker check: ${spec.socket} answered HTTP ${reply.status} to the inspect of ${name}: ${apiMessage(reply.body)}`);
    let inspect: ContainerInspect;
    try {
      inspect = JSON.parse(reply.body) as ContainerInspect;
    } catch {
      throw new Error(`docker check: ${spec.socket} answered the inspect of ${name} with something not JSON: ${JSON.stringify(reply.body.slice(0, 80))}`);
    }
    if (!inspect || typeof inspect.State?.Status !== 'string') {
      throw new Error(`docker check: the reply of ${spec.socket} has no State.Status: is it the Docker Engine API?`);
    }
    return observe(inspect, name, now());
  },
});

/** `/containers/{name}/json`, under `/v1.xx` when an API version is set; the name is encoded, never a path of its own. */
export function inspectPath(spec: DockerSpec): string {
  const prefix = spec.apiVersion !== undefined ? `/v${versionOf(spec)}` : '';
  return `${prefix}/containers/${encodeURIComponent(spec.container.replace(/^\//, ''))}/json`;
}

function versionOf(spec: DockerSpec): string {
  return (spec.apiVersion ?? '').replace(/^v/, '');
}

/** What the socket's failure means: no socket or no permission is the agent's setup (unknown); a daemon gone is the target down. */
async function socketError(spec: DockerSpec, err: NodeJS.ErrnoException, connected: boolean): Promise<Observation> {
  const s = spec.socket;
  switch (err.code) {
    case 'ENOENT':
      throw new Error(`docker check: no Docker socket at ${s}: is Docker (or Podman's API service, podman.socket) running? Set socket: to where it listens (Podman: /run/podman/podman.sock)`);
    case 'EACCES':
    case 'EPERM':
      throw new Error(`docker check: the agent's user may not use ${s} (permission denied): add it to the socket's group (docker; that is root-equivalent, as the API can start privileged containers) or point socket: at a socket proxy that allows only GET /containers/{id}/json`);
    case 'ENOTSOCK':
    case 'ENOTDIR':
      throw new Error(`docker check: ${s} is not a unix socket: set socket: to the Docker Engine API's socket`);
    case 'ERR_REPLY_TOO_LARGE':
      throw new Error(`docker check: ${s}: ${err.message}`);
    case 'ECONNREFUSED':
      // Linux refuses a connect to a file that is no socket the same way.
      if (!(await stat(s).then((st) => st.isSocket(), () => true))) {
        throw new Error(`docker check: ${s} is not a unix socket: set socket: to the Docker Engine API's socket`);
      }
      return targetDown('refused', `nothing listens on ${s}: the Docker daemon is not running (the socket file is left over)`);
    default:
      return targetDown(classifyNetworkError(err), `${s}${connected ? ' after connecting' : ''}: ${describeNetworkError(err)}`);
  }
}

/** The values and message of one ContainerInspect reply. */
export function observe(c: ContainerInspect, asked: string, nowMs: number): Observation {
  const st = c.State!;
  const state = st.Status!;
  const health = st.Health?.Status ? st.Health.Status : 'none';
  const values: Record<string, Value> = { running: state === 'running', state, health };
  if (typeof c.RestartCount === 'number') values.restarts = c.RestartCount;
  values.oomKilled = st.OOMKilled === true;
  if (typeof st.ExitCode === 'number') values.exitCode = st.ExitCode;
  const started = timeOf(st.StartedAt);
  if (state === 'running' && started !== undefined) values.uptimeSeconds = Math.max(0, Math.floor((nowMs - started) / 1000));
  if (health !== 'none' && typeof st.Health?.FailingStreak === 'number') values.failingStreak = st.Health.FailingStreak;

  const name = c.Name ? c.Name.replace(/^\//, '') : asked;
  const image = c.Config?.Image ? ` (${c.Config.Image})` : '';
  const parts: string[] = [];
  if (state === 'running') {
    parts.push(values.uptimeSeconds !== undefined ? `running for ${formatDuration((values.uptimeSeconds as number) * 1000)}` : 'running');
  } else if (state === 'exited' || state === 'dead') {
    const finished = timeOf(st.FinishedAt);
    const ago = finished !== undefined ? ` ${formatDuration(Math.max(0, Math.floor((nowMs - finished) / 1000)) * 1000)} ago` : '';
    parts.push(`${state} with code ${st.ExitCode ?? '?'}${st.OOMKilled ? ' (OOM-killed)' : ''}${ago}`);
    if (st.Error) parts.push(`error: ${oneLine(st.Error)}`);
  } else if (state === 'restarting') {
    parts.push(`restarting (last exit code ${st.ExitCode ?? '?'}${st.OOMKilled ? ', OOM-killed' : ''})`);
  } else if (state === 'created') {
    parts.push('created, never started');
  } else {
    parts.push(state);
  }
  if (health !== 'none') {
    let h = health === 'starting' ? 'health check starting' : health;
    if (health === 'unhealthy') {
      const last = st.Health?.Log?.at(-1);
      h += ` (${st.Health?.FailingStreak ?? '?'} failed checks in a row${last?.Output ? `, last: ${JSON.stringify(oneLine(last.Output))}` : ''})`;
    }
    parts.push(h);
  }
  if (state === 'running' && st.OOMKilled) parts.push('a process in it was OOM-killed since it started');
  if (typeof c.RestartCount === 'number' && c.RestartCount > 0) parts.push(`restarted ${c.RestartCount} time${c.RestartCount === 1 ? '' : 's'}`);
  return { values, message: `${name}${image} ${parts.join(', ')}` };
}

/** A timestamp of the API (RFC 3339 with nanoseconds), or undefined for Go's zero time (`0001-01-01T00:00:00Z`: never). */
function timeOf(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const t = Date.parse(text);
  return Number.isFinite(t) && t > 0 ? t : undefined;
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > MAX_OUTPUT_CHARS ? `${flat.slice(0, MAX_OUTPUT_CHARS)}…` : flat;
}
