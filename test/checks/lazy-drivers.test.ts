import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { packageRoot } from '../../agent/paths';

/**
 * Service drivers load only when a check of their type runs (`await import()` inside run), so
 * the idle agent's memory does not grow: loading the registry and the agent must leave every
 * one of them out of require.cache. Add a new type's driver packages here.
 */
const DRIVERS = ['pg', 'pg-protocol', 'pg-pool', 'mysql2', 'ioredis', '@ioredis/commands', 'nats', 'nkeys.js', '@grpc/grpc-js', '@grpc/proto-loader', '@js-sdsl/ordered-map', 'amqplib', 'mqtt', 'mqtt-packet'];

test('loading the check registry and the agent loads no service driver', () => {
  const root = packageRoot();
  const script = `
    require(${JSON.stringify(path.join(root, 'dist/checks/index.js'))});
    require(${JSON.stringify(path.join(root, 'dist/agent/agent.js'))});
    const names = new Set();
    for (const k of Object.keys(require.cache)) {
      const m = /[\\\\/]node_modules[\\\\/]((?:@[^\\\\/]+[\\\\/])?[^\\\\/]+)[\\\\/]/.exec(k);
      if (m) names.add(m[1].replace(/\\\\/g, '/'));
    }
    process.stdout.write(JSON.stringify([...names]));
  `;
  const loaded: string[] = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8' }));
  expect(loaded.length).toBeGreaterThan(0); // the scan does see node_modules (zod at least)
  expect(loaded.filter((n) => DRIVERS.includes(n))).toEqual([]);
});
