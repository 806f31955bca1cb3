import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SCHEMA_VERSION } from '../../agent/store/db';
import { Store, StoreError } from '../../agent/store/store';
import { tempDir } from '../helpers/daemon';

let dir: ReturnType<typeof tempDir>;
beforeEach(() => (dir = tempDir()));
afterEach(() => dir.cleanup());

test('creates the store in WAL mode at the current schema version, and reopens it', () => {
  const store = Store.open(path.join(dir.dir, 'nested', 'data'));
  store.saveCheckState('api', { bad: 2 }, 1);
  store.close();
  const db = new Database(path.join(dir.dir, 'nested', 'data', 'keepwatch.db'), { readonly: true });
  expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
  expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
  db.close();
  const again = Store.open(path.join(dir.dir, 'nested', 'data'));
  expect(again.loadCheckStates().get('api')).toEqual({ bad: 2 });
  again.close();
});

test('a corrupt store is a clear error, not a crash', () => {
  fs.writeFileSync(path.join(dir.dir, 'keepwatch.db'), 'this is not sqlite, just some text that is long enough to look like a header...'.repeat(100));
  expect(() => Store.open(dir.dir)).toThrow(StoreError);
  expect(() => Store.open(dir.dir)).toThrow(/keepwatch\.db: not a keepwatch store, or corrupt \(move the file aside/);
});

test('an unusable data directory is a clear error', () => {
  const file = path.join(dir.dir, 'a-file');
  fs.writeFileSync(file, 'x');
  expect(() => Store.open(path.join(file, 'data'))).toThrow(/cannot create the data directory .*a-file\/data: .*set agent\.dataDir to a writable directory/);
});

test('a store written by a newer keepwatch is refused', () => {
  const db = new Database(path.join(dir.dir, 'keepwatch.db'));
  db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  db.close();
  expect(() => Store.open(dir.dir)).toThrow(new RegExp(`schema version ${SCHEMA_VERSION + 1}, newer than this keepwatch knows \\(${SCHEMA_VERSION}\\)`));
});

test('at most one unresolved incident per key, enforced by the schema', () => {
  const store = Store.open(dir.dir);
  const inc = {
    key: 'a/api', agent: 'a', check: 'api', type: 'http', severity: 'critical' as const, state: 'open' as const, tierIndex: -1,
    summary: 's', labels: {}, values: {}, flapping: false, openedAt: 1, seq: 0, evidence: [], repeats: 0, coverage: '24x7',
    respondBreached: false, resolveBreached: false,
  };
  store.insertIncident(inc);
  expect(() => store.insertIncident(inc)).toThrow(/UNIQUE/);
  store.updateIncident(1, { state: 'resolved' });
  expect(store.insertIncident(inc).id).toBe(2);
  store.close();
});

test('the outbox ignores a second notification with the same key and notifier', () => {
  const store = Store.open(dir.dir);
  const e = { key: 'a:1:1', notifier: 'hook', incidentId: 1, event: 'trigger' as const, payload: '{}', createdAt: 1, notBefore: 1 };
  expect(store.enqueue(e)).toBe(true);
  expect(store.enqueue(e)).toBe(false);
  expect(store.enqueue({ ...e, notifier: 'other' })).toBe(true);
  expect(store.pendingNotifications()).toBe(2);
  store.close();
});
