import { MAX_STATE_BYTES, type CheckState } from '../checks/types';
import type { BaselineAcceptance, HeldKey, Store } from './store/store';

export type { BaselineAcceptance, HeldKey } from './store/store';

/** The rows a state lives in: the store's check_data, or a map in memory. */
interface Rows {
  get(check: string, key: string): string | undefined;
  set(check: string, key: string, json: string | undefined, at: number): void;
  held(check: string): HeldKey[];
  accept(a: BaselineAcceptance): void;
  acceptances(check: string, limit?: number): BaselineAcceptance[];
}

/**
 * Every check's `ctx.state`, and the record of accepted baselines: in the store when the agent
 * has one (so a baseline outlives a restart), else in memory.
 */
export class CheckStates {
  private readonly rows: Rows;

  constructor(store: Store | undefined, private readonly now: () => number = Date.now) {
    this.rows = store ? store.checkData : new MemoryRows();
    this.persistent = store !== undefined;
  }

  /** Whether the states outlive the process. */
  readonly persistent: boolean;

  /** The state a check's runs get. */
  for(check: string): CheckState {
    const { rows, now, persistent } = this;
    return {
      persistent,
      get: async (key) => {
        const json = rows.get(check, key);
        return json === undefined ? undefined : JSON.parse(json);
      },
      set: async (key, value) => rows.set(check, key, value === undefined ? undefined : serialise(check, key, value), now()),
    };
  }

  /** The keys a check keeps, with their sizes. */
  held(check: string): HeldKey[] {
    return this.rows.held(check);
  }

  /** Drops everything a check keeps (its baseline) and records who accepted that, and why. */
  accept(check: string, by: string, reason: string): BaselineAcceptance {
    const a = { check, by, reason, at: this.now() };
    this.rows.accept(a);
    return a;
  }

  /** A check's accepted baselines, newest first. */
  acceptances(check: string, limit?: number): BaselineAcceptance[] {
    return this.rows.acceptances(check, limit);
  }
}

/** A state of its own in memory, for a single run (`keepwatch check`): nothing outlives it. */
export function memoryState(): CheckState {
  return new CheckStates(undefined).for('');
}

function serialise(check: string, key: string, value: unknown): string {
  const json = JSON.stringify(value);
  if (json === undefined) throw new Error(`check ${check}: state "${key}" is not a JSON value`);
  // Checked in UTF-16 units first: a string this short cannot be over in bytes either.
  if (json.length > MAX_STATE_BYTES / 3 && Buffer.byteLength(json) > MAX_STATE_BYTES) {
    throw new Error(`check ${check}: state "${key}" is ${Buffer.byteLength(json)} bytes, over the limit of ${MAX_STATE_BYTES}`);
  }
  return json;
}

/** check_data and baseline_acceptances in memory. */
class MemoryRows implements Rows {
  private readonly data = new Map<string, Map<string, { json: string; at: number }>>();
  private readonly accepted: BaselineAcceptance[] = [];

  get(check: string, key: string): string | undefined {
    return this.data.get(check)?.get(key)?.json;
  }

  set(check: string, key: string, json: string | undefined, at: number): void {
    let keys = this.data.get(check);
    if (json === undefined) return void keys?.delete(key);
    if (!keys) this.data.set(check, (keys = new Map()));
    keys.set(key, { json, at });
  }

  held(check: string): HeldKey[] {
    return [...(this.data.get(check) ?? [])].sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, v]) => ({ key, bytes: Buffer.byteLength(v.json), updatedAt: v.at }));
  }

  accept(a: BaselineAcceptance): void {
    this.data.delete(a.check);
    this.accepted.push(a);
  }

  acceptances(check: string, limit = 20): BaselineAcceptance[] {
    return this.accepted.filter((a) => a.check === check).reverse().slice(0, limit);
  }
}
