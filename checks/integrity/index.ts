import path from 'node:path';
import { z } from 'zod';
import { defineCheck, findingFields, findingValues, formatBytes, size, type FieldSpec } from '../types';
import { compare, findingsOf, type Baseline } from './compare';
import { snapshot } from './snapshot';
import { walk, type Pattern } from './walk';

const HOUR = 3_600_000;
const MINUTE = 60_000;

/**
 * Watched unless `defaultPaths: false`: who may log in and become root, how sshd lets them in,
 * what runs as root on a timer, what the loader preloads, and the binaries that grant root.
 * The optional ones (marked) are watched only where the agent's user can read them.
 */
export const DEFAULT_PATHS: readonly Pattern[] = [
  { glob: '/etc/passwd' },
  { glob: '/etc/group' },
  { glob: '/etc/shadow', optional: true },
  { glob: '/etc/gshadow', optional: true },
  { glob: '/etc/sudoers' },
  { glob: '/etc/sudoers.d/*' },
  { glob: '/etc/ssh/sshd_config' },
  { glob: '/etc/ssh/sshd_config.d/*' },
  { glob: '/etc/pam.d/*' },
  { glob: '/etc/security/access.conf' },
  { glob: '/etc/crontab' },
  { glob: '/etc/cron.d/*' },
  { glob: '/etc/ld.so.preload' },
  { glob: '/etc/ld.so.conf' },
  { glob: '/etc/ld.so.conf.d/*' },
  { glob: '/root/.ssh/authorized_keys', optional: true },
  { glob: '/usr/bin/sudo' },
  { glob: '/usr/bin/su' },
  { glob: '/usr/bin/passwd' },
  { glob: '/usr/sbin/sshd' },
];

/** The most files one baseline may hold: its row in the store stays under ~20 MB. */
export const MAX_FILES = 100_000;

/** The key the baseline is kept under in the check's state. */
const KEY = 'baseline';

const absolute = z
  .string()
  .min(1)
  .refine((p) => path.posix.isAbsolute(p), { message: 'expected an absolute path or glob such as /etc/sudoers.d/*' });

const schema = z
  .strictObject({
    paths: z
      .array(absolute)
      .default([])
      .describe('Files and globs to watch besides the built-in list: * ? [a-z] within a name, ** for any depth; a path naming a directory watches the files directly in it. E.g. the agent\'s own config.'),
    defaultPaths: z.boolean().default(true).describe('Also watch the built-in list (/etc/passwd, /etc/sudoers, sshd_config, sudo, ...; see the README).'),
    exclude: z.array(absolute).default([]).describe('Globs of files not to watch, e.g. /etc/cron.d/.placeholder.'),
    root: absolute.default('/').describe('Prefix of every path read, for a container that sees the host at /host (and for tests); paths are reported without it.'),
    maxFiles: z
      .number()
      .int()
      .min(1)
      .max(MAX_FILES)
      .default(10_000)
      .describe(`Most files to watch (at most ${MAX_FILES}); more is an unknown run that says so, never a silent cut.`),
    maxBytes: size().default(1024 ** 3).describe('Most bytes hashed in one run (default 1GiB); more is an unknown run that says so.'),
  })
  .refine((s) => s.defaultPaths || s.paths.length > 0, { message: 'nothing to watch: give paths, or leave defaultPaths on', path: ['paths'] });

type IntegritySpec = z.output<typeof schema>;

const fields: Record<string, FieldSpec> = {
  files: { type: 'number', unit: 'count', help: 'Files watched in this run' },
  changed: { type: 'number', unit: 'count', help: 'Files whose content, type, link target, mode, owner or size differ from the baseline' },
  added: { type: 'number', unit: 'count', help: 'Files the paths match that the baseline does not have' },
  removed: { type: 'number', unit: 'count', help: 'Files of the baseline that are gone' },
  unreadable: { type: 'number', unit: 'count', help: 'Files and directories the agent could not read (metadata only, or nothing)' },
  ...findingFields({
    high: 'Findings of severity high (changed, removed)',
    medium: 'Findings of severity medium (added)',
    low: 'Findings of severity low (unreadable)',
  }),
  hashedBytes: { type: 'number', unit: 'bytes', help: 'Bytes read to hash in this run' },
  baselineAgeDays: { type: 'number', unit: 'days', help: 'Days since the baseline was recorded (0 on the run that records it)' },
};

