import Database, { type RunResult, type Statement } from 'better-sqlite3';
import type { Db } from './db';

/** What the store was doing when SQLite failed: a change, writing held changes, a WAL checkpoint. */
export type StoreOp = 'write' | 'sync' | 'checkpoint';

/** The store's health, for /readyz and the metrics. */
export interface StoreHealth {
  /** False while changes cannot be written to the file and are held in memory. */
  writable: boolean;
  /** Why not (SQLite's message of the last failure). */
  error?: string;
  /** Changes held in memory, waiting for the file. */
  pending: number;
}

/** Told of every failure and of every change of health. */
export interface StoreObserver {
  error?(op: StoreOp, err: Error): void;
  health?(health: StoreHealth): void;
}

/** A write: its SQL and arguments; a `key` names a row whose later write replaces the earlier. */
interface Change {
  sql: string;
  args: unknown[];
  key?: string;
}

/**
 * SQLite's codes for "the file cannot take writes now": a full disk, an I/O error, a read-only
 * file system, a lost file. Constraint errors and the like are bugs and are thrown as they are.
 */
export function isDiskError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && /^SQLITE_(FULL|IOERR|READONLY|CANTOPEN|NOLFS|PROTOCOL)/.test(code);
}

/**
 * Runs the store's SQL against its file and, while the file cannot take writes, against a copy
 * in memory. A full disk or a read-only remount must not cost an incident or a page: the copy
 * is made from the file when a write first fails (the failed transaction rolled back, so the
 * copy is the file as it was), the failed changes are applied to it, and every later change
 * goes there too and into a journal. Reads see the copy, so the incident engine, the outbox and
 * the API go on as if nothing happened. `flush` replays the journal on the file in one
 * transaction (same statements, same order, from the same state: the same rows and ids) and
 * drops the copy once it commits.
 *
 * Disk failures land at COMMIT, after the caller's function has run to its end: the store sets
 * `cache_spill = OFF` and `temp_store = MEMORY`, so SQLite writes nothing before it. A failure
 * in the middle of a transaction (a statement of its own that fails) still switches to memory,
 * but is thrown: the caller's work stopped half-way and must be redone.
 */
export class Writer {
  private mem: Db | undefined;
  private journal: Array<Change | undefined> = [];
  private pending = 0;
  /** Where in the journal the last write of each keyed row is. */
  private readonly keyed = new Map<string, number>();
  /** Changes of the transaction in progress. */
  private tx: Change[] | undefined;
  private readonly statements = new WeakMap<Db, Map<string, Statement<unknown[]>>>();
  private lastError: string | undefined;
  observer: StoreObserver = {};

  /**
   * @param file the store's file
   * @param fault for tests: an error to fail the file's next commit with, as a full disk would
   */
  constructor(readonly file: Db, private readonly fault?: () => Error | undefined) {}

  /** The database reads go to: the file, or its copy while changes are held. */
  get db(): Db {
    return this.mem ?? this.file;
  }

  health(): StoreHealth {
    return this.mem ? { writable: false, error: this.lastError, pending: this.pending } : { writable: true, pending: 0 };
  }

  /** A prepared statement on the database in use (cached per database). */
  prepare(sql: string): Statement<unknown[]> {
    return this.prepareOn(this.db, sql);
  }

  private prepareOn(db: Db, sql: string): Statement<unknown[]> {
    let cache = this.statements.get(db);
    if (!cache) this.statements.set(db, (cache = new Map()));
    let s = cache.get(sql);
    if (!s) cache.set(sql, (s = db.prepare<unknown[]>(sql)));
    return s;
  }

  /** Runs one write (in the transaction in progress, if any). */
  run(sql: string, args: unknown[], key?: string): RunResult {
    const change = { sql, args, key };
    if (this.tx) {
      const r = this.prepare(sql).run(...args);
      this.tx.push(change);
      return r;
    }
    if (!this.mem) {
      try {
        this.injectFault();
        return this.prepare(sql).run(...args);
      } catch (err) {
        if (!isDiskError(err)) throw err;
        this.toMemory(err);
      }
    }
    const r = this.prepare(sql).run(...args);
    this.hold([change]);
    return r;
  }

