import fs from 'node:fs';
import path from 'node:path';
import { WAL_LIMIT_BYTES } from '../../agent/store/db';
import { Store, type StoreHealth } from '../../agent/store/store';
import { isDiskError } from '../../agent/store/writer';
import { tempDir } from '../helpers/daemon';

// Issue 9, item 10: while the store could not write, outages opened no incident. The store now
// holds what the file refuses in a copy in memory and writes it once the file takes writes.

/** SQLite's error for a full disk, as the file's commit would throw it. */
const full = () => Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });

let dir: ReturnType<typeof tempDir>;
let disk: { full: boolean };
let store: Store;
let events: string[];
let healths: StoreHealth[];

beforeEach(() => {
  dir = tempDir();
  disk = { full: false };
  events = [];
  healths = [];
  store = open();
});
afterEach(() => {
  store.close();
  dir.cleanup();
});

function open(): Store {
  const s = Store.open(dir.dir, { fault: () => (disk.full ? full() : undefined) });
  s.observe({ error: (op, err) => events.push(`${op}: ${err.message}`), health: (h) => healths.push(h) });
  return s;
}

const incident = (check: string) => ({
  key: `a/${check}`, agent: 'a', check, type: 'http', severity: 'critical' as const, state: 'open' as const, tierIndex: -1,
  summary: 's', labels: {}, values: {}, flapping: false, openedAt: 1, seq: 0, evidence: [], repeats: 0, coverage: '24x7',
  respondBreached: false, resolveBreached: false,
});

/** Opens an incident with its timeline and a page, in one transaction, as the engine does. */
function openIncident(check: string): number {
  return store.transaction(() => {
    const inc = store.insertIncident(incident(check));
    store.addTimeline(inc.id, 2, 'opened', `opened critical: ${check}`);
    store.enqueue({ key: `a:${store.id}:${inc.id}:1`, notifier: 'hook', incidentId: inc.id, event: 'trigger', payload: '{}', createdAt: 2, notBefore: 2 });
    return inc.id;
  });
}

function reopened(): Store {
  store.close();
  store = open();
  return store;
}

test('disk errors are told from bugs by their SQLite code', () => {
  for (const code of ['SQLITE_FULL', 'SQLITE_IOERR_WRITE', 'SQLITE_READONLY', 'SQLITE_CANTOPEN']) expect(isDiskError({ code })).toBe(true);
  for (const code of ['SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_ERROR', undefined]) expect(isDiskError({ code })).toBe(false);
});

test('what a full disk refuses is kept in memory, read back at once, and written once when space returns', () => {
  expect(openIncident('before')).toBe(1);
  disk.full = true;
  // The transaction does not throw: its incident, timeline and page are in memory.
  expect(openIncident('during')).toBe(2);
  store.markDelivered(1, 3, 1);
  expect(store.health()).toEqual({ writable: false, error: 'database or disk is full', pending: 4 });
  expect(events).toEqual(['write: database or disk is full']);
  // Told when the store turned to memory, and of every change held since (for the pending gauge).
  expect(healths[0]).toEqual({ writable: false, error: 'database or disk is full', pending: 0 });
  expect(healths.at(-1)).toEqual({ writable: false, error: 'database or disk is full', pending: 4 });
  expect(store.getIncident(2)).toMatchObject({ check: 'during', state: 'open' });
  expect(store.timeline(2).map((t) => t.message)).toEqual(['opened critical: during']);
  expect(store.dueNotifications(10).map((n) => n.incidentId)).toEqual([2]);

  // Still full: the retry fails, nothing is lost, the failure counts.
  expect(store.maintain(10_000)).toBe(false);
  expect(events.slice(1)).toEqual(['checkpoint: database or disk is full', 'sync: database or disk is full']);
  expect(store.health().pending).toBe(4);
  // Retries are paced: within RETRY_MS nothing is tried.
  expect(store.maintain(11_000)).toBe(false);
  expect(events).toHaveLength(3);

  disk.full = false;
  expect(store.maintain(16_000)).toBe(true);
  expect(store.health()).toEqual({ writable: true, pending: 0 });
  expect(healths.at(-1)).toEqual({ writable: true, pending: 0 });

  const s = reopened();
  expect(s.listIncidents().map((i) => [i.id, i.check])).toEqual([[2, 'during'], [1, 'before']]);
  expect(s.timeline(2).map((t) => t.n)).toEqual([1]);
  expect(s.notificationsOf(1)[0].deliveredAt).toBe(3);
  expect(s.notificationsOf(2)).toHaveLength(1);
  expect(s.integrityCheck()).toBe('ok');
  // Ids go on where the written ones left off.
  expect(openIncident('after')).toBe(3);
});

