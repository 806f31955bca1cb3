import Database from 'better-sqlite3';
import path from 'node:path';
import { Writable } from 'node:stream';
import { CheckHistories } from '../../agent/check-history';
import { Status } from '../../agent/evaluate';
import { withOptions, parseFor } from '../../agent/conditions/rules';
import { parseCondition } from '../../agent/evaluate';
import { createLogger } from '../../agent/logger';
import { runCheckOnce } from '../../agent/runner';
import { Store } from '../../agent/store/store';
import { tempDir } from '../helpers/daemon';
import { checkConfig } from '../helpers/fake-checks';

const log = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) as never });
const T0 = Date.UTC(2026, 0, 1);
const S = 1000;

let dir: ReturnType<typeof tempDir>;
beforeEach(() => (dir = tempDir()));
afterEach(() => dir.cleanup());

/** A scripted check returning `values[i]` on its i-th run, with these conditions. */
function scripted(name: string, values: number[], warn: string[], crit: string[] = []) {
  let i = 0;
  return checkConfig(name, async () => ({ values: { value: values[i++] }, message: 'm' }), { warn, crit });
}

async function runAll(h: CheckHistories, check: ReturnType<typeof scripted>, n: number, from: number, stepMs = 30 * S): Promise<Status[]> {
  const out: Status[] = [];
  for (let i = 0; i < n; i++) {
    const history = h.for(check);
    const r = await runCheckOnce(check, { log, now: () => from + i * stepMs, history });
    if (history) h.recorded(check.name, history);
    out.push(r.status);
  }
  return out;
}

test('a check with plain conditions keeps no history and writes nothing', async () => {
  const store = Store.open(dir.dir);
  const h = new CheckHistories(store, () => T0);
  const plain = scripted('plain', [1, 2, 3], ['value > 2']);
  expect(await runAll(h, plain, 3, T0)).toEqual([Status.Ok, Status.Ok, Status.Warning]);
  h.flush();
  expect(store.samples.count()).toBe(0);
  expect(h.memory()).toEqual({ checks: 0, bytes: 0, samples: 0 });
  store.close();
});

test('windows judge through the runner, and a restart reloads the ring from the store: the window is not blind', async () => {
  let store = Store.open(dir.dir);
  let h = new CheckHistories(store, () => T0);
  const check = scripted('api', [100, 100, 900, 100], ['avg(value, 5m) > 250']);
  h.sync([check]);
  expect(await runAll(h, check, 3, T0)).toEqual([Status.Ok, Status.Ok, Status.Warning]);
  h.stop(); // writes what waits
  expect(store.samples.count('api')).toBe(3);
  store.close();

  // The agent restarts a minute later with the same config.
  store = Store.open(dir.dir);
  h = new CheckHistories(store, () => T0 + 2 * 60 * S);
  h.sync([check]);
  expect(h.memory()).toMatchObject({ checks: 1, samples: 3 });
  // (100 + 100 + 900 + 100) / 4 = 300 > 250: the 900 before the restart is remembered …
  expect(await runAll(h, check, 1, T0 + 2 * 60 * S)).toEqual([Status.Warning]);
  // … where an agent without a store sees 100 alone.
  const blind = scripted('api', [100], ['avg(value, 5m) > 250']);
  expect(await runAll(new CheckHistories(undefined), blind, 1, T0 + 2 * 60 * S)).toEqual([Status.Ok]);
  store.close();
});

test('for: 3 of 5 and hysteresis state survive a restart through the same samples', async () => {
  const fields = { value: { type: 'number' as const, unit: 'none' as const, help: '' } };
  const make = (values: number[]) => {
    const check = scripted('disk', values, []);
    const f = parseFor('2 of 3');
    if (typeof f === 'string') throw new Error(f);
    check.rules = { warn: [withOptions(parseCondition('value > 90', fields), { for: f, clear: parseCondition('value < 85', fields) })], crit: [] };
    return check;
  };
  let store = Store.open(dir.dir);
  let h = new CheckHistories(store);
  let check = make([95, 95]);
  h.sync([check]);
  expect(await runAll(h, check, 2, T0)).toEqual([Status.Ok, Status.Warning]);
  h.stop();
  store.close();

  store = Store.open(dir.dir);
  h = new CheckHistories(store);
  check = make([88, 84]);
  h.sync([check]);
  expect(await runAll(h, check, 2, T0 + 60 * S)).toEqual([Status.Warning, Status.Ok]);
  store.close();
});

test('samples are written in one transaction per flush and pruned to what the rings keep; checks gone lose theirs', async () => {
  const store = Store.open(dir.dir);
  let now = T0;
  const h = new CheckHistories(store, () => now);
  const a = scripted('a', Array(40).fill(1), ['max(value, 2m) > 5']);
  const b = scripted('b', Array(5).fill(1), ['sum(value, 1h) > 5']);
  h.sync([a, b]);
  const before = store.changes();
  await runAll(h, a, 40, T0, 10 * S);
  await runAll(h, b, 5, T0);
  h.flush();
  expect(store.changes() - before).toBe(45);
  now = T0 + 400 * S;
  // a's ring keeps 2 minutes of 10 s runs and the one before: 13 of its 40
  expect(h.prune()).toBe(27);
  expect(store.samples.count('a')).toBe(13);
  h.sync([a]);
  expect(h.prune()).toBe(5);
  expect(store.samples.count()).toBe(13);
  store.close();
});

test('a store of the previous schema gains check_samples', () => {
  Store.open(dir.dir).close();
  const db = new Database(path.join(dir.dir, 'keepwatch.db'));
  db.exec('DROP TABLE check_samples');
  db.pragma('user_version = 3');
  db.close();
  const store = Store.open(dir.dir);
  store.samples.add([{ check: 'x', sample: { at: 1, vals: { v: 2 } } }]);
  expect(store.samples.load('x', 10)).toEqual([{ at: 1, vals: { v: 2 } }]);
  store.close();
});

test('a reload that changes the conditions keeps the samples of the series that stay; plain conditions drop the ring', async () => {
  const h = new CheckHistories(undefined);
  const before = scripted('api', [900, 100, 100, 100], ['avg(value, 5m) > 250']);
  h.sync([before]);
  await runAll(h, before, 3, T0);
  // Reloaded: a longer window over the same field, and a second condition.
  const after = scripted('api', [100], ['max(value, 10m) > 500', 'count_over(value > 50, 10m) > 100']);
  h.sync([after]);
  expect(h.memory()).toMatchObject({ checks: 1, samples: 3 });
  expect(await runAll(h, after, 1, T0 + 90 * S)).toEqual([Status.Warning]); // the 900 of before the reload
  h.sync([scripted('api', [], ['value > 1'])]);
  expect(h.memory()).toEqual({ checks: 0, bytes: 0, samples: 0 });
});
