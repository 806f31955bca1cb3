import { api, when, whoami } from './cli-api';
import { usageError } from './cli-errors';
import { formatColumns } from './cli-table';

const printer = (json?: boolean) => (text: string, data: unknown): void => void process.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : `${text}\n`);

/** `keepwatch incidents [list|show ID|ack ID|resolve ID]`. */
export async function incidentsCommand(argv: { action: string; id?: number; url: string; state?: string; check?: string; by?: string; comment?: string; json?: boolean }): Promise<void> {
  const print = printer(argv.json);
  if (argv.action === 'list') {
    const q = new URLSearchParams();
    if (argv.state) q.set('state', argv.state);
    if (argv.check) q.set('check', argv.check);
    const { incidents } = await api(argv.url, 'GET', `/api/v1/incidents${q.size ? `?${q}` : ''}`);
    const rows = [['ID', 'STATE', 'SEVERITY', 'CHECK', 'TIER', 'OPENED', 'SUMMARY']];
    for (const i of incidents) rows.push([String(i.id), i.state + (i.flapping ? ' (flapping)' : ''), i.severity, i.check, i.tier ?? '-', when(i.openedAt), i.summary]);
    return print(incidents.length ? formatColumns(rows) : 'no incidents', incidents);
  }
  if (argv.id === undefined) usageError(`incidents ${argv.action} needs an incident id`);
  if (argv.action === 'show') {
    const i = await api(argv.url, 'GET', `/api/v1/incidents/${argv.id}`);
    const fields = [
      ['summary:', i.summary],
      ['opened:', `${when(i.openedAt)}   tier: ${i.tier ?? '-'}`],
      ['acked:', `${when(i.acknowledgedAt)}${i.acknowledgedBy ? ` by ${i.acknowledgedBy}` : ''}`],
      ['resolved:', `${when(i.resolvedAt)}${i.resolvedBy ? ` by ${i.resolvedBy}` : ''}${i.resolution ? ` (${i.resolution})` : ''}`],
      ['sla:', `respond by ${when(i.sla.respondDue)}${i.sla.respondBreached ? ' BREACHED' : ''}, resolve by ${when(i.sla.resolveDue)}${i.sla.resolveBreached ? ' BREACHED' : ''} (${i.sla.coverage})`],
    ];
    const timeline = i.timeline.map((t: { at: string; kind: string; message: string }) => [when(t.at), t.kind, t.message]);
    const lines = [
      `incident ${i.id}: ${i.severity} ${i.state}${i.flapping ? ' (flapping)' : ''} — ${i.check} (${i.type})`,
      formatColumns(fields, { gap: ' ' }),
      'timeline:',
      ...(timeline.length ? [formatColumns(timeline, { indent: '  ' })] : []),
    ];
    return print(lines.join('\n'), i);
  }
  const i = await api(argv.url, 'POST', `/api/v1/incidents/${argv.id}/${argv.action}`, { by: argv.by ?? whoami(), comment: argv.comment });
  print(`incident ${i.id} ${i.state}`, i);
}

/** `keepwatch silence [create|list|delete ID]`. */
export async function silenceCommand(argv: { action: string; id?: string; url: string; check?: string[]; label?: string[]; for?: string; comment?: string; by?: string; all?: boolean; force?: boolean; json?: boolean }): Promise<void> {
  const print = printer(argv.json);
  if (argv.action === 'list') {
    const { silences } = await api(argv.url, 'GET', `/api/v1/silences${argv.all ? '?all=true' : ''}`);
    const rows = [['ID', 'CHECKS', 'UNTIL', 'BY', 'COMMENT']];
    for (const s of silences) rows.push([s.id, s.checks.join(','), when(s.endsAt), s.createdBy, s.comment]);
    return print(silences.length ? formatColumns(rows) : 'no silences', silences);
  }
  if (argv.action === 'delete') {
    if (!argv.id) usageError('silence delete needs a silence id (or the start of one)');
    const r = await api(argv.url, 'DELETE', `/api/v1/silences/${encodeURIComponent(argv.id)}`);
    return print(`silence ${r.id} expired`, r);
  }
  if (!argv.check?.length) usageError('silence needs --check NAME (a name or glob; repeat for several)');
  if (!argv.comment) usageError('silence needs --comment saying why');
  const bad = (argv.label ?? []).find((l) => l.indexOf('=') < 1);
  if (bad) usageError(`--label ${bad}: expected name=value`);
  const labels = Object.fromEntries((argv.label ?? []).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  const body = { checks: argv.check, labels, for: argv.for ?? '1h', comment: argv.comment, createdBy: argv.by ?? whoami(), ...(argv.force && { force: true }) };
  const s = await api(argv.url, 'POST', '/api/v1/silences', body, (f) => (f.status === 422 ? '--force creates it anyway, for a check about to be added' : undefined));
  // Some patterns matched and some did not: likely a typo in one of them.
  if (s.matched?.length) for (const p of s.unmatched ?? []) process.stderr.write(`warning: --check ${p} matches no configured check\n`);
  const covers = s.matched?.length ? s.matched.join(', ') : `${s.checks.join(', ')} (no configured check yet)`;
  print(`silence ${s.id}: ${covers} until ${when(s.endsAt)}`, s);
}
