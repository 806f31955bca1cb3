import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseCondition } from '../../agent/evaluate';
import { dockerCheck } from '../../checks/docker';
import type { Observation, Thresholds, Value } from '../../checks/types';
import { runCheckAsNobody } from '../helpers/as-nobody';
import { fieldsOf, runCheck, startRun } from '../helpers/check';

// ---------------------------------------------------------------------------------------------
// A local server on a unix socket answering as the Docker Engine API does (Docker 26.1, API
// 1.45): GET /containers/{id}/json with ContainerInspect JSON, the headers Docker sends, and
// {"message": ...} error bodies, each body ending with the newline Go's JSON encoder writes.
// ---------------------------------------------------------------------------------------------

const ID = '3f4e8a9c1b2d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f';
const STARTED = '2024-05-01T10:00:00.123456789Z';
const NEVER = '0001-01-01T00:00:00Z';
/** The clock the runs get: 3 h 25 min 7 s after STARTED. */
const NOW = Date.parse('2024-05-01T13:25:07.500Z');

type State = Record<string, unknown>;

/** A ContainerInspect reply as `docker inspect web` prints it (one element of its array), with `state` for State. */
function inspect(state: State, extra: { restartCount?: number; healthcheck?: boolean } = {}): Record<string, unknown> {
  const dir = `/var/lib/docker/containers/${ID}`;
  return {
    Id: ID,
    Created: '2024-05-01T09:59:58.412384753Z',
    Path: '/docker-entrypoint.sh',
    Args: ['nginx', '-g', 'daemon off;'],
    State: state,
    Image: 'sha256:1445eb9c6dc5e9619346c836ef6fbd6a95092e4663f27dcad6d9f7c1f6a75c05',
    ResolvConfPath: `${dir}/resolv.conf`,
    HostnamePath: `${dir}/hostname`,
    HostsPath: `${dir}/hosts`,
    LogPath: `${dir}/${ID}-json.log`,
    Name: '/web',
    RestartCount: extra.restartCount ?? 0,
    Driver: 'overlay2',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: 'docker-default',
    ExecIDs: null,
    HostConfig: {
      Binds: null,
      ContainerIDFile: '',
      LogConfig: { Type: 'json-file', Config: {} },
      NetworkMode: 'bridge',
      PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '8080' }] },
      RestartPolicy: { Name: 'unless-stopped', MaximumRetryCount: 0 },
      AutoRemove: false,
      Memory: 268435456,
      MemorySwap: 536870912,
      OomKillDisable: null,
      PidsLimit: null,
    },
    GraphDriver: {
      Data: { MergedDir: `/var/lib/docker/overlay2/9c1e/merged`, UpperDir: '/var/lib/docker/overlay2/9c1e/diff', WorkDir: '/var/lib/docker/overlay2/9c1e/work' },
      Name: 'overlay2',
    },
    Mounts: [],
    Config: {
      Hostname: '3f4e8a9c1b2d',
      Domainname: '',
      User: '',
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      ExposedPorts: { '80/tcp': {} },
      Tty: false,
      OpenStdin: false,
      StdinOnce: false,
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'NGINX_VERSION=1.27.0'],
      Cmd: ['nginx', '-g', 'daemon off;'],
      ...(extra.healthcheck === false ? {} : {
        Healthcheck: { Test: ['CMD-SHELL', 'curl -fsS http://localhost/ || exit 1'], Interval: 30000000000, Timeout: 5000000000, Retries: 3 },
      }),
      Image: 'nginx:1.27',
      Volumes: null,
      WorkingDir: '',
      Entrypoint: ['/docker-entrypoint.sh'],
      OnBuild: null,
      Labels: { maintainer: 'NGINX Docker Maintainers <docker-maint@nginx.com>' },
      StopSignal: 'SIGQUIT',
    },
    NetworkSettings: {
      Bridge: '',
      SandboxID: 'a4d1c7e0b9f8',
      SandboxKey: '/var/run/docker/netns/a4d1c7e0b9f8',
      Ports: { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }] },
      Gateway: '172.17.0.1',
      IPAddress: '172.17.0.2',
      IPPrefixLen: 16,
      MacAddress: '02:42:ac:11:00:02',
      Networks: {},
    },
  };
}

