import { Status } from '../../agent/evaluate';
import { engineHarness, result } from '../helpers/engine';

// Issue 9, item 10: the WAL filled a 200 KB volume within 30 s. One cause: every result of a
// failing check rewrote its open incident's message and values (a latency changes every run)
// in a transaction of its own, whole pages each. They now go with the 5 s batch of states.

const { Ok: O, Critical: C } = Status;

const yaml = `
agent: { name: web-01 }
incidents: { openAfter: 1, resolveAfter: 1 }
notifiers:
  - { name: hook, type: webhook, url: "http://127.0.0.1:9/hook" }
checks:
  - { name: api, type: http, url: "http://127.0.0.1:9/" }
`;

let h: ReturnType<typeof engineHarness>;
afterEach(async () => h?.close());

function feed(status: Status, message: string, latencyMs: number) {
  const check = h.checks.get('api')!;
  h.engine.onResult(check, { ...result(check, status, h.clock.t, message), values: { latencyMs } });
}

/** Rows the store has written so far. */
function writes(): number {
  return h.store.changes();
}

test('results of an open incident are written in the 5 s batch, not one transaction each; the latest wins', () => {
  h = engineHarness(yaml);
  feed(C, 'down 1', 10);
  expect(h.store.getIncident(1)).toMatchObject({ summary: 'down 1', values: { latencyMs: 10 } });
  const before = writes();
  for (let i = 2; i <= 20; i++) feed(C, `down ${i}`, 10 * i);
  expect(writes()).toBe(before);
  // Memory (and so every event queued meanwhile) has the latest; the store gets it with the batch.
  expect(h.engine.openIncidents()[0]).toMatchObject({ summary: 'down 20', values: { latencyMs: 200 } });
  h.advance(5000);
  expect(h.store.getIncident(1)).toMatchObject({ summary: 'down 20', values: { latencyMs: 200 } });
});

test('a decision writes the latest message at once, and a clean restart keeps it', () => {
  h = engineHarness(yaml);
  feed(C, 'down 1', 10);
  feed(C, 'down 2', 20);
  feed(O, 'up again', 5);
  // The cause stays the summary; the resolution says what resolved it, and so does the resolve event.
  expect(h.store.getIncident(1)).toMatchObject({ state: 'resolved', summary: 'down 2', resolution: 'recovered: up again' });
  const resolve = JSON.parse(h.store.notificationsOf(1).find((n) => n.event === 'resolve')!.payload);
  expect(resolve).toMatchObject({ message: 'critical: api: down 2', incident: { summary: 'down 2', resolvedBy: 'auto' }, details: { by: 'auto', why: 'recovered: up again' } });
  feed(C, 'down again', 30);
  feed(C, 'down still', 40);
  h.restart('clean');
  expect(h.store.getIncident(2)).toMatchObject({ state: 'open', summary: 'down still', values: { latencyMs: 40 } });
});
