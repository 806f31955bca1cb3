import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '../../agent/paths';

/** The built CLI entry point. */
export const CLI = path.join(packageRoot(), 'dist', 'agent', 'cli.js');

/** A temporary directory, removed by the returned cleanup. */
export function tempDir(): { dir: string; cleanup(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keepwatch-test-'));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }) };
}

/** Stops a child process (SIGTERM, then SIGKILL after 5 s) and waits until it has exited. */
export async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** Runs the CLI to completion. */
export function runCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd, env: { ...process.env, ...opts.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A daemon started as a child process, with its log lines. */
export interface Daemon {
  child: ChildProcess;
  port: number;
  base: string;
  logs: string[];
  /** Resolves with the first log line matching `re` (seen already or to come). */
  waitForLog(re: RegExp, timeoutMs?: number): Promise<string>;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `keepwatch run` and resolves once it logs that it is listening. */
export async function startDaemon(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Daemon> {
  const child = spawn(process.execPath, [CLI, 'run', ...args], { cwd: opts.cwd, env: { ...process.env, ...opts.env } });
  const logs: string[] = [];
  const waiters: { re: RegExp; resolve(line: string): void; timer: NodeJS.Timeout }[] = [];
  let buf = '';
  const onData = (chunk: Buffer) => {
    buf += chunk.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      logs.push(line);
      for (const w of [...waiters]) {
        if (w.re.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      for (const w of waiters.splice(0)) clearTimeout(w.timer); // nothing more will be logged
      resolve(code);
    }),
  );
  const waitForLog = (re: RegExp, timeoutMs = 15_000) =>
    new Promise<string>((resolve, reject) => {
      const seen = logs.find((l) => re.test(l));
      if (seen) return resolve(seen);
      const timer = setTimeout(() => reject(new Error(`no log line matching ${re} within ${timeoutMs} ms; got:\n${logs.join('\n')}`)), timeoutMs);
      waiters.push({ re, timer, resolve: (l) => (clearTimeout(timer), resolve(l)) });
    });
  const listening = await Promise.race([
    waitForLog(/"msg":"listening"/),
    exited.then((code) => {
      throw new Error(`daemon exited with ${code} before listening:\n${logs.join('\n')}`);
    }),
  ]);
  const port = Number(/"address":"[^"]*:(\d+)"/.exec(listening)![1]);
  return {
    child,
    port,
    base: `http://127.0.0.1:${port}`,
    logs,
    waitForLog,
    exited,
    stop: (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Polls `fn` until it returns a truthy value, or fails after `timeoutMs`. */
export async function eventually<T>(fn: () => Promise<T | undefined | false>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A temporary directory for the test file (made before its tests, removed after) open to every
 * user, so a child running as nobody gets in: returns a function that makes a fresh
 * subdirectory per call, for tests whose check keeps its place by path.
 */
export function freshDirs(): () => string {
  let tmp: ReturnType<typeof tempDir> | undefined;
  let seq = 0;
  beforeAll(() => {
    tmp = tempDir();
    fs.chmodSync(tmp.dir, 0o755);
  });
  afterAll(() => tmp?.cleanup());
  return () => {
    if (!tmp) throw new Error('freshDirs(): call it at the top of the test file, and the function it returns inside tests');
    const d = path.join(tmp.dir, `t${++seq}`);
    fs.mkdirSync(d, { mode: 0o755 });
    return d;
  };
}
