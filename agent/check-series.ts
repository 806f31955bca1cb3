import { FAILURE_REASONS, type CostFigures, type Value } from '../checks/types';
import { COST_FAMILIES, COST_FAMILY_KEYS, escapeLabel, renderCost } from './cost-series';
import { Status, STATUS_NAMES } from './evaluate';

/**
 * Buckets for check durations. Few on purpose: each bucket is a series per check, and with a
 * thousand checks the histogram was three quarters of the whole page. The exact latency of
 * every run is in keepwatch_check_value already; these only need to tell fast (< 50 ms),
 * web-fast (< 250 ms), slow (< 1 s), very slow (< 5 s) and close to the 10 s default timeout.
 */
export const DURATION_BUCKETS = [0.05, 0.25, 1, 5];

/** What the metrics need to know about one judged run. */
export interface RunRecord {
  status: Status;
  up: boolean;
  reason?: string;
  durationSeconds: number;
  values: Record<string, Value>;
  /** Findings by severity, for checks that return findings (every severity, zero included). */
  findings?: Readonly<Record<string, number>>;
  /** A cost check's figures (keepwatch_cost_*), as the runner kept them. */
  cost?: CostFigures;
}

/** The per-check metric families: rendered by hand, see CheckSeries. */
const CHECK_FAMILIES = {
  status: {
    name: 'keepwatch_check_status',
    type: 'gauge',
    help: 'Status of the last run of each check: 0 ok, 1 warning, 2 critical, 3 unknown.',
  },
  up: { name: 'keepwatch_check_up', type: 'gauge', help: "1 when the check's target answered on the last run, else 0." },
  value: {
    name: 'keepwatch_check_value',
    type: 'gauge',
    help: 'Each numeric value the last run of a check returned (booleans as 0/1), in the unit its field name gives.',
  },
  duration: { name: 'keepwatch_check_duration_seconds', type: 'histogram', help: 'How long check runs took.' },
  runs: {
    name: 'keepwatch_check_runs_total',
    type: 'counter',
    help: 'Check runs by resulting status and failure reason (none when ok).',
  },
  findings: {
    name: 'keepwatch_security_findings',
    type: 'gauge',
    help: 'Findings of the last run of each auditing (security) check, by severity.',
  },
  ...COST_FAMILIES,
} as const;

type FamilyKey = keyof typeof CHECK_FAMILIES;
/** The per-check families in the order a scrape renders them. */
export const FAMILY_KEYS = Object.keys(CHECK_FAMILIES) as FamilyKey[];

export const EMPTY = Buffer.alloc(0);

export const FAMILY_HEADERS = Object.fromEntries(
  Object.entries(CHECK_FAMILIES).map(([key, f]) => [key, Buffer.from(`# HELP ${f.name} ${f.help}\n# TYPE ${f.name} ${f.type}\n`)]),
) as Record<FamilyKey, Buffer>;

/**
 * One check's series, kept as encoded text. With a thousand checks these families hold some
 * 20,000 samples (1.5 MB); formatting them through prom-client's generic label handling took
 * ~40 ms per scrape, and even building one string of them ~15 ms (V8 flattening the
 * concatenation, then encoding it), all blocking the event loop and so the scheduler. So
 * each check encodes its own lines when it records a run (label prefixes are built once per
 * config), and a scrape only copies the ready bytes together.
 */
export class CheckSeries {
  /** This check's lines of each family, UTF-8, each line ending in a newline. */
  readonly text = Object.fromEntries(FAMILY_KEYS.map((k) => [k, EMPTY])) as Record<FamilyKey, Buffer>;
  statusPrefix = '';
  status?: Status;
  readonly upPrefix: string;
  up?: number;
  readonly values = new Map<string, { prefix: string; value: number }>();
  readonly buckets = new Array<number>(DURATION_BUCKETS.length).fill(0);
  readonly bucketPrefixes: string[];
  readonly sumPrefix: string;
  readonly countPrefix: string;
  sum = 0;
  count = 0;
  readonly runs = new Map<string, { prefix: string; count: number }>();

  constructor(readonly name: string, readonly type: string) {
    const basic = `check="${escapeLabel(name)}",type="${escapeLabel(type)}"`;
    this.upPrefix = `${CHECK_FAMILIES.up.name}{${basic}} `;
    const d = CHECK_FAMILIES.duration.name;
    this.bucketPrefixes = [...DURATION_BUCKETS.map(String), '+Inf'].map((le) => `${d}_bucket{${basic},le="${le}"} `);
    this.sumPrefix = `${d}_sum{${basic}} `;
    this.countPrefix = `${d}_count{${basic}} `;
  }

