import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Agent } from '../../agent/agent';
import { loadConfigText } from '../../agent/config/load';
import { createLogger } from '../../agent/logger';
import { Metrics } from '../../agent/metrics';
import { Store } from '../../agent/store/store';
import { tempDir } from '../helpers/daemon';
import { sleep } from '../helpers/fake-checks';
import { closedPort } from '../helpers/servers';

jest.setTimeout(30_000);

const fixture = path.resolve(__dirname, '../fixtures/remediate/serve-port.js');
let dir: ReturnType<typeof tempDir>;
let store: Store;
let agent: Agent;
const pidfiles: string[] = [];

afterEach(async () => {
  await agent?.stop();
  store?.close();
  for (const f of pidfiles.splice(0)) {
    if (fs.existsSync(f)) {
      try {
        process.kill(Number(fs.readFileSync(f, 'utf8')));
      } catch {
        // already gone
      }
    }
  }
  dir?.cleanup();
});

async function start(remediate: string, port: number) {
  dir = tempDir();
  store = Store.open(dir.dir);
  const yaml = `
agent: { name: web-01 }
notifiers: [{ name: oncall, type: webhook, url: "http://127.0.0.1:9/" }]
escalation:
  - { name: L1, after: 0s }
  - { name: L2, after: 1h, notify: [oncall] }
checks:
  - name: app
    type: http
    url: "http://127.0.0.1:${port}/"
    every: 1h
    openAfter: 1
    remediate:
${remediate}
`;
  const config = loadConfigText(yaml, 'kw.yaml', { env: {} });
  const log = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) as never });
  agent = await Agent.create(config, { log, metrics: new Metrics({ version: 't', defaultMetrics: false }), store, initialSpreadMs: 3_600_000 });
  agent.start();
}

async function settled(id: number, pred: (state: string, tier?: string) => boolean) {
  const end = Date.now() + 20_000;
  for (;;) {
    const inc = store.getIncident(id);
    if (inc && pred(inc.state, inc.tier)) return inc;
    if (Date.now() > end) throw new Error(`incident ${id}: ${JSON.stringify(inc && { state: inc.state, tier: inc.tier })}; timeline ${JSON.stringify(store.timeline(id))}`);
    await sleep(50);
  }
}

/** Polls until `get` returns something, for at most 20 s. */
async function eventually<T>(get: () => T | undefined): Promise<T> {
  const end = Date.now() + 20_000;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('not seen within 20 s');
    await sleep(20);
  }
}

test('L1 remediation that fixes the problem: the server is restarted, the check passes, the incident resolves as fixed by L1', async () => {
  const port = await closedPort();
  const pidfile = path.join(require('node:os').tmpdir(), `kw-fix-${port}.pid`);
  pidfiles.push(pidfile);
  await start(`      actions:\n        - command: ["${process.execPath}", "${fixture}", "${port}", "${pidfile}"]`, port);
  await agent.runNow('app');
  const inc = await settled(1, (s) => s === 'resolved');
  expect(inc).toMatchObject({ resolvedBy: 'L1', resolution: 'fixed by L1' });
  const timeline = store.timeline(1);
  expect(timeline.map((t) => t.kind)).toEqual(expect.arrayContaining(['opened', 'remediation', 'resolved']));
  const ran = timeline.find((t) => t.message === 'L1 remediation ran');
  expect((ran?.data as any).actions[0]).toMatchObject({ kind: 'command', ok: true, exitCode: 0, output: expect.stringContaining(`listening on ${port}`) });
  // L2 never heard of it: the page was not needed.
  expect(store.notificationsOf(1).map((n) => n.event)).toEqual([]);
  expect(agent.getCheck('app')?.last?.statusText).toBe('ok');
  expect((await agent.metrics.expose()).body.toString()).toMatch(/^keepwatch_remediations_total\{check="app",result="fixed"\} 1$/m);
});

test('L1 remediation that does not fix it escalates to L2 at once', async () => {
  const port = await closedPort();
  await start(`      actions:\n        - command: ["${process.execPath}", "-e", "console.error('no such service'); process.exit(3)"]`, port);
  await agent.runNow('app');
  const inc = await settled(1, (_s, tier) => tier === 'L2');
  expect(inc.state).toBe('open');
  const failed = store.timeline(1).find((t) => t.message === 'L1 remediation failed');
  expect((failed?.data as any).actions[0]).toMatchObject({ ok: false, exitCode: 3, output: expect.stringContaining('no such service') });
  expect(store.timeline(1).map((t) => t.message)).toContain('escalated to L2 at once');
  expect(store.notificationsOf(1).map((n) => [n.event, n.notifier])).toEqual([['trigger', 'oncall']]);
});

test('the rate limit stops a fix that keeps not working', async () => {
  const port = await closedPort();
  await start(`      actions:\n        - command: ["${process.execPath}", "-e", "process.exit(1)"]\n      limit: { max: 1, within: 1h }\n      cooldown: 1s`, port);
  await agent.runNow('app');
  await settled(1, (_s, tier) => tier === 'L2');
  agent.incidents!.resolve(1, 'alice');
  await agent.runNow('app');
  await settled(2, () => true);
  // The decision is written just after the incident opens: wait for it, not for a fixed time.
  const skipped = await eventually(() => store.timeline(2).find((t) => t.kind === 'remediation'));
  expect(skipped?.message).toMatch(/^L1 remediation skipped: .*1 .*1h/);
  expect(store.remediationsSince('app', 0)).toHaveLength(1);
});