const healthLog = (exitCode: number, output: string, n = 1) =>
  Array.from({ length: n }, (_, i) => ({
    Start: `2024-05-01T13:2${i}:00.000000000Z`,
    End: `2024-05-01T13:2${i}:00.052310000Z`,
    ExitCode: exitCode,
    Output: output,
  }));

const runningState = (health?: State): State => ({
  Status: 'running', Running: true, Paused: false, Restarting: false, OOMKilled: false, Dead: false,
  Pid: 4242, ExitCode: 0, Error: '', StartedAt: STARTED, FinishedAt: NEVER,
  ...(health ? { Health: health } : {}),
});

const CURL_FAIL = "curl: (7) Failed to connect to localhost port 80 after 0 ms: Couldn't connect to server\n";

/** The scenarios the fake daemon knows, by container name. */
const CONTAINERS: Record<string, Record<string, unknown>> = {
  healthy: inspect(runningState({ Status: 'healthy', FailingStreak: 0, Log: healthLog(0, '<!DOCTYPE html>\n<html>…') })),
  unhealthy: inspect(runningState({ Status: 'unhealthy', FailingStreak: 3, Log: [...healthLog(0, 'ok'), ...healthLog(1, CURL_FAIL, 3)] })),
  oom: inspect({
    Status: 'exited', Running: false, Paused: false, Restarting: false, OOMKilled: true, Dead: false,
    Pid: 0, ExitCode: 137, Error: '', StartedAt: STARTED, FinishedAt: '2024-05-01T13:20:07.000000000Z',
  }, { healthcheck: false }),
  restarting: inspect({
    Status: 'restarting', Running: true, Paused: false, Restarting: true, OOMKilled: false, Dead: false,
    Pid: 0, ExitCode: 1, Error: '', StartedAt: '2024-05-01T13:24:59.000000000Z', FinishedAt: '2024-05-01T13:25:00.000000000Z',
  }, { restartCount: 7, healthcheck: false }),
  paused: inspect({
    Status: 'paused', Running: true, Paused: true, Restarting: false, OOMKilled: false, Dead: false,
    Pid: 4242, ExitCode: 0, Error: '', StartedAt: STARTED, FinishedAt: NEVER,
    Health: { Status: 'healthy', FailingStreak: 0, Log: healthLog(0, 'ok') },
  }),
  plain: inspect(runningState(), { healthcheck: false }),
  'oom-running': inspect({ ...runningState(), OOMKilled: true }, { healthcheck: false }),
};

const DOCKER_HEADERS = { 'Api-Version': '1.45', 'Docker-Experimental': 'false', Ostype: 'linux', Server: 'Docker/26.1.3 (linux)' };

interface FakeDocker {
  socket: string;
  /** The paths requested, in order. */
  requests: Array<{ method: string; url: string }>;
  /** Connections the server holds open now. */
  open(): number;
}

const dirs: string[] = [];
const servers: http.Server[] = [];

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kw-docker-'));
  dirs.push(dir);
  return dir;
}

/** Starts a server on a new socket file; `handler` replaces the Docker-like one when given. */
async function fakeDocker(handler?: http.RequestListener): Promise<FakeDocker> {
  const socket = path.join(tempDir(), 'docker.sock');
  const requests: FakeDocker['requests'] = [];
  const conns = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '' });
    if (handler) return handler(req, res);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { ...DOCKER_HEADERS, 'Content-Type': 'application/json', Date: new Date(NOW).toUTCString() });
      res.end(`${JSON.stringify(body)}\n`);
    };
    const m = /^(?:\/v(1\.\d+))?\/containers\/([^/]+)\/json$/.exec(req.url ?? '');
    if (!m || req.method !== 'GET') return send(404, { message: 'page not found' });
    if (m[1] !== undefined && Number(m[1].split('.')[1]) < 44) {
      return send(400, { message: `client version ${m[1]} is too old. Minimum supported API version is 1.44, please upgrade your client to a newer version` });
    }
    const name = decodeURIComponent(m[2]);
    const found = CONTAINERS[name];
    if (!found) return send(404, { message: `No such container: ${name}` });
    send(200, found);
  });
  server.on('connection', (s) => {
    conns.add(s);
    s.on('close', () => conns.delete(s));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return { socket, requests, open: () => conns.size };
}

/** Resolves once `cond` holds, polling; the test's own timeout bounds it. */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 10));
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => {
    s.closeAllConnections();
    return new Promise((resolve) => s.close(resolve));
  }));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Runs the check with the clock at NOW. */
