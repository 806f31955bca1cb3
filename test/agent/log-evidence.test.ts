/**
 * A log check through the agent: its last matching lines are shown with the check's last
 * result (GET /api/v1/checks/NAME) and kept in the incident's evidence, in the store, across a
 * restart.
 */
import fs from 'node:fs';
import path from 'node:path';
import { startAgentOnStore } from '../helpers/agent-on-store';
import { tempDir } from '../helpers/daemon';

let dir: ReturnType<typeof tempDir>;
let configFile: string;
let logFile: string;

beforeAll(() => {
  dir = tempDir();
  logFile = path.join(dir.dir, 'error.log');
  fs.writeFileSync(logFile, '2026/06/15 11:00:00 [crit] 1#1: before the agent started\n');
  configFile = path.join(dir.dir, 'keepwatch.yaml');
  fs.writeFileSync(configFile, [
    `agent: { name: t, dataDir: "${path.join(dir.dir, 'data')}" }`,
    'api: { token: admin-1, readToken: reader-2 }',
    'incidents: { openAfter: 1 }',
    'checks:',
    `  - { name: nginx-errors, type: log, path: "${logFile}", match: "\\\\[(crit|alert|emerg)\\\\]", lines: 2, every: 1h }`,
  ].join('\n'));
});
afterAll(() => dir.cleanup());

const start = () => startAgentOnStore(configFile);

async function get(base: string, p: string): Promise<any> {
  const res = await fetch(`${base}${p}`, { headers: { Authorization: 'Bearer reader-2' } });
  expect(res.status).toBe(200);
  return res.json();
}

test('the last matching lines ride on the result, into the incident\'s evidence and the store', async () => {
  let a = await start();
  const first = (await a.agent.runNow('nginx-errors')).result!;
  expect(first).toMatchObject({ statusText: 'ok', values: { matches: 0 } });
  expect(first).not.toHaveProperty('excerpt');
  const lines = ['[crit] one', '[alert] two', '[emerg] three'].map((m, i) => `2026/06/15 12:00:0${i} ${m}`);
  fs.appendFileSync(logFile, `${lines.join('\n')}\n2026/06/15 12:00:09 [info] fine\n`);
  const r = (await a.agent.runNow('nginx-errors')).result!;
  expect(r).toMatchObject({ statusText: 'warning', condition: 'matches > 0', values: { matches: 3, newMatches: 3 }, excerpt: lines.slice(1) });

  const shown = await get(a.base, '/api/v1/checks/nginx-errors');
  expect(shown.last.excerpt).toEqual(lines.slice(1));
  const { incidents } = await get(a.base, '/api/v1/incidents');
  expect(incidents).toHaveLength(1);
  const incident = await get(a.base, `/api/v1/incidents/${incidents[0].id}`);
  expect(incident.evidence.at(-1).excerpt).toEqual(lines.slice(1));
  await a.stop();

  a = await start();
  const again = await get(a.base, `/api/v1/incidents/${incidents[0].id}`);
  expect(again.evidence.at(-1).excerpt).toEqual(lines.slice(1));
  await a.stop();
});