/** Compares files with a SHA-256 baseline of them kept in the agent's store: changed, added, removed. */
export const integrityCheck = defineCheck({
  type: 'integrity',
  category: 'security',
  schedule: { every: HOUR, timeout: 2 * MINUTE }, // hashing every watched file
  summary: 'Keeps a SHA-256 baseline of files (passwd, sudoers, sshd_config, sudo, your paths) and reports files changed, added or removed since.',
  schema,
  fields,
  // A changed or removed file is what a file integrity check exists to catch; a new file in a
  // watched directory and a file the agent cannot read deserve a look, not a page.
  defaults: { warn: ['added > 0', 'unreadable > 0'], crit: ['changed > 0', 'removed > 0'] },
  baseline: true,
  async run({ name, spec, signal, state, now }) {
    const patterns = effectivePatterns(spec);
    const scope = { patterns: patterns.map((p) => p.glob), exclude: spec.exclude };
    const found = await walk(patterns, spec.exclude, { root: spec.root, maxFiles: spec.maxFiles, signal });
    const snap = await snapshot(found.paths, { root: spec.root, maxBytes: spec.maxBytes, signal });
    const blind = [...found.blind, ...snap.unstatable];
    const base = asBaseline(await state.get(KEY), name);
    const at = now();

    if (!base) {
      const fresh: Baseline = { version: 1, takenAt: at, ...scope, files: Object.fromEntries(snap.files) };
      await state.set(KEY, fresh);
      const diff = compare(fresh, snap.files, blind, scope);
      const findings = findingsOf({ ...diff, changed: [], added: [], removed: [] }, name, snap.files);
      const unread = diff.unreadable.length ? `, ${diff.unreadable.length} unreadable` : '';
      const kept = state.persistent ? '' : ' (not kept: this run has no store, so the next one records a new baseline; the agent keeps it under agent.dataDir)';
      return {
        values: values(snap.files.size, { changed: 0, added: 0, removed: 0, unreadable: diff.unreadable.length }, findings, snap.bytes, 0),
        message: `baseline recorded: ${snap.files.size} files${unread}${kept}`,
        findings,
      };
    }

    const diff = compare(base, snap.files, blind, scope);
    if (diff.rescoped) await state.set(KEY, diff.rescoped);
    const findings = findingsOf(diff, name, snap.files);
    const counts = { changed: diff.changed.length, added: diff.added.length, removed: diff.removed.length, unreadable: diff.unreadable.length };
    const ageDays = Math.max(0, Math.round(((at - base.takenAt) / 86_400_000) * 100) / 100);
    return {
      values: values(snap.files.size, counts, findings, snap.bytes, ageDays),
      message: summary(snap.files.size, counts, diff, base.takenAt, snap.bytes),
      findings,
    };
  },
});

function effectivePatterns(spec: IntegritySpec): Pattern[] {
  const own = spec.paths.map((glob) => ({ glob }));
  return spec.defaultPaths ? [...DEFAULT_PATHS, ...own.filter((p) => !DEFAULT_PATHS.some((d) => d.glob === p.glob))] : own;
}

/** The kept baseline, or undefined for none; one in a form this keepwatch does not know is an error. */
function asBaseline(value: unknown, check: string): Baseline | undefined {
  if (value === undefined) return undefined;
  const b = value as Partial<Baseline>;
  if (b?.version !== 1 || typeof b.files !== 'object' || !Array.isArray(b.patterns) || !Array.isArray(b.exclude) || typeof b.takenAt !== 'number') {
    throw new Error(`the baseline kept for ${check} is not one this keepwatch reads; record a new one: keepwatch baseline accept ${check} --by NAME --reason TEXT`);
  }
  return b as Baseline;
}

function values(files: number, counts: Record<'changed' | 'added' | 'removed' | 'unreadable', number>, findings: ReturnType<typeof findingsOf>, bytes: number, ageDays: number) {
  return { files, ...counts, ...findingValues(findings), hashedBytes: bytes, baselineAgeDays: ageDays };
}

function summary(files: number, counts: Record<string, number>, diff: ReturnType<typeof compare>, takenAt: number, bytes: number): string {
  const since = `baseline of ${new Date(takenAt).toISOString()}`;
  const parts = Object.entries(counts).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`);
  const first = diff.changed[0]?.path ?? diff.removed[0] ?? diff.added[0];
  if (!parts.length) return `${files} files match the ${since} (${formatBytes(bytes)} hashed)`;
  return `${files} files: ${parts.join(', ')}${first ? ` (${first}${counts.changed + counts.added + counts.removed > 1 ? ', …' : ''})` : ''} since the ${since}`;
}
