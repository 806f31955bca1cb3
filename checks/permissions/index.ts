import type { Stats } from 'node:fs';
import { lstat, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { defineCheck, duration, findingFields, findingValues, formatDuration, readTextFile, type FieldSpec, type Finding } from '../types';
import {
  allowMatcher, BUILTIN_SENSITIVE, BUILTIN_SETUID_ALLOW, globToRegExp, judgeSensitive, namesFrom, setuidFinding, stickyFinding,
  worldWritableFinding, type Names, type SensitiveRule,
} from './rules';
import { onHost, walk, type WalkResult } from './walk';

const HOUR = 3_600_000;
const MINUTE = 60_000;

const absolute = z.string().refine((p) => path.isAbsolute(p), { message: 'expected an absolute path such as /etc' });
const names = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).transform((v) => (Array.isArray(v) ? v : [v]));
// YAML reads 0600 as the decimal number 600: a number is taken as its octal digits.
const octalMode = z
  .union([z.string(), z.number().int().nonnegative()])
  .transform((v) => String(v))
  .refine((v) => /^0?[0-7]{3,4}$/.test(v), { message: 'expected an octal mode such as "0600" or "0640"' })
  .transform((v) => Number.parseInt(v, 8));

const schema = z.strictObject({
  paths: z
    .array(absolute)
    .min(1)
    .default(['/etc', '/usr', '/opt', '/var/spool/cron'])
    .describe('Trees to walk for world-writable files and unexpected setuid/setgid programs (each on its own filesystem).'),
  exclude: z.array(absolute).default([]).describe('Trees not to walk (e.g. /usr/share/doc); /proc, /sys, /dev and /run are never walked.'),
  stickyDirs: z
    .array(absolute)
    .default(['/tmp', '/var/tmp', '/dev/shm'])
    .describe('Shared directories that, when world-writable, must have the sticky bit (Lynis FILE-6362).'),
  setuidAllow: z
    .array(z.string().min(1))
    .default([])
    .describe('Setuid/setgid programs expected besides the built-in Debian list: absolute paths or globs (* within a directory, ** across), or bare file names matched anywhere.'),
  setuidBuiltin: z.boolean().default(true).describe('Also allow the built-in list of setuid/setgid programs Debian and Ubuntu ship.'),
  sensitive: z
    .array(
      z.strictObject({
        path: absolute.describe('The file; a * or ? in its last part matches several.'),
        mode: octalMode.prefault('0600').describe('Most permissive mode accepted (e.g. "0600"; quote it in YAML).'),
        owner: names.optional().describe('User(s) that may own it; any when unset.'),
        group: names.optional().describe('Group(s) it may belong to; any when unset.'),
        secret: z.boolean().default(true).describe('Holds secrets: others reading it is high, not medium.'),
      }),
    )
    .default([])
    .describe("Files to guard besides the built-in ones: the agent's own config file, `${file:}` secret files, TLS private keys."),
  sensitiveBuiltin: z.boolean().default(true).describe('Also guard /etc/passwd, group, shadow, gshadow (and their - backups), sudoers and the ssh host keys.'),
  root: absolute.default('/').describe('Where the host filesystem is mounted (a container with the host / at /host); every path is read under it.'),
  oneFilesystem: z.boolean().default(true).describe('Stay on the filesystem each path is on, as find -xdev.'),
  maxFiles: z.number().int().min(1).default(1_000_000).describe('Stop the walk after this many files (complete is then false).'),
  maxDuration: duration({ min: 1 })
    .optional()
    .describe('Stop the walk after this long (default 80% of the run\'s timeout); must be shorter than the timeout.'),
});

type PermissionsSpec = z.output<typeof schema>;

const fields: Record<string, FieldSpec> = {
  ...findingFields({
    critical: 'Critical findings (a sensitive file others can write)',
    high: 'High findings (world-writable, unexpected setuid root, a secret others can read)',
    info: 'Info findings (partial coverage: the walk stopped at its budget, or directories it could not read)',
  }),
  worldWritable: { type: 'number', unit: 'count', help: 'World-writable files, and directories without the sticky bit (stickyDirs included)' },
  setuidUnexpected: { type: 'number', unit: 'count', help: 'Setuid or setgid programs not in the allow-list' },
  sensitiveExposed: { type: 'number', unit: 'count', help: 'Sensitive files with a wrong mode, owner or group' },
  filesScanned: { type: 'number', unit: 'count', help: 'Files and directories examined by the walk' },
  dirsSkipped: { type: 'number', unit: 'count', help: 'Directories that could not be read (permission denied): the walk did not see inside them' },
  complete: { type: 'boolean', help: 'False when the file or time budget stopped the walk early' },
};