test('a single write outside a transaction is held too', () => {
  disk.full = true;
  store.saveCheckState('api', { bad: 1 }, 1);
  store.addRemediation('api', 5);
  expect(store.loadCheckStates().get('api')).toEqual({ bad: 1 });
  expect(store.remediationsSince('api', 0)).toEqual([5]);
  disk.full = false;
  expect(store.maintain(0, true)).toBe(true);
  expect(reopened().remediationsSince('api', 0)).toEqual([5]);
});

test('only the last state of a check waits for the file, however long the disk stays full', () => {
  disk.full = true;
  for (let i = 1; i <= 500; i++) store.transaction(() => {
    store.saveCheckState('api', { bad: i }, i);
    store.saveCheckState('db', { bad: i }, i);
  });
  expect(store.health().pending).toBe(2);
  disk.full = false;
  store.maintain(0, true);
  expect(reopened().loadCheckStates()).toEqual(new Map([['api', { bad: 500 }], ['db', { bad: 500 }]]));
});

test('a transaction that fails part-way is thrown (its caller must redo it) and later ones go to memory', () => {
  store.insertIncident(incident('api'));
  // A capped file makes SQLite itself refuse to grow it in the middle of a statement.
  store.capFileSize(true);
  expect(() => store.transaction(() => store.addTimeline(1, 1, 'x', 'y'.repeat(20_000)))).toThrow(/database or disk is full/);
  expect(store.health()).toMatchObject({ writable: false, pending: 0 });
  expect(store.timeline(1)).toEqual([]);
  store.addTimeline(1, 2, 'x', 'y'.repeat(20_000));
  expect(store.timeline(1)).toHaveLength(1);
  expect(store.maintain(0, true)).toBe(false);
  store.capFileSize(false);
  expect(store.maintain(0, true)).toBe(true);
  expect(reopened().timeline(1)).toHaveLength(1);
});

test('a bug is not taken for a full disk: constraint errors are thrown and nothing is held', () => {
  store.insertIncident(incident('api'));
  expect(() => store.insertIncident(incident('api'))).toThrow(/UNIQUE/);
  expect(store.health()).toEqual({ writable: true, pending: 0 });
});

test('the WAL stays small: checkpointed every few pages, truncated by maintain', () => {
  const wal = path.join(dir.dir, 'keepwatch.db-wal');
  store.insertIncident(incident('api'));
  let largest = 0;
  for (let i = 0; i < 400; i++) {
    store.transaction(() => {
      for (let c = 0; c < 20; c++) store.saveCheckState(`check-${c}`, { bad: i, history: Array(21).fill(i) }, i);
      store.addTimeline(1, i, 'x', 'z'.repeat(1000));
    });
    largest = Math.max(largest, fs.statSync(wal).size);
  }
  expect(largest).toBeLessThan(WAL_LIMIT_BYTES + 128 * 1024);
  store.maintain(0, true);
  expect(fs.statSync(wal).size).toBe(0);
});

test('a long outage holds one change per row for what is rewritten (summaries, check states, availability, retries), and writes the latest', () => {
  const id = openIncident('api');
  disk.full = true;
  for (let i = 0; i < 3_000; i++) {
    store.updateIncident(id, { summary: `still failing ${i}`, values: { n: i } });
    store.saveCheckState(`c${i % 10}`, { n: i }, i);
    store.addAvailability([{ check: 'api', hour: 7, ok: 1, total: 2 }]);
    store.markRetry(1, i, i + 1, `refused ${i}`);
  }
  // 3,000 rounds of four writes: one held change per row, and a journal that does not grow
  // with the number of writes.
  expect(store.health().pending).toBe(1 + 10 + 1 + 1);
  const journal = (store as unknown as { w: { journalLength: number } }).w.journalLength;
  expect(journal).toBeLessThan(2 * 1024 + 100);
  disk.full = false;
  expect(store.maintain(0, true)).toBe(true);
  const s = reopened();
  expect(s.getIncident(id)).toMatchObject({ summary: 'still failing 2999', values: { n: 2999 } });
  expect(s.loadCheckStates().get('c9')).toEqual({ n: 2999 });
  expect(s.availabilitySince(0).get('api')).toEqual({ ok: 3000, total: 6000 });
  expect(s.notificationsOf(id)[0]).toMatchObject({ attempts: 2999, lastError: 'refused 2999' });
});