function run(raw: Record<string, unknown>): Promise<Observation> {
  return startRun(dockerCheck, raw, { now: () => NOW }).run;
}

const defaults = dockerCheck.defaults as Thresholds;
/** The level the default thresholds give these values: crit, warn or ok. */
function level(values: Record<string, Value>): string {
  const fields = fieldsOf(dockerCheck, { container: 'x' });
  const fires = (conds: string[] = []) => conds.some((c) => parseCondition(c, fields).test(values) === true);
  return fires(defaults.crit) ? 'crit' : fires(defaults.warn) ? 'warn' : 'ok';
}

describe('docker check', () => {
  it('reads a running, healthy container', async () => {
    const d = await fakeDocker();
    const obs = await run({ container: 'healthy', socket: d.socket });
    expect(d.requests).toEqual([{ method: 'GET', url: '/containers/healthy/json' }]);
    expect(obs.up).toBeUndefined();
    expect(obs.values).toEqual({
      running: true, state: 'running', health: 'healthy', restarts: 0, oomKilled: false, exitCode: 0,
      uptimeSeconds: 3 * 3600 + 25 * 60 + 7, failingStreak: 0,
    });
    expect(obs.message).toBe('web (nginx:1.27) running for 3h25m7s, healthy');
    expect(level(obs.values)).toBe('ok');
  });

  it('reports an unhealthy container with its failing streak and the last check output, critical', async () => {
    const d = await fakeDocker();
    const obs = await run({ container: 'unhealthy', socket: d.socket });
    expect(obs.values).toMatchObject({ running: true, health: 'unhealthy', failingStreak: 3 });
    expect(obs.message).toBe(
      `web (nginx:1.27) running for 3h25m7s, unhealthy (3 failed checks in a row, last: "curl: (7) Failed to connect to localhost port 80 after 0 ms: Couldn't connect to server")`,
    );
    expect(level(obs.values)).toBe('crit');
  });

  it('cuts a long health check output in the message', async () => {
    const long = 'x'.repeat(5000);
    const d = await fakeDocker((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(inspect(runningState({ Status: 'unhealthy', FailingStreak: 1, Log: healthLog(1, long) }))));
    });
    const obs = await run({ container: 'web', socket: d.socket });
    expect(obs.message).toContain(`last: "${'x'.repeat(200)}…"`);
    expect(obs.message.length).toBeLessThan(320);
  });

  it('reports an exited, OOM-killed container: not running, exit code 137, no uptime', async () => {
    const d = await fakeDocker();
    const obs = await run({ container: 'oom', socket: d.socket });
    expect(obs.values).toEqual({ running: false, state: 'exited', health: 'none', restarts: 0, oomKilled: true, exitCode: 137 });
    expect(obs.message).toBe('web (nginx:1.27) exited with code 137 (OOM-killed) 5m ago');
    expect(level(obs.values)).toBe('crit');
  });

  it('reports a container in a restart loop with its restart count', async () => {
    const d = await fakeDocker();
    const obs = await run({ container: 'restarting', socket: d.socket });
    // The API says Running: true while restarting; the check does not count that as running.
    expect(obs.values).toEqual({ running: false, state: 'restarting', health: 'none', restarts: 7, oomKilled: false, exitCode: 1 });
    expect(obs.message).toBe('web (nginx:1.27) restarting (last exit code 1), restarted 7 times');
    expect(level(obs.values)).toBe('crit');
  });

  it('reports a paused container as not running', async () => {
    const d = await fakeDocker();
    const obs = await run({ container: 'paused', socket: d.socket });
    expect(obs.values).toMatchObject({ running: false, state: 'paused', health: 'healthy' });
    expect(obs.values.uptimeSeconds).toBeUndefined();
    expect(obs.message).toBe('web (nginx:1.27) paused, healthy');
    expect(level(obs.values)).toBe('crit');
  });

  it('reads health none and no failing streak without a HEALTHCHECK', async () => {
    const d = await fakeDocker();
    const obs = await run({ container: 'plain', socket: d.socket });
    expect(obs.values).toEqual({ running: true, state: 'running', health: 'none', restarts: 0, oomKilled: false, exitCode: 0, uptimeSeconds: 12307 });
    expect(obs.message).toBe('web (nginx:1.27) running for 3h25m7s');
    expect(level(obs.values)).toBe('ok');
  });

  it('warns when a process in a running container was OOM-killed', async () => {
    const d = await fakeDocker();
    const obs = await run({ container: 'oom-running', socket: d.socket });
    expect(obs.values).toMatchObject({ running: true, oomKilled: true });
    expect(obs.message).toContain('a process in it was OOM-killed since it started');
    expect(level(obs.values)).toBe('warn');
  });

  it('encodes the container name into one path segment and asks the pinned API version', async () => {
    const d = await fakeDocker();
    const evil = await run({ container: 'web/../../info?x=1#y', socket: d.socket });
    expect(d.requests[0].url).toBe('/containers/web%2F..%2F..%2Finfo%3Fx%3D1%23y/json');
    expect(evil).toMatchObject({ up: false, failure: 'error', message: 'container web/../../info?x=1#y: No such container: web/../../info?x=1#y' });
    await run({ container: '/healthy', socket: d.socket });
    expect(d.requests[1].url).toBe('/containers/healthy/json');
    const pinned = await run({ container: 'healthy', socket: d.socket, apiVersion: '1.45' });
    expect(d.requests[2].url).toBe('/v1.45/containers/healthy/json');
    expect(pinned.values.running).toBe(true);
  });

  it('makes a container that does not exist critical with the API message', async () => {
    const d = await fakeDocker();
    const obs = await run({ container: 'gone', socket: d.socket });
    expect(obs).toEqual({ up: false, failure: 'error', message: 'container gone: No such container: gone', values: {} });
  });

  it('reads Podman\'s 404 body as a missing container too', async () => {
    const d = await fakeDocker((_req, res) => {
      res.writeHead(404, { 'Api-Version': '1.41', 'Libpod-Api-Version': '5.2.2', Server: 'Libpod/5.2.2 (linux)', 'Content-Type': 'application/json' });
      res.end('{"cause":"no such container","message":"no container with name or ID \\"db\\" found: no such container","response":404}\n');
    });
    const obs = await run({ container: 'db', socket: d.socket });
    expect(obs).toEqual({ up: false, failure: 'error', message: 'container db: no container with name or ID "db" found: no such container', values: {} });
  });

  it('is unknown, saying what to change, when the daemon refuses the pinned API version', async () => {
    const d = await fakeDocker();
    await expect(run({ container: 'healthy', socket: d.socket, apiVersion: 'v1.41' })).rejects.toThrow(
      /refused API version 1\.41 \(it speaks up to 1\.45\): client version 1\.41 is too old\. Minimum supported API version is 1\.44.*remove apiVersion/,
    );
    expect(d.requests[0].url).toBe('/v1.41/containers/healthy/json');
  });

  it('is unknown on another API error, with its message', async () => {
    const d = await fakeDocker((_req, res) => {
      res.writeHead(500, { 'Content-Type': 'application/json' });
      res.end('{"message":"Error response from daemon: context deadline exceeded"}\n');
    });
    await expect(run({ container: 'web', socket: d.socket })).rejects.toThrow(/answered HTTP 500 to the inspect of web: Error response from daemon: context deadline exceeded$/);
  });

  it('is unknown on a reply that is not JSON or not a container', async () => {
    const d = await fakeDocker((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end(req.url!.includes('json-array') ? '[]' : '<html>proxy login</html>');
    });
    await expect(run({ container: 'web', socket: d.socket })).rejects.toThrow(/not JSON: "<html>proxy login<\/html>"/);
    await expect(run({ container: 'json-array', socket: d.socket })).rejects.toThrow(/no State\.Status/);
  });

  it('stops reading a reply over 2 MiB and is unknown', async () => {
    const d = await fakeDocker((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(`{"pad":"${'a'.repeat(3 * 1024 * 1024)}"}`);
    });
    await expect(run({ container: 'web', socket: d.socket })).rejects.toThrow(/larger than 2 MiB/);
    await until(() => d.open() === 0);
    expect(d.open()).toBe(0);
  });

  it('is unknown with a hint when there is no socket', async () => {
    const socket = path.join(tempDir(), 'docker.sock');
    await expect(run({ container: 'web', socket })).rejects.toThrow(
      `docker check: no Docker socket at ${socket}: is Docker (or Podman's API service, podman.socket) running? Set socket: to where it listens (Podman: /run/podman/podman.sock)`,
    );
  });

  it('is unknown when the path is a file, not a socket', async () => {
    const file = path.join(tempDir(), 'docker.sock');
    writeFileSync(file, '');
    await expect(run({ container: 'web', socket: file })).rejects.toThrow(`${file} is not a unix socket`);
  });

  it('is critical (refused) when the socket is left over and no daemon listens', async () => {
    const socket = path.join(tempDir(), 'docker.sock');
    // A process that dies while listening leaves its socket file behind, as a crashed dockerd does.
    const child = spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(socket)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    expect([child.signal, statSync(socket).isSocket()]).toEqual(['SIGKILL', true]);
    const obs = await run({ container: 'web', socket });
    expect(obs).toMatchObject({ up: false, failure: 'refused', message: `nothing listens on ${socket}: the Docker daemon is not running (the socket file is left over)` });
  }, 15_000);

  it('is unknown with what to grant when the agent user may not use the socket', async () => {
    const d = await fakeDocker();
    chmodSync(path.dirname(d.socket), 0o755);
    chmodSync(d.socket, 0o000);
    const { observation, error } = await runCheckAsNobody('docker', { container: 'healthy', socket: d.socket });
    expect(observation).toBeUndefined();
    expect(error).toBe(
      `docker check: the agent's user may not use ${d.socket} (permission denied): add it to the socket's group (docker; that is root-equivalent, as the API can start privileged containers) or point socket: at a socket proxy that allows only GET /containers/{id}/json`,
    );
    // Root is let in: the same socket answers, so the refusal above was the permission.
    expect((await run({ container: 'healthy', socket: d.socket })).values.running).toBe(true);
  }, 30_000);

  it('times out on a daemon that never answers and leaves no connection open', async () => {
    const d = await fakeDocker(() => undefined);
    const started = startRun(dockerCheck, { container: 'web', socket: d.socket }, { timeoutMs: 3000, now: () => NOW });
    await until(() => d.requests.length === 1 && d.open() === 1);
    started.abort();
    expect(await started.run).toEqual({ up: false, failure: 'timeout', message: `Docker at ${d.socket} did not answer within 3s`, values: {} });
    await until(() => d.open() === 0);
    expect(d.open()).toBe(0);
  });

  it('returns at once, as a timeout, when the run was aborted before it started', async () => {
    const d = await fakeDocker();
    const started = startRun(dockerCheck, { container: 'web', socket: d.socket }, { timeoutMs: 1000 });
    started.abort();
    expect(await started.run).toMatchObject({ up: false, failure: 'timeout' });
    expect(d.requests).toEqual([]);
  });

  it('keeps no connection after many runs', async () => {
    const d = await fakeDocker();
    for (let i = 0; i < 100; i++) expect((await runCheck(dockerCheck, { container: 'healthy', socket: d.socket })).values.health).toBe('healthy');
    await until(() => d.open() === 0);
    expect(d.requests).toHaveLength(100);
  });

  it('refuses a config without a container, a relative socket or a malformed API version', () => {
    expect(dockerCheck.schema.safeParse({}).success).toBe(false);
    expect(dockerCheck.schema.safeParse({ container: '' }).success).toBe(false);
    expect(dockerCheck.schema.safeParse({ container: 'web', socket: 'docker.sock' }).success).toBe(false);
    expect(dockerCheck.schema.safeParse({ container: 'web', apiVersion: 'latest' }).success).toBe(false);
    expect(dockerCheck.schema.parse({ container: 'web' })).toEqual({ container: 'web', socket: '/var/run/docker.sock' });
  });
});
