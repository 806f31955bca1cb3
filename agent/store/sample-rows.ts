import type { StoredSample } from '../conditions/history';
import type { Row } from './rows';
import type { Writer } from './writer';

/**
 * The recent samples of checks whose conditions look back (check_samples): written in batches,
 * read back at start, pruned to what each check's history keeps. Through the store's writer, so
 * a full disk holds them in memory like every other change.
 */
export class SampleRows {
  constructor(private readonly w: Writer) {}

  /** Writes samples of any checks in one transaction (a run rewritten at the same time replaces it). */
  add(rows: ReadonlyArray<{ check: string; sample: StoredSample }>): void {
    if (!rows.length) return;
    const sql = 'INSERT INTO check_samples (check_name, at, vals) VALUES (?, ?, ?) ON CONFLICT(check_name, at) DO UPDATE SET vals = excluded.vals';
    this.w.transaction(() => {
      for (const r of rows) this.w.run(sql, [r.check, r.sample.at, JSON.stringify(r.sample.vals)]);
    });
  }

  /** A check's newest `limit` samples, oldest first. */
  load(check: string, limit: number): StoredSample[] {
    const rows = this.w.prepare('SELECT at, vals FROM check_samples WHERE check_name = ? ORDER BY at DESC LIMIT ?').all(check, limit) as Row[];
    const out: StoredSample[] = [];
    for (let i = rows.length - 1; i >= 0; i--) {
      let vals: Record<string, number>;
      try {
        vals = JSON.parse(rows[i].vals);
      } catch {
        continue;
      }
      out.push({ at: rows[i].at, vals });
    }
    return out;
  }

  /**
   * Deletes the samples a history no longer keeps: of each check in `keep`, those before its
   * time; of every other check, all. The number of rows deleted.
   */
  prune(keep: ReadonlyMap<string, number>): number {
    return this.w.transaction(() => {
      let n = 0;
      const names = (this.w.prepare('SELECT DISTINCT check_name FROM check_samples').all() as Row[]).map((r) => r.check_name as string);
      for (const name of names) {
        const before = keep.get(name);
        n += before === undefined
          ? this.w.run('DELETE FROM check_samples WHERE check_name = ?', [name]).changes
          : this.w.run('DELETE FROM check_samples WHERE check_name = ? AND at < ?', [name, before]).changes;
      }
      return n;
    });
  }

  /** Rows kept, for tests and the bench. */
  count(check?: string): number {
    const r = (check === undefined
      ? this.w.prepare('SELECT COUNT(*) AS n FROM check_samples').get()
      : this.w.prepare('SELECT COUNT(*) AS n FROM check_samples WHERE check_name = ?').get(check)) as Row;
    return r.n;
  }
}
