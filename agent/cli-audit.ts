import type { Argv, CommandModule } from 'yargs';
import { FINDING_SEVERITIES, type Finding, type FindingSeverity } from '../checks/types';
import { checkTypes } from '../checks';
import { EXIT_USAGE } from './cli-errors';
import { oneShot } from './cli-oneshot';
import { formatColumns } from './cli-table';
import { Status, STATUS_NAMES } from './evaluate';
import type { Logger } from './logger';
import type { CheckConfig, CheckResult } from './model';

interface AuditArgs {
  names: string[];
  config?: string;
  json: boolean;
}

/** What `keepwatch check` runs checks with; the audit takes the same path (given by cli.ts). */
export interface AuditRunner {
  selectChecks(all: CheckConfig[], names: string[]): { selected: CheckConfig[]; unknown: string[] };
  worstStatus(statuses: Status[]): Status;
  runAll(checks: CheckConfig[], concurrency: number, log: Logger): Promise<CheckResult[]>;
}

/** A finding with the check that found it. */
export interface AuditFinding extends Finding {
  check: string;
  type: string;
}

/** The audit as `--json` prints it. */
export interface AuditReport {
  status: (typeof STATUS_NAMES)[number];
  /** The exit code: the worst check status, Nagios style. */
  exitCode: number;
  /** All findings counted by severity (checks may keep fewer than they found). */
  counts: Record<FindingSeverity, number>;
  /** Every finding kept, worst first, with the check that found it. */
  findings: AuditFinding[];
  checks: CheckResult[];
}

const WORST_FIRST = [...FINDING_SEVERITIES].reverse();

/** Builds the report of security check results (pure). */
export function auditReport(results: readonly CheckResult[], worst: Status): AuditReport {
  const counts = Object.fromEntries(FINDING_SEVERITIES.map((s) => [s, 0])) as Record<FindingSeverity, number>;
  const findings: AuditFinding[] = [];
  for (const r of results) {
    for (const s of FINDING_SEVERITIES) counts[s] += r.findingCounts?.[s] ?? 0;
    for (const f of r.findings ?? []) findings.push({ check: r.check, type: r.type, ...f });
  }
  const rank = (f: Finding) => WORST_FIRST.indexOf(f.severity);
  // Stable: within a severity, checks in config order and each check's own order.
  findings.sort((a, b) => rank(a) - rank(b));
  return { status: STATUS_NAMES[worst], exitCode: worst, counts, findings, checks: [...results] };
}

/** `3 high, 1 medium, 5 info`, worst first, zero counts left out; `none` when all are zero. */
export function formatCounts(counts: Partial<Record<FindingSeverity, number>>): string {
  const parts = WORST_FIRST.filter((s) => (counts[s] ?? 0) > 0).map((s) => `${counts[s]} ${s}`);
  return parts.length ? parts.join(', ') : 'none';
}

/**
 * The readable report: findings grouped by severity, critical first, each with its check,
 * subject, refs and fix; then one line per check with its status; then the verdict.
 */
