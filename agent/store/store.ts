import type { Statement } from 'better-sqlite3';
import { EVENT_KINDS, type EventKind, type Incident, type IncidentState, type OutboxEntry, type Silence, type TimelineEntry } from '../model';
import { openDb, type Db } from './db';
import { Writer, type StoreHealth, type StoreObserver } from './writer';
import { CheckDataRows } from './check-data';
import { SampleRows } from './sample-rows';
import { INCIDENT_COLUMNS, scrubJsonText, toColumn, toIncident, toJson, toOutbox, type Row } from './rows';
import { scrub } from '../secrets';

export { StoreError } from './db';
export type { Incident, IncidentState, OutboxEntry, Silence, TimelineEntry } from '../model';
export type { StoreHealth, StoreObserver } from './writer';
export type { BaselineAcceptance, HeldKey } from './check-data';

/** How often changes held in memory (the file could not take them) are tried again (ms). */
export const RETRY_MS = 5000;

/** How often the WAL is checkpointed and truncated (ms). */
export const CHECKPOINT_MS = 60_000;

/**
 * The agent's SQLite store: incidents and their timelines, per-check state, silences, the
 * notification outbox, remediation history and availability. The only module that speaks SQL.
 */
export class Store {
  private readonly w: Writer;
  private lastRetry = 0;
  private lastCheckpoint = 0;

  /** A random id of this store, part of every idempotency key. */
  readonly id: string;

  /** What checks keep between runs (their baselines) and who accepted new baselines. */
  readonly checkData: CheckDataRows;
  /** The recent samples of checks whose conditions look back (windows, for:, clear:). */
  readonly samples: SampleRows;

  /** The max_page_count the file had before {@link capFileSize}. */
  private uncappedPages: number | undefined;

  /** `db` is the file's database (reads and writes go through the writer, which may hold them in memory). */
  private constructor(private readonly db: Db, readonly file: string, fault?: () => Error | undefined) {
    this.w = new Writer(db, fault);
    this.checkData = new CheckDataRows(this.w);
    this.samples = new SampleRows(this.w);
    this.id = (db.prepare("SELECT value FROM meta WHERE key = 'store_id'").get() as Row).value;
  }

  /**
   * Opens the store under `dataDir` (see openDb for the errors it throws). `fault`, for tests,
   * fails the file's writes as a full disk would while it returns an error.
   */
  static open(dataDir: string, opts: { fault?: () => Error | undefined } = {}): Store {
    const db = openDb(dataDir);
    return new Store(db, db.name, opts.fault);
  }

  /** Closes the store, writing what is held in memory first if the file takes it (else it is lost). */
  close(): void {
    if (!this.db.open) return;
    this.w.flush();
    this.w.close();
  }

  /** Runs `fn` in one transaction: everything it writes lands together, or nothing does. */
  transaction<T>(fn: () => T): T {
    return this.w.transaction(fn);
  }

  /** Whether the file takes writes, and how many changes wait in memory for it. */
  health(): StoreHealth {
    return this.w.health();
  }

  /** SQLite's integrity check of the file: 'ok', or the first problem it found. */
  integrityCheck(): string {
    return String(this.db.pragma('integrity_check', { simple: true }));
  }

  /**
   * Rows changed in the file since the store was opened (SQLite's total_changes()); changes
   * held in memory count once they are written.
   */
  changes(): number {
    return (this.db.prepare('SELECT total_changes() AS n').get() as Row).n;
  }

  /**
   * For tests: stops the file from growing past its present size (`false` lets it grow again),
   * so a statement that needs one more page fails part-way with SQLITE_FULL, as on a full disk.
   * SQLite's max_page_count, which holds for this connection only.
   */
  capFileSize(capped: boolean): void {
    if (capped) {
      this.uncappedPages ??= this.db.pragma('max_page_count', { simple: true }) as number;
      this.db.pragma(`max_page_count = ${this.db.pragma('page_count', { simple: true }) as number}`);
    } else if (this.uncappedPages !== undefined) {
      this.db.pragma(`max_page_count = ${this.uncappedPages}`);
      this.uncappedPages = undefined;
    }
  }

