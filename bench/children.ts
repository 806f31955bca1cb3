import { spawn, fork, type ChildProcess, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** A child process the bench started, with the tail of its output. */
export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  /** Last lines of stdout and stderr together. */
  tail: string[];
  /** Output lines seen so far. */
  lines: number;
  exited: Promise<number | null>;
  /** Ends the process: SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

const children = new Set<Child>();
const dirs = new Set<string>();
const TAIL = 40;

/** Starts a process whose lifetime the bench owns: it is ended on exit, failure or Ctrl-C. */
export function start(name: string, file: string, args: string[], opts: SpawnOptions & { ipc?: boolean } = {}): Child {
  const proc = opts.ipc
    ? fork(file, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
    : spawn(file, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
  if (proc.pid === undefined) throw new Error(`${name}: could not start ${file}`);
  const tail: string[] = [];
  const exited = new Promise<number | null>((resolve) => {
    proc.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : null)));
    proc.on('error', () => resolve(null));
  });
  const child: Child = {
    name,
    proc,
    pid: proc.pid,
    tail,
    lines: 0,
    exited,
    async stop(graceMs = 5000) {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      children.delete(child);
    },
  };
  let buf = '';
  const onData = (chunk: Buffer) => {
    buf += chunk.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      child.lines++;
      tail.push(buf.slice(0, i));
      if (tail.length > TAIL) tail.shift();
      buf = buf.slice(i + 1);
    }
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  children.add(child);
  void exited.then(() => children.delete(child));
  return child;
}

/** A temporary directory, removed when the bench ends. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `keepwatch-bench-${prefix}-`));
  dirs.add(dir);
  return dir;
}

/** Removes a temporary directory now. */
export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  dirs.delete(dir);
}

/** Ends every child and removes every temporary directory. */
export async function cleanupAll(): Promise<void> {
  await Promise.all([...children].map((c) => c.stop(3000)));
  for (const dir of [...dirs]) removeDir(dir);
}

let installed = false;

/** Makes sure children and temp dirs go even when the bench fails or is interrupted. */
export function installCleanup(): void {
  if (installed) return;
  installed = true;
  // Last resort when the process exits without running cleanupAll (e.g. process.exit elsewhere).
  process.on('exit', () => {
    for (const c of children) c.proc.kill('SIGKILL');
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      process.stderr.write(`\nbench: ${signal}: stopping children and removing temp dirs\n`);
      void cleanupAll().finally(() => process.exit(130));
    });
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** The answer to a GET, with how long it took from request to the end of the body. */
export interface Fetched {
  status: number;
  body: string;
  ms: number;
}

/** GETs a URL; `agent: false` (the default) opens a fresh connection. */
export function get(url: string, agent: http.Agent | false = false, timeoutMs = 10_000): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.get(url, { agent, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const ms = performance.now() - t0; // before decoding the body: that is the client's cost, not the server's
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ms });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** Polls `url` until it answers 200; fails when the child exits first or time runs out. */
export async function waitHealthy(child: Child, url: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | null | undefined;
  void child.exited.then((c) => (exitCode = c ?? -1));
  for (;;) {
    if (exitCode !== undefined) throw new Error(`${child.name} exited (${exitCode}) before it was ready:\n${child.tail.join('\n')}`);
    try {
      if ((await get(url, false, 1000)).status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${child.name} not ready at ${url} within ${timeoutMs} ms:\n${child.tail.join('\n')}`);
    await sleep(100);
  }
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