export function formatAudit(report: AuditReport): string {
  const out: string[] = [];
  const total = FINDING_SEVERITIES.reduce((n, s) => n + report.counts[s], 0);
  const n = report.checks.length;
  out.push(`Security audit: ${n} check${n === 1 ? '' : 's'}, ${total} finding${total === 1 ? '' : 's'}${total ? ` (${formatCounts(report.counts)})` : ''}`);
  for (const severity of WORST_FIRST) {
    const group = report.findings.filter((f) => f.severity === severity);
    if (!group.length) continue;
    out.push('', `${severity.toUpperCase()} (${report.counts[severity]})`);
    for (const f of group) {
      out.push(`  ${f.title}`);
      const details = [['check:', `${f.check} (${f.type})`], ['id:', f.id]];
      if (f.subject) details.push(['subject:', f.subject]);
      if (f.refs?.length) details.push(['refs:', f.refs.join(', ')]);
      if (f.fix) details.push(['fix:', f.fix]);
      out.push(formatColumns(details, { indent: '    ', gap: ' ' }));
    }
    const kept = group.length;
    if (kept < report.counts[severity]) out.push(`  … and ${report.counts[severity] - kept} more ${severity} finding${report.counts[severity] - kept === 1 ? '' : 's'} the checks did not keep (they keep 100 each, worst first)`);
  }
  const rows = [['STATUS', 'CHECK', 'TYPE', 'FINDINGS', 'MESSAGE']];
  for (const r of report.checks) rows.push([r.statusText.toUpperCase(), r.check, r.type, r.findingCounts ? formatCounts(r.findingCounts) : '-', r.message]);
  out.push('', formatColumns(rows));
  out.push('', `${report.status.toUpperCase()}: exit ${report.exitCode} (the worst check status; findings count through each check's thresholds)`);
  return out.join('\n');
}

/** The security types registered, for telling someone what to add. */
function securityTypes(): string[] {
  return checkTypes.filter((c) => c.category === 'security').map((c) => c.type).sort();
}

/**
 * `keepwatch audit [NAME…] [--json]`: runs the config's security checks once (or the named
 * ones) through the same runner as `keepwatch check`, and prints what they found by severity.
 * Exits with the worst check status (0 ok, 1 warning, 2 critical, 3 unknown); a config with
 * no security checks, or a name that is none, is a usage error (3), saying what to add.
 */
export function auditCommand(configOption: object, runner: AuditRunner): CommandModule<object, AuditArgs> {
  return {
    command: 'audit [names..]',
    describe: 'Run the security checks once (or those named) and print what they found, by severity with each fix; exit with the worst status: 0 ok, 1 warning, 2 critical, 3 unknown.',
    builder: (y: Argv) =>
      y
        .positional('names', { type: 'string', array: true, default: [] as string[], describe: 'Security checks to run (default: all); a name also selects its expansions' })
        .option('config', configOption)
        .option('json', { type: 'boolean', default: false, describe: 'Print the report as JSON: status, exitCode, counts, findings (worst first), checks' }) as unknown as Argv<AuditArgs>,
    handler: (argv) => audit(argv, runner),
  };
}

async function audit(argv: AuditArgs, runner: AuditRunner): Promise<void> {
  const { config, log, checks: all } = await oneShot(argv.config);
  const security = all.filter((c) => c.category === 'security');
  const { selected, unknown } = runner.selectChecks(security, argv.names);
  const notSecurity = unknown.filter((n) => all.some((c) => c.name === n || c.name.startsWith(`${n}:`)));
  if (notSecurity.length) {
    process.stderr.write(`not a security check: ${notSecurity.join(', ')} (keepwatch check runs it)\n`);
    process.exit(EXIT_USAGE);
  }
  if (unknown.length) {
    process.stderr.write(`no such check: ${unknown.join(', ')} (security checks: ${security.map((c) => c.name).join(', ') || 'none'})\n`);
    process.exit(EXIT_USAGE);
  }
  if (!selected.length) {
    // Nothing audited is not "all clear": UNKNOWN, with what to add.
    process.stderr.write(
      `${config.file}: no security checks to run${security.length ? ' (all disabled)' : ''}: add some to checks:, e.g.\n` +
      '  - { name: ssh-logins, type: auth-failures, every: 1m }\n' +
      `security check types: ${securityTypes().join(', ')} (see the README's "Security checks")\n`,
    );
    process.exit(EXIT_USAGE);
  }
  const results = await runner.runAll(selected, config.agent.concurrency, log);
  const report = auditReport(results, runner.worstStatus(results.map((r) => r.status)));
  // Exit explicitly: a check abandoned at its timeout may still hold a socket open.
  process.stdout.write(argv.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatAudit(report)}\n`, () => process.exit(report.exitCode));
}
