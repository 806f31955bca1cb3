import cron, { type ScheduledTask } from 'node-cron';
import type { Schedule } from './model';

/** A job the scheduler runs: one per enabled check. */
export interface JobSpec {
  name: string;
  schedule: Schedule;
}

/**
 * Why a due run did not start: `overlap`, the previous run had not finished; `missed`, the
 * process was too busy or suspended to start a cron run within a second of its time.
 */
export const SKIP_REASONS = ['overlap', 'missed'] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

export interface SchedulerOptions {
  /** Most runs in flight at once; further due runs wait in a FIFO queue. */
  concurrency: number;
  /**
   * Runs the job once. It must settle by itself within the job's timeout (the runner
   * enforces that); the scheduler only keeps runs of one job from overlapping.
   */
  execute(name: string): Promise<void>;
  /**
   * Called when a run finishes: a delay in ms to re-run sooner than the schedule
   * (`retryEvery` while a failure is being confirmed), or undefined for the normal pace.
   */
  pace?(name: string): number | undefined;
  /** How late a scheduled run started, in seconds. */
  onLag?(seconds: number): void;
  /** A due run was skipped because the previous one had not finished. */
  onSkip?(name: string, reason: SkipReason): void;
  /** Runs waiting for a free slot, after every change. */
  onQueue?(length: number): void;
  /** Spread first runs after start over at most this long (default 5 s), so results come quickly. */
  initialSpreadMs?: number;
  /** Warnings from the cron library. */
  log?: { warn(obj: object, msg: string): void };
  now?: () => number;
}

/** The longest single timer the scheduler sets; longer waits are chained. */
export const MAX_TIMER_MS = 86_400_000;

interface Job {
  spec: JobSpec;
  /** 0..1, from the name: where in its interval this job's slots fall. */
  phase: number;
  state: 'idle' | 'queued' | 'running';
  /** Scheduled time of the queued or running run. */
  slot: number;
  /** Next due time (every jobs and retries), and a version that invalidates older heap entries. */
  due: number;
  version: number;
  lastStart: number;
  cronTask?: ScheduledTask;
  /** Settles when the current run ends. */
  current?: Promise<void>;
  /** Starts the queued run. */
  go?: () => void;
  /** Settles `current` without running: a queued run dropped by stop() or a reload. */
  drop?: () => void;
  removed: boolean;
}

interface HeapEntry {
  due: number;
  job: Job;
  version: number;
}

/**
 * Decides when checks run. `every` jobs fall on slots fixed by a hash of their name
 * (`phase`), so 1,000 checks at 30 s are spread evenly across the 30 s and keep their
 * rhythm across restarts; `cron` jobs are timed by node-cron. A job never overlaps itself
 * (a due run while the last is still going is skipped and counted), and at most
 * `concurrency` runs are in flight.
 */
export class Scheduler {
  private readonly jobs = new Map<string, Job>();
  private readonly heap: HeapEntry[] = [];
  private readonly queue: Job[] = [];
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private active = 0;
  private started = false;
  private readonly now: () => number;

