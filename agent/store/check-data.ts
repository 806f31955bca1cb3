import type { Row } from './rows';
import type { Writer } from './writer';

/** Who accepted a check's new baseline, and why (a row of baseline_acceptances). */
export interface BaselineAcceptance {
  check: string;
  by: string;
  reason: string;
  at: number;
}

/** One key a check keeps: its size and when it was last written. */
export interface HeldKey {
  key: string;
  bytes: number;
  updatedAt: number;
}

/**
 * What checks keep between runs (`ctx.state`: JSON text by check and key) and the record of
 * accepted baselines. Part of the store: reads and writes go through its writer, so a full disk
 * holds them in memory like every other change.
 */
export class CheckDataRows {
  constructor(private readonly w: Writer) {}

  /** The JSON text a check keeps under `key`, or undefined. */
  get(check: string, key: string): string | undefined {
    const r = this.w.prepare('SELECT value FROM check_data WHERE check_name = ? AND key = ?').get(check, key) as Row | undefined;
    return r?.value;
  }

  /** Keeps `json` under the check's `key`; undefined deletes it. */
  set(check: string, key: string, json: string | undefined, at: number): void {
    // Keyed: while the disk refuses writes, only the last value of a key waits in memory.
    const rowKey = `check_data:${JSON.stringify([check, key])}`;
    if (json === undefined) {
      this.w.run('DELETE FROM check_data WHERE check_name = ? AND key = ?', [check, key], rowKey);
      return;
    }
    this.w.run('INSERT INTO check_data (check_name, key, value, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT(check_name, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at',
      [check, key, json, at], rowKey);
  }

  /** The keys a check keeps, with their sizes. */
  held(check: string): HeldKey[] {
    const rows = this.w.prepare('SELECT key, length(CAST(value AS BLOB)) AS bytes, updated_at FROM check_data WHERE check_name = ? ORDER BY key').all(check) as Row[];
    return rows.map((r) => ({ key: r.key, bytes: r.bytes, updatedAt: r.updated_at }));
  }

  /** Drops everything the check keeps and records the acceptance, in one transaction. */
  accept(a: BaselineAcceptance): void {
    this.w.transaction(() => {
      this.w.run('DELETE FROM check_data WHERE check_name = ?', [a.check]);
      this.w.run('INSERT INTO baseline_acceptances (check_name, accepted_by, reason, at) VALUES (?, ?, ?, ?)', [a.check, a.by, a.reason, a.at]);
    });
  }

  /** A check's accepted baselines, newest first. */
  acceptances(check: string, limit = 20): BaselineAcceptance[] {
    const rows = this.w.prepare('SELECT check_name, accepted_by, reason, at FROM baseline_acceptances WHERE check_name = ? ORDER BY id DESC LIMIT ?').all(check, limit) as Row[];
    return rows.map((r) => ({ check: r.check_name, by: r.accepted_by, reason: r.reason, at: r.at }));
  }
}
