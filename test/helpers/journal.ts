import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

// systemd-journal-remote writes real journal files from the export format; .ci/run installs it.
const JOURNAL_REMOTE = process.env.JOURNAL_REMOTE ?? '/lib/systemd/systemd-journal-remote';

/** One entry: when (before now), which unit, and what it logged. */
export interface JournalEntrySpec {
  agoMs: number;
  unit: string;
  /** SYSLOG_IDENTIFIER (default: the unit without .service). */
  ident?: string;
  pid: number;
  message: string;
}

/**
 * Writes entries as journald would, to root/var/log/journal/<machine id>/<file> (a new file
 * each call; journalctl reads them all). `mono`: the first entry's monotonic time, so that the
 * entries of several files keep their order.
 */
export function writeJournal(root: string, entries: readonly JournalEntrySpec[], opts: { file?: string; mono?: number } = {}): void {
  const dir = path.join(root, 'var/log/journal/0123456789abcdef0123456789abcdef');
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const now = Date.now() * 1000;
  const text = entries.map((e, i) => [
    `__REALTIME_TIMESTAMP=${now - e.agoMs * 1000}`, `__MONOTONIC_TIMESTAMP=${(opts.mono ?? 1) + i}`, '_BOOT_ID=0123456789abcdef0123456789abcdef',
    `_SYSTEMD_UNIT=${e.unit}`, '_HOSTNAME=web-01', `SYSLOG_IDENTIFIER=${e.ident ?? e.unit.replace(/\.service$/, '')}`, `_PID=${e.pid}`, `MESSAGE=${e.message}`, '', '',
  ].join('\n')).join('');
  const r = spawnSync(JOURNAL_REMOTE, [`--output=${path.join(dir, opts.file ?? 'system.journal')}`, '-'], { input: text, encoding: 'utf8' });
  if (r.status !== 0 || r.error) throw new Error(`${JOURNAL_REMOTE} failed (${r.error?.message ?? `exit ${r.status}`}): ${r.stderr}`);
}
