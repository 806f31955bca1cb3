/** One sample of the Prometheus text format. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE_RE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL_RE = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses the Prometheus text exposition format (comments skipped, timestamps ignored). */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = LINE_RE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[2]) for (const l of m[2].matchAll(LABEL_RE)) labels[l[1]] = l[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** What the bench reads from one keepwatch /metrics scrape. */
export interface AgentSnapshot {
  /** keepwatch_check_runs_total summed by status. */
  runsByStatus: Record<string, number>;
  runs: number;
  /** Checks with at least one run. */
  checksRun: number;
  checksConfigured: number;
  skipped: number;
  /** keepwatch_scheduler_lag_seconds: cumulative bucket counts by upper bound, and the count. */
  lagBuckets: Map<number, number>;
  lagCount: number;
  durationSum: number;
  durationCount: number;
  /** Size of the exposition and the number of samples in it. */
  bytes: number;
  samples: number;
}

/** Reduces a keepwatch /metrics body to the figures the bench uses. */
export function agentSnapshot(text: string): AgentSnapshot {
  const samples = parseMetrics(text);
  const snap: AgentSnapshot = {
    runsByStatus: {},
    runs: 0,
    checksRun: 0,
    checksConfigured: 0,
    skipped: 0,
    lagBuckets: new Map(),
    lagCount: 0,
    durationSum: 0,
    durationCount: 0,
    bytes: Buffer.byteLength(text),
    samples: samples.length,
  };
  const ran = new Set<string>();
  for (const s of samples) {
    switch (s.name) {
      case 'keepwatch_check_runs_total':
        snap.runsByStatus[s.labels.status] = (snap.runsByStatus[s.labels.status] ?? 0) + s.value;
        snap.runs += s.value;
        if (s.value > 0) ran.add(s.labels.check);
        break;
      case 'keepwatch_checks_configured':
        snap.checksConfigured = s.value;
        break;
      case 'keepwatch_check_skipped_runs_total':
        snap.skipped += s.value;
        break;
      case 'keepwatch_scheduler_lag_seconds_bucket':
        snap.lagBuckets.set(s.labels.le === '+Inf' ? Infinity : Number(s.labels.le), s.value);
        break;
      case 'keepwatch_scheduler_lag_seconds_count':
        snap.lagCount = s.value;
        break;
      case 'keepwatch_check_duration_seconds_sum':
        snap.durationSum += s.value;
        break;
      case 'keepwatch_check_duration_seconds_count':
        snap.durationCount += s.value;
        break;
    }
  }
  snap.checksRun = ran.size;
  return snap;
}

/**
 * The smallest histogram bucket bound that holds at least `q` of the observations made
 * between two snapshots: an upper bound on that quantile, not an interpolated value.
 */
export function bucketQuantile(before: Map<number, number>, after: Map<number, number>, q: number): { bound: number; count: number } {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const delta = (le: number) => (after.get(le) ?? 0) - (before.get(le) ?? 0);
  const total = bounds.length ? delta(Infinity) : 0;
  if (total <= 0) return { bound: NaN, count: 0 };
  for (const le of bounds) if (delta(le) >= q * total) return { bound: le, count: total };
  return { bound: Infinity, count: total };
}
