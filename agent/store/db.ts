import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

export type Db = Database.Database;

/** The store could not be opened: unwritable, corrupt, or written by a newer keepwatch. */
export class StoreError extends Error {
  readonly code = 'STORE_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
  }
}

/**
 * Schema migrations, in order; `PRAGMA user_version` says how many have run. A migration is
 * never edited once released: a change is a new migration.
 */
const MIGRATIONS: string[] = [
  `
  CREATE TABLE check_state (
    check_name TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE incidents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    agent TEXT NOT NULL,
    check_name TEXT NOT NULL,
    type TEXT NOT NULL,
    severity TEXT NOT NULL,
    state TEXT NOT NULL,
    tier TEXT,
    tier_index INTEGER NOT NULL DEFAULT -1,
    summary TEXT NOT NULL,
    labels TEXT NOT NULL,
    vals TEXT NOT NULL,
    flapping INTEGER NOT NULL DEFAULT 0,
    opened_at INTEGER NOT NULL,
    acked_at INTEGER,
    acked_by TEXT,
    resolved_at INTEGER,
    resolved_by TEXT,
    resolution TEXT,
    seq INTEGER NOT NULL DEFAULT 0,
    evidence TEXT NOT NULL DEFAULT '[]',
    snapshot TEXT,
    escalated_at INTEGER,
    repeats INTEGER NOT NULL DEFAULT 0,
    coverage TEXT NOT NULL DEFAULT '24x7',
    respond_due INTEGER,
    resolve_due INTEGER,
    respond_breached INTEGER NOT NULL DEFAULT 0,
    resolve_breached INTEGER NOT NULL DEFAULT 0
  );
  CREATE UNIQUE INDEX incidents_one_open ON incidents(key) WHERE state != 'resolved';
  CREATE INDEX incidents_by_time ON incidents(opened_at);
  CREATE TABLE timeline (
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    n INTEGER NOT NULL,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    data TEXT,
    PRIMARY KEY (incident_id, n)
  );
  CREATE TABLE silences (
    id TEXT PRIMARY KEY,
    checks TEXT NOT NULL,
    labels TEXT NOT NULL,
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    comment TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    notifier TEXT NOT NULL,
    incident_id INTEGER NOT NULL,
    event TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    not_before INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    delivered_at INTEGER,
    failed_at INTEGER,
    last_error TEXT,
    UNIQUE (key, notifier)
  );
  CREATE INDEX outbox_pending ON outbox(next_attempt_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
  CREATE TABLE remediations (
    check_name TEXT NOT NULL,
    at INTEGER NOT NULL
  );
  CREATE INDEX remediations_by_check ON remediations(check_name, at);
  CREATE TABLE availability (
    check_name TEXT NOT NULL,
    hour INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    total INTEGER NOT NULL,
    PRIMARY KEY (check_name, hour)
  );
  `,
  // 2: a random id per store, in idempotency keys: a new store never repeats an old key.
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  INSERT INTO meta (key, value) VALUES ('store_id', lower(hex(randomblob(4))));
  CREATE INDEX availability_by_hour ON availability(hour);
  CREATE INDEX incidents_resolved ON incidents(resolved_at) WHERE resolved_at IS NOT NULL;
  CREATE INDEX outbox_by_incident ON outbox(incident_id, notifier);
  `,
  // 3: what checks keep between runs (a baseline: one row per check and key), and who accepted
  // a new baseline of a check, and why.
  `
  CREATE TABLE check_data (
    check_name TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (check_name, key)
  );
  CREATE TABLE baseline_acceptances (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    check_name TEXT NOT NULL,
    accepted_by TEXT NOT NULL,
    reason TEXT NOT NULL,
    at INTEGER NOT NULL
  );
  CREATE INDEX baseline_acceptances_by_check ON baseline_acceptances(check_name, id);
  `,
  // 4: the recent samples of checks whose conditions look back (windows, for:, clear:), so a
  // restart does not blind them: one row per check and run, the series' values as JSON.
  `
  CREATE TABLE IF NOT EXISTS check_samples (
    check_name TEXT NOT NULL,
    at INTEGER NOT NULL,
    vals TEXT NOT NULL,
    PRIMARY KEY (check_name, at)
  ) WITHOUT ROWID;
  `,
];

/** WAL pages after which a commit checkpoints (SQLite's default is 1000). */
export const WAL_PAGES = 64;

/** A WAL larger than this is truncated to it after a checkpoint. */
export const WAL_LIMIT_BYTES = 256 * 1024;

/** The store's schema version this build writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Opens (creating if needed) the SQLite store `keepwatch.db` under `dataDir`, in WAL mode,
 * and brings its schema up to date. Every failure is a StoreError that says what to do.
 */
export function openDb(dataDir: string): Db {
  const file = path.resolve(dataDir, 'keepwatch.db');
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
  } catch (err) {
    throw new StoreError(`cannot create the data directory ${path.dirname(file)}: ${(err as Error).message} (set agent.dataDir to a writable directory)`, { cause: err });
  }
  let db: Db;
  try {
    db = new Database(file);
  } catch (err) {
    throw new StoreError(`cannot open the store ${file}: ${(err as Error).message} (is agent.dataDir writable by this user?)`, { cause: err });
  }
  try {
    // One agent per store: the exclusive lock is taken at the first read and held until
    // close, so a second agent on the same dataDir fails at start instead of paging twice.
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('busy_timeout = 1000');
    db.pragma('journal_mode = WAL');
    // WAL with synchronous=NORMAL survives a process crash (kill -9) without losing a
    // committed transaction; only a power loss can drop the last few.
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    // Nothing reaches the disk before COMMIT (no cache spill, temporary data in memory): a full
    // disk then fails a transaction as a whole, after the code in it has run, and the store
    // can hold its changes in memory (see Writer).
    db.pragma('cache_spill = OFF');
    db.pragma('temp_store = MEMORY');
    // A bounded WAL. By default it grows to 1000 pages (4 MiB) before a checkpoint and keeps
    // its largest size after: each batch of check states and each result of a failing check
    // appends whole 4 KiB pages. Checkpoint every WAL_PAGES pages, and truncate a WAL that grew
    // past WAL_LIMIT_BYTES (the store also truncates it every minute: Store.maintain).
    db.pragma(`wal_autocheckpoint = ${WAL_PAGES}`);
    db.pragma(`journal_size_limit = ${WAL_LIMIT_BYTES}`);
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new Error(`integrity check failed: ${String(check)}`);
    migrate(db, file);
    fs.accessSync(file, fs.constants.W_OK);
  } catch (err) {
    db.close();
    if (err instanceof StoreError) throw err;
    const code = (err as { code?: string }).code;
    if (code === 'SQLITE_BUSY') {
      throw new StoreError(`the store ${file} is in use by another keepwatch agent (one agent per agent.dataDir)`, { cause: err });
    }
    const why = code === 'SQLITE_NOTADB' ? 'not a keepwatch store, or corrupt' : (err as Error).message;
    throw new StoreError(`cannot use the store ${file}: ${why} (move the file aside to start with an empty store)`, { cause: err });
  }
  return db;
}

function migrate(db: Db, file: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) {
    throw new StoreError(`the store ${file} has schema version ${version}, newer than this keepwatch knows (${MIGRATIONS.length}); upgrade keepwatch or use another agent.dataDir`);
  }
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