/** Audits file permissions: world-writable files, unexpected setuid programs, sensitive files too open (CIS 6.1). */
export const permissionsCheck = defineCheck({
  type: 'permissions',
  category: 'security',
  schedule: { every: 6 * HOUR, timeout: 2 * MINUTE }, // a filesystem walk
  summary: 'Walks system trees for world-writable files and unexpected setuid/setgid programs, and checks the mode and owner of sensitive files.',
  schema,
  fields,
  defaults: { warn: ['high > 0'], crit: ['critical > 0'] },
  validate(spec, limits) {
    return spec.maxDuration !== undefined && spec.maxDuration >= limits.timeoutMs
      ? [{ key: 'maxDuration', message: `maxDuration (${formatDuration(spec.maxDuration)}) must be shorter than the timeout (${formatDuration(limits.timeoutMs)})` }]
      : [];
  },
  async run({ spec, signal, timeoutMs, now }) {
    const names = await readNames(spec.root);
    const findings: Finding[] = [];

    const stickyFlagged = new Set<string>();
    for (const dir of spec.stickyDirs) {
      const st = await lstat(onHost(spec.root, dir)).catch(() => undefined);
      if (st?.isDirectory() && st.mode & 0o002 && !(st.mode & 0o1000)) {
        findings.push(stickyFinding(dir, st.mode));
        stickyFlagged.add(dir);
      }
    }

    let sensitiveExposed = 0;
    for (const rule of sensitiveRules(spec)) {
      for (const file of await expandLastSegment(spec.root, rule.path)) {
        const st = await statSensitive(spec.root, file);
        const f = st && judgeSensitive(file, st, rule, names);
        if (f) { findings.push(f); sensitiveExposed++; }
      }
    }

    const allowed = allowMatcher([...(spec.setuidBuiltin ? BUILTIN_SETUID_ALLOW : []), ...spec.setuidAllow]);
    let worldWritable = stickyFlagged.size;
    let setuidUnexpected = 0;
    const started = now();
    const walked = await walk(spec.paths, (p, st) => {
      const dir = st.isDirectory();
      if ((dir || st.isFile()) && st.mode & 0o002 && !(dir && st.mode & 0o1000) && !stickyFlagged.has(p)) {
        findings.push(worldWritableFinding(p, st));
        worldWritable++;
      }
      if (st.isFile() && st.mode & 0o6000 && !allowed(p)) {
        findings.push(setuidFinding(p, st, names));
        setuidUnexpected++;
      }
    }, {
      root: spec.root, exclude: spec.exclude, oneFilesystem: spec.oneFilesystem, maxFiles: spec.maxFiles,
      deadline: started + (spec.maxDuration ?? timeoutMs * 0.8), now, signal,
    });
    if (walked.filesScanned === 0 && walked.dirsSkipped > 0) {
      throw new Error(`permissions check: none of ${spec.paths.join(', ')} could be read (permission denied): read and search access is needed`);
    }
    if (walked.cut || walked.dirsSkipped > 0) findings.push(coverageFinding(walked));

    const values = {
      ...findingValues(findings),
      worldWritable, setuidUnexpected, sensitiveExposed,
      filesScanned: walked.filesScanned, dirsSkipped: walked.dirsSkipped, complete: walked.cut === undefined,
    };
    let message = `${walked.filesScanned} files in ${spec.paths.join(' ')}: ${worldWritable} world-writable, ${setuidUnexpected} unexpected setuid/setgid, ${sensitiveExposed} sensitive files exposed`;
    if (walked.cut) message += ` (stopped at the ${walked.cut === 'files' ? `${spec.maxFiles}-file` : 'time'} budget: partial)`;
    if (walked.dirsSkipped) message += ` (${walked.dirsSkipped} directories unreadable)`;
    return { values, message, findings };
  },
});

function sensitiveRules(spec: PermissionsSpec): SensitiveRule[] {
  return [
    ...(spec.sensitiveBuiltin ? BUILTIN_SENSITIVE : []),
    ...spec.sensitive.map((s) => ({ path: s.path, maxMode: s.mode, owner: s.owner, group: s.group, secret: s.secret })),
  ];
}

/** Users and groups by id from the host's files; ids stay numbers where they cannot be read. */
async function readNames(root: string): Promise<Names> {
  const read = (p: string) => readTextFile(onHost(root, p), 16 * 1024 * 1024).catch(() => '');
  return namesFrom(await read('/etc/passwd'), await read('/etc/group'));
}

/** A sensitive path with a glob in its last part (`ssh_host_*_key`) expanded; a literal one as is. */
async function expandLastSegment(root: string, hostPath: string): Promise<string[]> {
  const dir = path.posix.dirname(hostPath);
  const base = path.posix.basename(hostPath);
  if (!/[*?[]/.test(base)) return [hostPath];
  let entries: string[];
  try {
    entries = await readdir(onHost(root, dir));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw new Error(`permissions check: cannot list ${dir} to find ${base}: ${code ?? (err as Error).message} (read access to the directory is needed)`, { cause: err });
  }
  const re = globToRegExp(base);
  return entries.filter((n) => re.test(n)).sort().map((n) => `${dir}/${n}`);
}

/**
 * The file's status (following a symlink: what matters is the file read), undefined when
 * it does not exist; not being allowed to look is unknown, never a silent pass.
 */
async function statSensitive(root: string, hostPath: string): Promise<Stats | undefined> {
  try {
    return await stat(onHost(root, hostPath));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new Error(`permissions check: cannot stat ${hostPath}: ${code ?? (err as Error).message} (search access to ${path.posix.dirname(hostPath)} is needed)`, { cause: err });
  }
}

function coverageFinding(walked: WalkResult): Finding {
  const { cut, filesScanned, dirsSkipped, skippedSample } = walked;
  const more = dirsSkipped > skippedSample.length ? ', …' : '';
  const parts = [
    cut ? `the walk stopped at its ${cut === 'files' ? 'file' : 'time'} budget after ${filesScanned} files` : '',
    dirsSkipped ? `${dirsSkipped} directories could not be read (${skippedSample.join(', ')}${more})` : '',
  ].filter(Boolean);
  return {
    id: 'permissions.coverage',
    severity: 'info',
    title: `Partial coverage: ${parts.join('; ')}`,
    subject: skippedSample[0],
    fix: cut
      ? 'Raise timeout (and maxDuration) or maxFiles, or narrow paths and exclude large trees.'
      : 'Give the agent read access to those directories (or run it as root, or with CAP_DAC_READ_SEARCH) for full coverage.',
  };
}
