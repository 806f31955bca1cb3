import { Status } from '../evaluate';

/** Runs of one check in one hour (hour = epoch hours); ok counts ok and warning runs. */
export interface AvailabilityRow {
  check: string;
  hour: number;
  ok: number;
  total: number;
}

/**
 * Counts runs per check and hour in memory, for the store to add up: the engine writes what
 * `count` hands back when an hour ends, and what `take` hands back every minute.
 */
export class AvailabilityCounter {
  private readonly counts = new Map<string, { hour: number; ok: number; total: number }>();

  /** Counts one run at `now`; the runs of the check's previous hour, when this one starts a new hour. */
  count(check: string, status: Status, now: number): AvailabilityRow | undefined {
    const hour = Math.floor(now / 3_600_000);
    let a = this.counts.get(check);
    let ended: AvailabilityRow | undefined;
    if (!a || a.hour !== hour) {
      if (a?.total) ended = { check, ...a };
      a = { hour, ok: 0, total: 0 };
      this.counts.set(check, a);
    }
    a.total++;
    if (status === Status.Ok || status === Status.Warning) a.ok++;
    return ended;
  }

  /** Every count not handed out yet, reset to zero. */
  take(): AvailabilityRow[] {
    const out: AvailabilityRow[] = [];
    for (const [check, a] of this.counts) {
      if (a.total) out.push({ check, ...a });
      a.ok = 0;
      a.total = 0;
    }
    return out;
  }
}