  setStatusLabels(labels: Record<string, string>): void {
    const parts = Object.entries(labels).filter(([, v]) => v !== '').map(([k, v]) => `${k}="${escapeLabel(v)}"`);
    this.statusPrefix = `${CHECK_FAMILIES.status.name}{${parts.join(',')}} `;
    if (this.status !== undefined) this.text.status = Buffer.from(`${this.statusPrefix}${this.status}\n`);
  }

  private render(): void {
    const t = this.text;
    t.status = Buffer.from(`${this.statusPrefix}${this.status}\n`);
    t.up = Buffer.from(`${this.upPrefix}${this.up}\n`);
    let value = '';
    for (const v of this.values.values()) value += `${v.prefix}${formatNumber(v.value)}\n`;
    t.value = Buffer.from(value);
    let duration = '';
    let cumulative = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      cumulative += this.buckets[i];
      duration += `${this.bucketPrefixes[i]}${cumulative}\n`;
    }
    t.duration = Buffer.from(
      `${duration}${this.bucketPrefixes[this.buckets.length]}${this.count}\n${this.sumPrefix}${formatNumber(this.sum)}\n${this.countPrefix}${this.count}\n`,
    );
    this.renderRuns();
  }

  private renderRuns(): void {
    let runs = '';
    for (const r of this.runs.values()) runs += `${r.prefix}${r.count}\n`;
    this.text.runs = Buffer.from(runs);
  }

  private runCounter(status: Status, reason: string): { prefix: string; count: number } {
    const key = `${status}|${reason}`;
    let counter = this.runs.get(key);
    if (!counter) {
      counter = {
        prefix: `${CHECK_FAMILIES.runs.name}{check="${escapeLabel(this.name)}",status="${STATUS_NAMES[status]}",reason="${reason}"} `,
        count: 0,
      };
      this.runs.set(key, counter);
    }
    return counter;
  }

  /**
   * Exports the ok and every critical run counter at 0 before any such run, so that rate()
   * and increase() count the first failure of each reason too (a series that appears at 1
   * has no earlier sample to rise from). For checks with an SLO, whose error ratio needs it.
   */
  startRunCounters(): void {
    const before = this.runs.size;
    this.runCounter(Status.Ok, 'none');
    for (const reason of FAILURE_REASONS) this.runCounter(Status.Critical, reason);
    if (this.runs.size !== before) this.renderRuns();
  }

  record(run: RunRecord): void {
    this.status = run.status;
    this.up = run.up ? 1 : 0;
    const i = DURATION_BUCKETS.findIndex((b) => run.durationSeconds <= b);
    if (i >= 0) this.buckets[i]++;
    this.sum += run.durationSeconds;
    this.count++;
    this.runCounter(run.status, run.reason ?? 'none').count++;
    // A value the run did not return is removed, not left at its last reading.
    for (const field of this.values.keys()) if (toNumber(run.values[field]) === undefined) this.values.delete(field);
    for (const field in run.values) {
      const n = toNumber(run.values[field]);
      if (n === undefined) continue;
      const v = this.values.get(field);
      if (v) v.value = n;
      else this.values.set(field, { prefix: `${CHECK_FAMILIES.value.name}{check="${escapeLabel(this.name)}",field="${escapeLabel(field)}"} `, value: n });
    }
    if (run.findings) {
      let text = '';
      for (const [severity, n] of Object.entries(run.findings)) text += `${CHECK_FAMILIES.findings.name}{check="${escapeLabel(this.name)}",severity="${escapeLabel(severity)}"} ${n}\n`;
      this.text.findings = Buffer.from(text);
    } else {
      this.text.findings = EMPTY;
    }
    // Like findings: a run without a cost block (the check could not run) drops the series.
    const cost = renderCost(this.name, run.cost);
    for (const key of COST_FAMILY_KEYS) this.text[key] = cost[key] ? Buffer.from(cost[key]) : EMPTY;
    this.render();
  }
}

/**
 * Copies pieces one after the other into `out` and returns the filled part. Buffer.concat
 * copies each piece through a slow generic path in Node 20 (~4 ms for 5,000 pieces);
 * Buffer#copy does it in a tenth of that once warm.
 */
export function copyInto(out: Buffer, parts: Buffer[]): Buffer {
  let offset = 0;
  for (const p of parts) offset += p.copy(out, offset);
  return out.subarray(0, offset);
}

function formatNumber(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}

function toNumber(v: Value | undefined): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'boolean') return v ? 1 : 0;
  return undefined;
}