  constructor(private readonly opts: SchedulerOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Replaces the job set. Jobs that keep their name keep their state (a running run finishes). */
  setJobs(specs: readonly JobSpec[]): void {
    const keep = new Set(specs.map((s) => s.name));
    for (const [name, job] of this.jobs) {
      if (!keep.has(name)) this.removeJob(job);
    }
    for (const spec of specs) {
      let job = this.jobs.get(spec.name);
      if (job && sameSchedule(job.spec.schedule, spec.schedule)) {
        job.spec = spec;
        continue;
      }
      if (job) {
        job.spec = spec;
        job.cronTask?.destroy();
        job.cronTask = undefined;
        job.due = Infinity;
        job.version++;
      } else {
        job = { spec, phase: phaseOf(spec.name), state: 'idle', slot: 0, due: Infinity, version: 0, lastStart: 0, removed: false };
        this.jobs.set(spec.name, job);
      }
      if (this.started) this.arm(job, true);
    }
    this.rearm();
  }

  /** Changes the most runs in flight at once; queued runs start if there is room now. */
  setConcurrency(n: number): void {
    this.opts.concurrency = n;
    this.drain();
  }

  /** Starts timing: first runs are spread over `initialSpreadMs`, then follow their slots. */
  start(): void {
    if (this.started) return;
    this.started = true;
    for (const job of this.jobs.values()) this.arm(job, true);
    this.rearm();
  }

  /** Stops timing new runs and waits for the runs in flight to settle. */
  async stop(): Promise<void> {
    this.started = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    this.heap.length = 0;
    for (const job of this.queue.splice(0)) job.drop?.();
    this.opts.onQueue?.(0);
    const inflight: Promise<void>[] = [];
    for (const job of this.jobs.values()) {
      job.cronTask?.destroy();
      job.cronTask = undefined;
      if (job.current) inflight.push(job.current);
    }
    await Promise.allSettled(inflight);
  }

  /** When the job runs next (ms since epoch), if it is scheduled. */
  nextRun(name: string): number | undefined {
    const job = this.jobs.get(name);
    if (!job) return undefined;
    if (job.spec.schedule.kind === 'cron') {
      const next = job.cronTask?.getNextRun()?.getTime();
      return job.due < Infinity && next !== undefined ? Math.min(job.due, next) : next;
    }
    return job.due < Infinity ? job.due : undefined;
  }

  /** Whether the job is queued or running now. */
  busy(name: string): boolean {
    const job = this.jobs.get(name);
    return !!job && job.state !== 'idle';
  }

  /**
   * Runs a job now, outside its schedule (the API's "run now"); waits for a free slot like
   * any run. Returns false, starting nothing, when the job is already queued or running.
   */
  runNow(name: string): { started: boolean; done: Promise<void> } {
    const job = this.jobs.get(name);
    if (!job) throw new Error(`no such job: ${name}`);
    if (job.state !== 'idle') return { started: false, done: job.current ?? Promise.resolve() };
    const done = this.enqueue(job, this.now(), false);
    return { started: true, done };
  }

  private arm(job: Job, first: boolean): void {
    const s = job.spec.schedule;
    if (s.kind === 'cron') {
      if (!job.cronTask) {
        job.cronTask = cron.createTask(s.cron, (ctx) => this.due(job, ctx.date.getTime()), {
          timezone: s.timezone,
          name: job.spec.name,
          noOverlap: false,
          logger: cronLogger(this.opts.log),
        });
        job.cronTask.on('execution:missed', () => this.opts.onSkip?.(job.spec.name, 'missed'));
        void job.cronTask.start();
      }
      return;
    }
    const now = this.now();
    const every = s.everyMs;
    let due = alignedAfter(now, every, job.phase);
    if (first) {
      const spread = Math.min(every, this.opts.initialSpreadMs ?? 5000);
      due = Math.min(due, now + Math.floor(job.phase * spread));
    }
    this.setDue(job, due);
  }

  private setDue(job: Job, due: number): void {
    job.due = due;
    job.version++;
    heapPush(this.heap, { due, job, version: job.version });
    if (due < this.timerAt) this.rearm();
  }

  private rearm(): void {
    while (this.heap.length && (this.heap[0].version !== this.heap[0].job.version || this.heap[0].job.removed)) heapPop(this.heap);
    const next = this.heap[0]?.due ?? Infinity;
    if (next === this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = next;
    if (!this.started || next === Infinity) return;
    // setTimeout overflows past 2^31-1 ms (~24.8 days) and fires at once: a long wait is
    // chained in steps of at most a day, each tick finding nothing due and re-arming.
    this.timer = setTimeout(() => this.tick(), Math.min(MAX_TIMER_MS, Math.max(0, next - this.now())));
  }

  private tick(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.now();
    while (this.heap.length && this.heap[0].due <= now) {
      const e = heapPop(this.heap);
      if (e.version !== e.job.version || e.job.removed) continue;
      const job = e.job;
      job.due = Infinity;
      if (job.spec.schedule.kind === 'every') {
        // Next slot: the aligned one after this, but never less than half an interval
        // after this run (a first or retry run can fall just before an aligned slot).
        const every = job.spec.schedule.everyMs;
        let next = alignedAfter(e.due, every, job.phase);
        if (next - e.due < every / 2) next += every;
        while (next <= now) next += every; // the process was suspended: don't replay missed slots
        job.due = next;
        job.version++;
        heapPush(this.heap, { due: next, job, version: job.version });
      }
      this.due(job, e.due);
    }
    this.rearm();
  }

  /** A run of `job` is due at `slot`. */
  private due(job: Job, slot: number): void {
    if (!this.started || job.removed) return;
    if (job.state !== 'idle') {
      this.opts.onSkip?.(job.spec.name, 'overlap');
      return;
    }
    void this.enqueue(job, slot, true);
  }

  private enqueue(job: Job, slot: number, scheduled: boolean): Promise<void> {
    job.slot = slot;
    job.current = new Promise<void>((resolve) => {
      job.go = () => {
        job.go = job.drop = undefined;
        void this.begin(job, scheduled).then(resolve);
      };
      job.drop = () => {
        job.go = job.drop = undefined;
        job.state = 'idle';
        job.current = undefined;
        resolve();
      };
      if (this.active < this.opts.concurrency) {
        job.go();
      } else {
        job.state = 'queued';
        this.queue.push(job);
        this.opts.onQueue?.(this.queue.length);
      }
    });
    return job.current;
  }

  private async begin(job: Job, scheduled: boolean): Promise<void> {
    this.active++;
    job.state = 'running';
    const start = this.now();
    job.lastStart = start;
    if (scheduled) this.opts.onLag?.(Math.max(0, start - job.slot) / 1000);
    try {
      await this.opts.execute(job.spec.name);
    } catch (err) {
      // execute() reports its own failures; a rejection here is a bug, but must not stop the scheduler.
      this.opts.log?.warn({ err, check: job.spec.name }, 'check run failed unexpectedly');
    } finally {
      this.active--;
      job.state = 'idle';
      job.current = undefined;
      this.afterRun(job, start);
      this.drain();
    }
  }

  private afterRun(job: Job, start: number): void {
    if (job.removed || !this.started) return;
    const retry = this.opts.pace?.(job.spec.name);
    if (retry === undefined) return;
    const at = Math.max(start + retry, this.now());
    if (at < job.due) this.setDue(job, at);
  }

  private drain(): void {
    while (this.active < this.opts.concurrency && this.queue.length) {
      const job = this.queue.shift()!;
      this.opts.onQueue?.(this.queue.length);
      job.go?.();
    }
  }

  private removeJob(job: Job): void {
    job.removed = true;
    job.cronTask?.destroy();
    job.cronTask = undefined;
    const i = this.queue.indexOf(job);
    if (i >= 0) {
      this.queue.splice(i, 1);
      job.drop?.();
      this.opts.onQueue?.(this.queue.length);
    }
    this.jobs.delete(job.spec.name);
  }
}

/** The first time after `t` that falls on the job's slot grid (multiples of `every` shifted by its phase). */
export function alignedAfter(t: number, every: number, phase: number): number {
  const offset = Math.floor(phase * every);
  return Math.floor((t - offset) / every) * every + offset + every;
}

/**
 * A stable 0..1 fraction from a name, so a check's slot survives restarts: FNV-1a, then
 * murmur3's finaliser, because names like check-1, check-2 differ only in their last bits.
 */
export function phaseOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 0x1_0000_0000;
}

function sameSchedule(a: Schedule, b: Schedule): boolean {
  return a.kind === 'every' && b.kind === 'every'
    ? a.everyMs === b.everyMs
    : a.kind === 'cron' && b.kind === 'cron' && a.cron === b.cron && a.timezone === b.timezone;
}

function cronLogger(log?: { warn(obj: object, msg: string): void }) {
  const warn = (message: unknown) => log?.warn({ detail: String(message) }, 'cron scheduler warning');
  return { info() {}, debug() {}, warn, error: warn };
}

function heapPush(h: HeapEntry[], e: HeapEntry): void {
  h.push(e);
  let i = h.length - 1;
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (h[p].due <= h[i].due) break;
    [h[p], h[i]] = [h[i], h[p]];
    i = p;
  }
}

function heapPop(h: HeapEntry[]): HeapEntry {
  const top = h[0];
  const last = h.pop()!;
  if (h.length) {
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && h[l].due < h[m].due) m = l;
      if (r < h.length && h[r].due < h[m].due) m = r;
      if (m === i) break;
      [h[m], h[i]] = [h[i], h[m]];
      i = m;
    }
  }
  return top;
}