  /** Runs `fn` in one transaction: its writes land together, on the file or (held) in memory. */
  transaction<T>(fn: () => T): T {
    if (this.tx) {
      // Nested: a savepoint; its changes go if it fails.
      const mark = this.tx.length;
      try {
        return this.db.transaction(fn)();
      } catch (err) {
        this.tx.length = mark;
        throw err;
      }
    }
    const changes: Change[] = (this.tx = []);
    const onFile = !this.mem;
    let done = false;
    let result: T;
    try {
      this.db.transaction(() => {
        result = fn();
        done = true;
        if (onFile) this.injectFault();
      })();
      if (!onFile) this.hold(changes);
      return result!;
    } catch (err) {
      if (!onFile || !isDiskError(err)) throw err;
      this.tx = undefined;
      this.toMemory(err);
      if (!done) throw err;
      // The function ran to its end and only the commit failed: its changes go to memory.
      this.mem!.transaction(() => {
        for (const c of changes) this.prepare(c.sql).run(...c.args);
      })();
      this.hold(changes);
      return result!;
    } finally {
      this.tx = undefined;
    }
  }

  /**
   * Writes the changes held in memory to the file, in one transaction; true when none is held
   * any more. A failure keeps them (and counts).
   */
  flush(): boolean {
    if (!this.mem) return true;
    const changes = this.journal.filter((c): c is Change => c !== undefined);
    try {
      this.file.transaction(() => {
        for (const c of changes) this.prepareOn(this.file, c.sql).run(...c.args);
        this.injectFault();
      })();
    } catch (err) {
      this.failed('sync', err);
      this.observer.health?.(this.health());
      return false;
    }
    this.mem.close();
    this.mem = undefined;
    this.journal = [];
    this.pending = 0;
    this.keyed.clear();
    this.lastError = undefined;
    this.observer.health?.(this.health());
    return true;
  }

  /**
   * Moves the WAL into the database file and truncates it to nothing. With the exclusive lock
   * no reader holds it back, so this always completes when the disk allows.
   */
  checkpoint(): boolean {
    try {
      this.injectFault();
      const [r] = this.file.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>;
      return !r?.busy;
    } catch (err) {
      this.failed('checkpoint', err);
      return false;
    }
  }

  /** Closes the copy in memory (what it holds is lost) and the file. */
  close(): void {
    this.mem?.close();
    this.mem = undefined;
    if (this.file.open) this.file.close();
  }

  private toMemory(err: unknown): void {
    this.failed('write', err);
    if (this.mem) return;
    const image = this.file.serialize();
    // The image says WAL (header bytes 18 and 19), which an in-memory database cannot open.
    image[18] = 1;
    image[19] = 1;
    const mem = new Database(image);
    mem.pragma('foreign_keys = ON');
    this.mem = mem;
    this.observer.health?.(this.health());
  }

  private hold(changes: readonly Change[]): void {
    for (const c of changes) {
      if (c.key !== undefined) {
        const at = this.keyed.get(c.key);
        if (at !== undefined) {
          this.journal[at] = undefined;
          this.pending--;
        }
        this.keyed.set(c.key, this.journal.length);
      }
      this.journal.push(c);
      this.pending++;
    }
    // Replaced writes leave holes; past half the journal, close them up so that a long outage
    // of keyed writes (check states every 5 s) holds one entry per row, not one per write.
    if (this.journal.length > 1024 && this.journal.length > 2 * this.pending) this.compact();
    this.observer.health?.(this.health());
  }

  private compact(): void {
    this.journal = this.journal.filter((c): c is Change => c !== undefined);
    this.keyed.clear();
    this.journal.forEach((c, i) => c?.key !== undefined && this.keyed.set(c.key, i));
  }

  /** The journal's length, holes included (for tests: it stays near the changes held). */
  get journalLength(): number {
    return this.journal.length;
  }

  private failed(op: StoreOp, err: unknown): void {
    const e = err instanceof Error ? err : new Error(String(err));
    this.lastError = e.message;
    this.observer.error?.(op, e);
  }

  private injectFault(): void {
    const f = this.fault?.();
    if (f) throw f;
  }
}