  /** Tells `observer` of every SQLite failure and every change of health. */
  observe(observer: StoreObserver): void {
    this.w.observer = observer;
  }

  /**
   * Upkeep, for a timer: writes the changes held in memory (every RETRY_MS, after a checkpoint
   * that may free the space the WAL holds), and checkpoints the WAL into the database file and
   * truncates it (every CHECKPOINT_MS), so it stays small however long the agent runs.
   * `force` tries now. True when nothing is held in memory.
   */
  maintain(now: number, force = false): boolean {
    if (!this.w.health().writable) {
      if (!force && now - this.lastRetry < RETRY_MS) return false;
      this.lastRetry = now;
      this.w.checkpoint();
      return this.w.flush();
    }
    if (force || now - this.lastCheckpoint >= CHECKPOINT_MS) {
      this.lastCheckpoint = now;
      this.w.checkpoint();
    }
    return true;
  }

  private stmt(sql: string): Statement<unknown[]> {
    return this.w.prepare(sql);
  }

  private write(sql: string, args: unknown[], key?: string) {
    return this.w.run(sql, args, key);
  }

  // Check state

  /** Every check's saved state, by check name. */
  loadCheckStates(): Map<string, unknown> {
    const rows = this.stmt('SELECT check_name, state FROM check_state').all() as Row[];
    return new Map(rows.map((r) => [r.check_name, JSON.parse(r.state)]));
  }

  saveCheckState(check: string, state: unknown, at: number): void {
    // Keyed: while changes are held in memory, only a check's last state waits for the file.
    this.write('INSERT INTO check_state (check_name, state, updated_at) VALUES (?, ?, ?) ON CONFLICT(check_name) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at',
      [check, JSON.stringify(state), at], `check_state:${check}`);
  }

  // Incidents

  insertIncident(i: Omit<Incident, 'id'>): Incident {
    const cols = ['key', 'agent', 'check_name', 'type', ...Object.values(INCIDENT_COLUMNS)];
    const values = [i.key, i.agent, i.check, i.type, ...Object.keys(INCIDENT_COLUMNS).map((k) => toColumn(i[k as keyof typeof INCIDENT_COLUMNS], k))];
    const info = this.write(`INSERT INTO incidents (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`, values);
    return { ...i, id: Number(info.lastInsertRowid) };
  }

  /** Writes the given fields of an incident. */
  updateIncident(id: number, fields: Partial<Omit<Incident, 'id' | 'key' | 'agent' | 'check' | 'type'>>): void {
    const keys = Object.keys(fields) as (keyof typeof INCIDENT_COLUMNS)[];
    if (!keys.length) return;
    const sql = `UPDATE incidents SET ${keys.map((k) => `${INCIDENT_COLUMNS[k]} = ?`).join(', ')} WHERE id = ?`;
    // Keyed by row and columns: while the disk refuses writes, the summary and values rewritten
    // every few seconds are held once per incident, not once per write.
    this.write(sql, [...keys.map((k) => toColumn(fields[k], k)), id], `incident:${id}:${keys.join(',')}`);
  }

  getIncident(id: number): Incident | undefined {
    const r = this.stmt('SELECT * FROM incidents WHERE id = ?').get(id) as Row | undefined;
    return r && toIncident(r);
  }

  /** Incidents not resolved yet. */
  unresolvedIncidents(): Incident[] {
    return (this.stmt("SELECT * FROM incidents WHERE state != 'resolved' ORDER BY id").all() as Row[]).map(toIncident);
  }

