import path from 'node:path';
import { z } from 'zod';
import { defineCheck, formatBytes, formatDuration, isValidRegex, round, size, targetDown, type FieldSpec, type Value } from '../types';
import { NotRegularError, readTail } from './content';
import { isGlob, lookup, NoAccessError } from './find';

const MIB = 1024 * 1024;
/** The most of a file `match` may be told to read. */
const MAX_MATCH_BYTES = 64 * MIB;

const schema = z.strictObject({
  path: z.string()
    .refine((p) => path.posix.isAbsolute(p), { message: 'expected an absolute path such as /var/backups/db.sql.gz' })
    .refine((p) => !p.split('/').includes('**'), { message: '** is not supported: use * within one name (/backups/*/db-*.sql.gz)' })
    .describe('Absolute path of the file, or a glob (* ? [a-z] within names, e.g. /backups/db-*.sql.gz) meaning the newest match by modification time.'),
  match: z.string().refine(isValidRegex, { message: 'not a valid regular expression' }).optional()
    .describe('Regular expression (multiline: ^ and $ match at line ends) searched for in the file\'s content, its last matchBytes; sets the value matched.'),
  matchBytes: size().refine((n) => n >= 1 && n <= MAX_MATCH_BYTES, { message: 'must be from 1 byte to 64MiB' }).default(MIB)
    .describe('How much of the end of the file match reads (default 1MiB, at most 64MiB); a smaller file is read whole.'),
  required: z.boolean().default(true)
    .describe('Whether a missing file (no glob match) is a failed target, critical whatever the thresholds (default true); false for lock files, whose absence is normal.'),
  followSymlinks: z.boolean().default(true)
    .describe('Whether a symbolic link stands for the file it points to (default true); false reports the link itself (a lock symlink that points nowhere by design).'),
});

type FileSpec = z.output<typeof schema>;

function fields(spec: FileSpec): Record<string, FieldSpec> {
  const f: Record<string, FieldSpec> = {
    exists: { type: 'boolean', help: 'Whether the file is there (with a glob: whether anything matches)' },
    count: { type: 'number', unit: 'count', help: 'Files the path names: 0 or 1, or the matches of a glob' },
    ageSeconds: { type: 'number', unit: 'seconds', help: 'Time since the file (the newest match) was last modified (mtime); absent when there is none' },
    sizeBytes: { type: 'number', unit: 'bytes', help: 'Size of the file (the newest match); absent for a directory or when there is none' },
  };
  if (spec.match !== undefined) f.matched = { type: 'boolean', help: 'Whether match was found in the last matchBytes of the file (the newest match)', reason: 'body' };
  return f;
}

/** Checks that a file exists, how old and large it is and, optionally, what it holds. */
export const fileCheck = defineCheck({
  type: 'file',
  category: 'health',
  summary: 'Checks a file (or the newest match of a glob): exists, ageSeconds (mtime), sizeBytes, count, and optionally whether its content matches a regular expression. Missing is critical.',
  schema,
  fields,
  defaults: (spec) => (spec.match !== undefined ? { crit: ['matched == false'] } : {}),
  validate(spec) {
    return spec.match !== undefined && !spec.followSymlinks
      ? [{ key: 'followSymlinks', message: 'match reads the file a link points to; it cannot be combined with followSymlinks: false' }]
      : [];
  },
  async run({ spec, signal, now }) {
    let found;
    try {
      found = await lookup(spec.path, spec.followSymlinks, signal);
    } catch (err) {
      if (err instanceof NoAccessError) throw new Error(`file check: ${err.message}`);
      throw err;
    }
    const { newest, count } = found;
    if (!newest) {
      const what = found.note ?? (isGlob(spec.path) ? `nothing matches ${spec.path}` : `no file at ${spec.path}`);
      const values = { exists: false, count: 0 };
      return spec.required ? targetDown('error', what, values) : { values, message: what };
    }

    const st = newest.stats;
    const ageMs = now() - st.mtimeMs;
    const values: Record<string, Value> = { exists: true, count, ageSeconds: round(ageMs / 1000, 3) };
    const isDir = st.isDirectory();
    if (!isDir) values.sizeBytes = st.size;
    const kind = isDir ? 'directory' : st.isSymbolicLink() ? 'symbolic link' : st.isFile() ? 'file' : 'special file';
    const name = isGlob(spec.path) ? `${newest.path} (newest of ${count} matching ${spec.path})` : newest.path;
    const age = ageMs >= 0 ? `modified ${formatDuration(Math.round(ageMs))} ago` : `modified ${formatDuration(Math.round(-ageMs))} in the future (clock skew?)`;
    const parts = [`${name}: ${kind}`, ...(isDir ? [] : [formatBytes(st.size, { iec: true })]), age];

    if (spec.match !== undefined) {
      if (isDir) return targetDown('error', `${name} is a directory: match needs a file`, values);
      let tail;
      try {
        tail = await readTail(newest.path, spec.matchBytes, signal);
      } catch (err) {
        if (err instanceof NoAccessError) throw new Error(`file check: ${err.message}`);
        if (err instanceof NotRegularError) return targetDown('error', err.message, values);
        throw err;
      }
      values.matched = new RegExp(spec.match, 'm').test(tail.text);
      const scope = tail.partial ? ` in its last ${formatBytes(spec.matchBytes, { iec: true })}` : '';
      parts.push(values.matched ? `/${spec.match}/ found${scope}` : `/${spec.match}/ not found${scope}`);
    }
    return { values, message: parts.join(', ') };
  },
});
