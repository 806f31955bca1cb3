import Database from 'better-sqlite3';
import path from 'node:path';
import { CheckStates, memoryState } from '../../agent/check-state';
import { Store } from '../../agent/store/store';
import { MAX_STATE_BYTES } from '../../checks/types';
import { tempDir } from '../helpers/daemon';

let dir: ReturnType<typeof tempDir>;
beforeEach(() => (dir = tempDir()));
afterEach(() => dir.cleanup());

test('a check keeps JSON values by key in the store; they outlive a restart, scoped to the check', async () => {
  let store = Store.open(dir.dir);
  const states = new CheckStates(store, () => 1000);
  expect(states.persistent).toBe(true);
  const a = states.for('a');
  expect(a.persistent).toBe(true);
  expect(await a.get('baseline')).toBeUndefined();
  await a.set('baseline', { files: { '/etc/passwd': { size: 3 } } });
  await states.for('b').set('baseline', [1, 2]);
  store.close();

  store = Store.open(dir.dir);
  const again = new CheckStates(store);
  expect(await again.for('a').get('baseline')).toEqual({ files: { '/etc/passwd': { size: 3 } } });
  expect(await again.for('b').get('baseline')).toEqual([1, 2]);
  expect(again.held('a')).toEqual([{ key: 'baseline', bytes: 36, updatedAt: 1000 }]);
  await again.for('a').set('baseline', undefined);
  expect(await again.for('a').get('baseline')).toBeUndefined();
  store.close();
});

test('accepting drops what the check keeps and records who and why, together; other checks keep theirs', async () => {
  const store = Store.open(dir.dir);
  let t = 5000;
  const states = new CheckStates(store, () => t);
  await states.for('files').set('baseline', { n: 1 });
  await states.for('other').set('baseline', { n: 2 });
  expect(states.accept('files', 'alice', 'patched sudo')).toEqual({ check: 'files', by: 'alice', reason: 'patched sudo', at: 5000 });
  t = 6000;
  states.accept('files', 'bob', 'new user');
  expect(await states.for('files').get('baseline')).toBeUndefined();
  expect(await states.for('other').get('baseline')).toEqual({ n: 2 });
  expect(states.acceptances('files')).toEqual([
    { check: 'files', by: 'bob', reason: 'new user', at: 6000 },
    { check: 'files', by: 'alice', reason: 'patched sudo', at: 5000 },
  ]);
  expect(states.acceptances('other')).toEqual([]);
  store.close();
});

test('a store written by the previous schema gains the tables and keeps its data', () => {
  const store = Store.open(dir.dir);
  store.close();
  // Roll the file back to schema 2, as an older keepwatch left it.
  const db = new Database(path.join(dir.dir, 'keepwatch.db'));
  db.exec('DROP TABLE check_data; DROP TABLE baseline_acceptances;');
  db.pragma('user_version = 2');
  db.close();
  const reopened = Store.open(dir.dir);
  expect(reopened.checkData.held('x')).toEqual([]);
  reopened.close();
});

test('without a store the states live in memory and say so; each one-shot state is its own', async () => {
  const states = new CheckStates(undefined, () => 7);
  expect(states.persistent).toBe(false);
  await states.for('a').set('k', { deep: [1] });
  const got = (await states.for('a').get('k')) as { deep: number[] };
  got.deep.push(2); // a copy: changing it changes nothing kept
  expect(await states.for('a').get('k')).toEqual({ deep: [1] });
  states.accept('a', 'carol', 'reinstalled');
  expect(await states.for('a').get('k')).toBeUndefined();
  expect(states.acceptances('a')).toEqual([{ check: 'a', by: 'carol', reason: 'reinstalled', at: 7 }]);

  const one = memoryState();
  await one.set('k', 1);
  expect(one.persistent).toBe(false);
  expect(await memoryState().get('k')).toBeUndefined();
});

test('a value over the limit, or no JSON value at all, is refused with the check and key named', async () => {
  const s = new CheckStates(undefined).for('big');
  await expect(s.set('baseline', 'x'.repeat(MAX_STATE_BYTES))).rejects.toThrow(/^check big: state "baseline" is \d+ bytes, over the limit of 33554432$/);
  await expect(s.set('fn', () => 1)).rejects.toThrow('check big: state "fn" is not a JSON value');
});
