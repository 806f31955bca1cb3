import { execFile } from 'node:child_process';
import path from 'node:path';
import { packageRoot } from '../../agent/paths';
import type { Observation } from '../../checks/types';

/** uid and gid of `nobody` on Debian: what a check sees when the agent does not run as root. */
export const NOBODY = 65534;

// Runs in the child: the built check (dist/, made by jest's global setup), parsed and run once.
const CHILD = `
const { registry } = require(process.argv[1]);
const [type, raw] = [process.argv[2], JSON.parse(process.argv[3])];
const def = registry.get(type);
const ac = new AbortController();
const kept = new Map();
const state = { persistent: false, get: async (k) => kept.get(k), set: async (k, v) => { kept.set(k, v); } };
setTimeout(() => ac.abort(new Error('timeout')), 10000).unref();
Promise.resolve()
  .then(() => def.run({ name: type, spec: def.schema.parse(raw), signal: ac.signal, timeoutMs: 10000, log: { debug() {}, info() {}, warn() {}, error() {} }, now: Date.now, holdsSecret: () => false, state }))
  .then((observation) => process.stdout.write(JSON.stringify({ observation })), (err) => process.stdout.write(JSON.stringify({ error: err.message })));
`;

/**
 * Runs one check of `type` once as uid/gid 65534 in a child process: how "no permission"
 * is tested when the tests themselves run as root (root reads every file). Resolves with the
 * observation, or the error message a thrown error (status unknown) carries.
 */
export function runCheckAsNobody(type: string, raw: Record<string, unknown>): Promise<{ observation?: Observation; error?: string }> {
  const registry = path.join(packageRoot(), 'dist/checks/index.js');
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', CHILD, registry, type, JSON.stringify(raw)], { uid: NOBODY, gid: NOBODY, timeout: 20_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`child failed: ${err.message}\n${stderr}`));
      resolve(JSON.parse(stdout));
    });
  });
}