  /** Incidents, newest first, optionally by state and check. */
  listIncidents(filter: { state?: IncidentState; check?: string; limit?: number } = {}): Incident[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.state) {
      where.push('state = ?');
      args.push(filter.state);
    }
    if (filter.check) {
      where.push('check_name = ?');
      args.push(filter.check);
    }
    const sql = `SELECT * FROM incidents ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    return (this.stmt(sql).all(...args, filter.limit ?? 100) as Row[]).map(toIncident);
  }

  /** Incidents opened at or after `since`. */
  incidentsSince(since: number): Incident[] {
    return (this.stmt('SELECT * FROM incidents WHERE opened_at >= ? ORDER BY id').all(since) as Row[]).map(toIncident);
  }

  addTimeline(incidentId: number, at: number, kind: string, message: string, data?: unknown): void {
    this.write('INSERT INTO timeline (incident_id, n, at, kind, message, data) VALUES (?, (SELECT COALESCE(MAX(n), 0) + 1 FROM timeline WHERE incident_id = ?), ?, ?, ?, ?)',
      [incidentId, incidentId, at, kind, scrub(message), data === undefined ? null : toJson(data)]);
  }

  timeline(incidentId: number): TimelineEntry[] {
    return (this.stmt('SELECT n, at, kind, message, data FROM timeline WHERE incident_id = ? ORDER BY n').all(incidentId) as Row[]).map((r) => ({
      n: r.n,
      at: r.at,
      kind: r.kind,
      message: r.message,
      data: r.data ? JSON.parse(r.data) : undefined,
    }));
  }

  // Silences

  insertSilence(s: Silence): void {
    this.write('INSERT INTO silences (id, checks, labels, starts_at, ends_at, comment, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      [s.id, JSON.stringify(s.checks), JSON.stringify(s.labels), s.startsAt, s.endsAt, s.comment, s.createdBy, s.createdAt]);
  }

  /** Silences that have not ended by `now` (active or future); with `all`, every one. */
  listSilences(now: number, all = false): Silence[] {
    const rows = (all ? this.stmt('SELECT * FROM silences ORDER BY created_at').all() : this.stmt('SELECT * FROM silences WHERE ends_at > ? ORDER BY created_at').all(now)) as Row[];
    return rows.map((r) => ({
      id: r.id,
      checks: JSON.parse(r.checks),
      labels: JSON.parse(r.labels),
      startsAt: r.starts_at,
      endsAt: r.ends_at,
      comment: r.comment,
      createdBy: r.created_by,
      createdAt: r.created_at,
    }));
  }

  /** Ends a silence now; false when there is no such silence or it had ended. */
  expireSilence(id: string, now: number): boolean {
    return this.write('UPDATE silences SET ends_at = ? WHERE id = ? AND ends_at > ?', [now, id, now]).changes > 0;
  }

  // Outbox

  /** Adds a notification; a second one with the same key and notifier is ignored (idempotent). */
  enqueue(e: Omit<OutboxEntry, 'id' | 'attempts' | 'nextAttemptAt' | 'deliveredAt' | 'failedAt' | 'lastError'>): boolean {
    return this.write('INSERT OR IGNORE INTO outbox (key, notifier, incident_id, event, payload, created_at, not_before, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      [e.key, e.notifier, e.incidentId, e.event, scrubJsonText(e.payload), e.createdAt, e.notBefore, e.notBefore]).changes > 0;
  }

  /**
   * Notifications due for an attempt, oldest first. Only the head of each chain (incident ×
   * notifier) is offered: delivery is in order, so a later one waits for the earlier.
   */
  dueNotifications(now: number, limit = 100): OutboxEntry[] {
    return (this.stmt(`SELECT * FROM outbox o WHERE ${PENDING_HEAD} AND o.next_attempt_at <= ? ORDER BY o.id LIMIT ?`).all(now, limit) as Row[]).map(toOutbox);
  }

  /** When the next chain head falls due, leaving out the given ids (in flight); Infinity when none. */
  nextNotificationAt(except: readonly number[] = []): number {
    const r = this.stmt(`SELECT MIN(o.next_attempt_at) AS at FROM outbox o WHERE ${PENDING_HEAD} AND o.id NOT IN (SELECT value FROM json_each(?))`).get(JSON.stringify(except)) as Row;
    return r.at ?? Infinity;
  }

  /**
   * Undelivered messages: `due` ones (waiting for a slot or retrying) and `held` ones, kept back
   * until a later time (a tier's coverage window, the diagnostic snapshot, L1 remediation).
   */
  queuedNotifications(now: number): { due: number; held: number } {
    const r = this.stmt(
      'SELECT COALESCE(SUM(not_before <= ?), 0) AS due, COALESCE(SUM(not_before > ?), 0) AS held FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL',
    ).get(now, now) as Row;
    return { due: r.due, held: r.held };
  }

  /** Undelivered messages whose last attempt failed (retrying), by notifier, with the latest error. */
  failingNotifications(): Array<{ notifier: string; count: number; lastError?: string }> {
    // SQLite takes the bare last_error from the row of MAX(id): the latest failing message's.
    const sql = 'SELECT notifier, COUNT(*) AS n, MAX(id) AS id, last_error FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL AND attempts > 0 GROUP BY notifier ORDER BY notifier';
    return (this.stmt(sql).all() as Row[]).map((r) => ({ notifier: r.notifier, count: r.n, lastError: r.last_error ?? undefined }));
  }

  pendingNotifications(): number {
    return (this.stmt('SELECT COUNT(*) AS n FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL').get() as Row).n;
  }

  markDelivered(id: number, at: number, attempts: number): void {
    this.write('UPDATE outbox SET delivered_at = ?, attempts = ?, last_error = NULL WHERE id = ?', [at, attempts, id]);
  }

  markRetry(id: number, attempts: number, nextAt: number, error: string): void {
    this.write('UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ?', [attempts, nextAt, scrub(error), id], `outbox-retry:${id}`);
  }

  markFailed(id: number, at: number, attempts: number, error: string): void {
    this.write('UPDATE outbox SET failed_at = ?, attempts = ?, last_error = ? WHERE id = ?', [at, attempts, scrub(error), id]);
  }

  /** Every notification of an incident, in order. */
  notificationsOf(incidentId: number): OutboxEntry[] {
    return (this.stmt('SELECT * FROM outbox WHERE incident_id = ? ORDER BY id').all(incidentId) as Row[]).map(toOutbox);
  }

  /**
   * Drops an incident's notifications still held back (by a coverage window, a remediation
   * in progress or a snapshot being taken), of the given events or all.
   */
  cancelHeld(incidentId: number, now: number, events?: readonly EventKind[]): number {
    return this.write(`DELETE FROM outbox WHERE incident_id = ? AND ${HELD} AND event IN (SELECT value FROM json_each(?))`, [incidentId, now, JSON.stringify(events ?? EVENT_KINDS)]).changes;
  }

  /** Releases an incident's held notifications now (to the given notifiers, or all). */
  release(incidentId: number, now: number, notifiers?: readonly string[]): number {
    const sql = `UPDATE outbox SET not_before = ?, next_attempt_at = ? WHERE incident_id = ? AND ${HELD}${notifiers ? ' AND notifier IN (SELECT value FROM json_each(?))' : ''}`;
    const args: unknown[] = [now, now, incidentId, now];
    if (notifiers) args.push(JSON.stringify(notifiers));
    return this.write(sql, args).changes;
  }

  /** Rewrites the payloads of an incident's notifications not attempted yet. */
  updateUnsentPayloads(incidentId: number, update: (payload: string) => string): void {
    const rows = this.stmt('SELECT id, payload FROM outbox WHERE incident_id = ? AND delivered_at IS NULL AND failed_at IS NULL AND attempts = 0').all(incidentId) as Row[];
    for (const r of rows) this.write('UPDATE outbox SET payload = ? WHERE id = ?', [scrubJsonText(update(r.payload)), r.id]);
  }

  /** The notifiers an incident has notifications for (sent, pending or failed): who has heard of it. */
  heardBy(incidentId: number): string[] {
    return (this.stmt('SELECT DISTINCT notifier FROM outbox WHERE incident_id = ? ORDER BY notifier').all(incidentId) as Row[]).map((r) => r.notifier);
  }

  /** The notifiers that have received at least one of an incident's notifications. */
  deliveredTo(incidentId: number): string[] {
    return (this.stmt('SELECT DISTINCT notifier FROM outbox WHERE incident_id = ? AND delivered_at IS NOT NULL ORDER BY notifier').all(incidentId) as Row[]).map((r) => r.notifier);
  }

  /**
   * Deletes what is older than the retention: incidents resolved before `resolvedBefore`
   * (with their timelines and notifications), availability before `hourBefore`, and
   * remediation history before `remediationsBefore`.
   */
  prune(resolvedBefore: number, hourBefore: number, remediationsBefore: number): { incidents: number } {
    return this.transaction(() => {
      const old = "SELECT id FROM incidents WHERE state = 'resolved' AND resolved_at < ?";
      this.write(`DELETE FROM timeline WHERE incident_id IN (${old})`, [resolvedBefore]);
      this.write(`DELETE FROM outbox WHERE incident_id IN (${old})`, [resolvedBefore]);
      const incidents = this.write("DELETE FROM incidents WHERE state = 'resolved' AND resolved_at < ?", [resolvedBefore]).changes;
      this.write('DELETE FROM availability WHERE hour < ?', [hourBefore]);
      this.write('DELETE FROM remediations WHERE at < ?', [remediationsBefore]);
      return { incidents };
    });
  }

  // Remediation history

  remediationsSince(check: string, since: number): number[] {
    return (this.stmt('SELECT at FROM remediations WHERE check_name = ? AND at >= ? ORDER BY at').all(check, since) as Row[]).map((r) => r.at);
  }

  addRemediation(check: string, at: number): void {
    this.write('INSERT INTO remediations (check_name, at) VALUES (?, ?)', [check, at]);
  }

  // Availability

  /** Adds run counts per check and hour (hour = epoch hours). */
  addAvailability(rows: Array<{ check: string; hour: number; ok: number; total: number }>): void {
    // Written as totals rather than increments, so that each check and hour is one keyed row
    // however many minutes a full disk holds it in memory (an increment cannot replace another).
    const read = this.stmt('SELECT ok, total FROM availability WHERE check_name = ? AND hour = ?');
    const sql = 'INSERT INTO availability (check_name, hour, ok, total) VALUES (?, ?, ?, ?) ON CONFLICT(check_name, hour) DO UPDATE SET ok = excluded.ok, total = excluded.total';
    this.w.transaction(() => {
      for (const r of rows) {
        const had = read.get(r.check, r.hour) as { ok: number; total: number } | undefined;
        this.write(sql, [r.check, r.hour, (had?.ok ?? 0) + r.ok, (had?.total ?? 0) + r.total], `availability:${r.check}:${r.hour}`);
      }
    });
  }

  /** ok and total runs per check since `sinceHour`. */
  availabilitySince(sinceHour: number): Map<string, { ok: number; total: number }> {
    const rows = this.stmt('SELECT check_name, SUM(ok) AS ok, SUM(total) AS total FROM availability WHERE hour >= ? GROUP BY check_name').all(sinceHour) as Row[];
    return new Map(rows.map((r) => [r.check_name, { ok: r.ok, total: r.total }]));
  }
}

/** A notification not attempted yet whose time has not come (bind: now). */
const HELD = 'delivered_at IS NULL AND failed_at IS NULL AND attempts = 0 AND not_before > ?';

/** A pending outbox row with no earlier pending row of its chain (incident × notifier). */
const PENDING_HEAD = `o.delivered_at IS NULL AND o.failed_at IS NULL AND NOT EXISTS (
  SELECT 1 FROM outbox p WHERE p.incident_id = o.incident_id AND p.notifier = o.notifier AND p.id < o.id
  AND p.delivered_at IS NULL AND p.failed_at IS NULL)`;
