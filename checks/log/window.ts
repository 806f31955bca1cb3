/**
 * What a log check remembers between runs about the lines it matched: counts in small time
 * buckets over the window, and the last few matching lines for the incident's evidence.
 */

/** Buckets kept per check at most: each covers window / MAX_BUCKETS (at least a second). */
export const MAX_BUCKETS = 1000;
/** The longest line kept as an excerpt (characters); longer ones end in `…`. */
export const MAX_LINE = 512;

/** Counts of matches by time, pruned to a window, and the newest matching lines. */
export class MatchWindow {
  private buckets: Array<{ at: number; n: number }> = [];
  private kept: Array<{ at: number; line: string }> = [];
  private readonly bucketMs: number;

  /**
   * `startedAt`: when counting began (the first run, or the start of the window when the
   * first run read the window back), for the rate while the window is not yet full.
   */
  constructor(readonly windowMs: number, readonly keepLines: number, readonly startedAt: number) {
    this.bucketMs = Math.max(1000, Math.ceil(windowMs / MAX_BUCKETS));
  }

  /** A copy: a run that fails half-way leaves the window as the last good run left it. */
  clone(): MatchWindow {
    const c = new MatchWindow(this.windowMs, this.keepLines, this.startedAt);
    c.buckets = this.buckets.map((b) => ({ ...b }));
    c.kept = [...this.kept];
    return c;
  }

  /** Counts one match at `at` (ms), keeping its line (cut to MAX_LINE). */
  add(at: number, line: string): void {
    const slot = Math.floor(at / this.bucketMs) * this.bucketMs;
    const last = this.buckets[this.buckets.length - 1];
    if (last && last.at === slot) last.n++;
    else if (last && last.at > slot) {
      // Out of order (journal entries of several writers): the bucket it belongs in, or a new one.
      const i = this.buckets.findIndex((b) => b.at >= slot);
      if (this.buckets[i].at === slot) this.buckets[i].n++;
      else this.buckets.splice(i, 0, { at: slot, n: 1 });
    } else this.buckets.push({ at: slot, n: 1 });
    if (this.keepLines > 0) {
      this.kept.push({ at, line: cut(line) });
      if (this.kept.length > this.keepLines) this.kept.shift();
    }
  }

  /** Forgets what is older than the window before `now`. */
  prune(now: number): void {
    const since = now - this.windowMs;
    // A bucket counts while its start is inside the window (at most one bucket's width of slack).
    while (this.buckets.length && this.buckets[0].at + this.bucketMs <= since) this.buckets.shift();
    this.kept = this.kept.filter((k) => k.at > since);
  }

  /** Matches in the window. */
  get matches(): number {
    return this.buckets.reduce((sum, b) => sum + b.n, 0);
  }

  /**
   * Matches per minute over the window, or over the time since counting began while that is
   * shorter than the window (0 before any time has passed).
   */
  ratePerMin(now: number): number {
    const covered = Math.min(this.windowMs, now - this.startedAt);
    return covered > 0 ? Math.round((this.matches / (covered / 60_000)) * 100) / 100 : 0;
  }

  /** The matching lines kept, newest last. */
  get lines(): string[] {
    return this.kept.map((k) => k.line);
  }
}

/** A line cut to MAX_LINE characters (without splitting a surrogate pair). */
export function cut(line: string): string {
  if (line.length <= MAX_LINE) return line;
  let end = MAX_LINE - 1;
  const c = line.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return `${line.slice(0, end)}…`;
}

/** Tells matching lines: `match` and not `exclude`. */
export function lineMatcher(spec: { match: string; exclude?: string; ignoreCase?: boolean }): (line: string) => boolean {
  const flags = spec.ignoreCase ? 'i' : '';
  const match = new RegExp(spec.match, flags);
  const exclude = spec.exclude !== undefined ? new RegExp(spec.exclude, flags) : undefined;
  return (line) => match.test(line) && !(exclude?.test(line) ?? false);
}
