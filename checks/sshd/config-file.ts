import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { FileReadError, globNameSource, readTextFile } from '../types';

/** Largest sshd_config (or included file) read; real ones are a few KiB. */
export const CONFIG_MAX_BYTES = 1024 * 1024;

/** sshd's own limit on nested Include (SERVCONF_MAX_DEPTH). */
const MAX_DEPTH = 16;

/** Where relative Include paths point, as sshd resolves them (its SSHDIR). */
const SSHDIR = '/etc/ssh';

/** One keyword's value as sshd would first obtain it, and where it was written. */
export interface Setting {
  args: string[];
  file: string;
  line: number;
}

/** A `Match` block: reported, never evaluated (which connections it applies to is unknowable here). */
export interface MatchBlock {
  criteria: string;
  file: string;
  line: number;
  /** Keywords the block sets, lower-cased, in order. */
  keywords: string[];
}

/** What reading sshd_config and its includes yields. */
export interface ParsedConfig {
  /** Global settings by lower-cased keyword: the first value obtained wins (sshd_config(5)). */
  settings: Map<string, Setting>;
  matchBlocks: MatchBlock[];
  /** Every file read, as the host names it (without the root prefix), in reading order. */
  files: string[];
}

/** Thrown when a file sshd would read cannot be read: the check cannot know the effective config. */
export class ConfigReadError extends Error {
  constructor(readonly file: string, why: string, options: { cause?: unknown } = {}) {
    super(`${file}: ${why}`, options);
    this.name = 'ConfigReadError';
  }
}

/**
 * Reads an sshd_config the way sshd does, without evaluating Match: keywords are
 * case-insensitive, the first value obtained wins, `Include` expands its globs in lexical
 * order at the point where it is written (Debian's `Include /etc/ssh/sshd_config.d/*.conf`
 * at the top therefore overrides the main file). Lines inside a Match block, or in a file
 * included from one, never set a global value; the blocks are returned instead.
 * `root` prefixes every path read (a host filesystem mounted in a container).
 */
export async function parseSshdConfig(configFile: string, root = '/'): Promise<ParsedConfig> {
  const out: ParsedConfig = { settings: new Map(), matchBlocks: [], files: [] };
  await parseFile(configFile, root, out, undefined, 0);
  return out;
}

async function parseFile(file: string, root: string, out: ParsedConfig, inMatch: MatchBlock | undefined, depth: number): Promise<void> {
  if (depth > MAX_DEPTH) throw new ConfigReadError(file, `more than ${MAX_DEPTH} nested Include levels`);
  let text: string;
  try {
    text = await readTextFile(underRoot(root, file), CONFIG_MAX_BYTES);
  } catch (err) {
    const code = (err as FileReadError).code;
    const why = code === 'EACCES' || code === 'EPERM' ? 'permission denied (read access is needed)' : (err as Error).message;
    throw new ConfigReadError(file, why, { cause: err });
  }
  out.files.push(file);
  // A Match block started in an included file ends with that file (sshd restores the
  // includer's Match state after an Include).
  let match = inMatch;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const parsed = parseLine(lines[i]);
    if (!parsed) continue;
    const { keyword, args } = parsed;
    if (keyword === 'match') {
      match = { criteria: args.join(' '), file, line: i + 1, keywords: [] };
      out.matchBlocks.push(match);
      continue;
    }
    if (keyword === 'include') {
      for (const pattern of args) {
        const abs = pattern.startsWith('/') ? pattern : `${SSHDIR}/${pattern}`;
        for (const included of await expandGlob(abs, root)) await parseFile(included, root, out, match, depth + 1);
      }
      continue;
    }
    if (match) {
      match.keywords.push(keyword);
      continue;
    }
    if (!out.settings.has(keyword)) out.settings.set(keyword, { args, file, line: i + 1 });
  }
}

/**
 * Splits one config line as sshd does: the keyword ends at whitespace or a single `=`;
 * arguments are whitespace-separated, may be quoted, and a `#` starting an argument
 * begins a comment.
 */
export function parseLine(raw: string): { keyword: string; args: string[] } | undefined {
  const line = raw.replace(/[\s\f]+$/, '').replace(/^\s+/, '');
  if (!line || line.startsWith('#')) return undefined;
  const m = /^([^\s=]+)\s*(?:=\s*)?(.*)$/.exec(line);
  if (!m) return undefined;
  return { keyword: m[1].toLowerCase(), args: splitArgs(m[2]) };
}

function splitArgs(s: string): string[] {
  const args: string[] = [];
  let i = 0;
  while (i < s.length) {
    while (i < s.length && /\s/.test(s[i])) i++;
    if (i >= s.length || s[i] === '#') break;
    let arg = '';
    let quote: string | undefined;
    for (; i < s.length; i++) {
      const c = s[i];
      if (quote) {
        if (c === quote) quote = undefined;
        else if (c === '\\' && i + 1 < s.length && (s[i + 1] === quote || s[i + 1] === '\\')) arg += s[++i];
        else arg += c;
      } else if (c === '"' || c === "'") {
        quote = c;
      } else if (/\s/.test(c)) {
        break;
      } else if (c === '\\' && i + 1 < s.length) {
        arg += s[++i];
      } else {
        arg += c;
      }
    }
    args.push(arg);
  }
  return args;
}

/** The path on this machine for a path on the host whose root is mounted at `root`. */
export function underRoot(root: string, p: string): string {
  return root === '/' ? p : path.join(root, p);
}

/**
 * Expands an absolute glob (`*`, `?`, `[...]`) as glob(3) does for sshd's Include: matches
 * sorted in byte order, wildcards never match a leading dot, no match yields nothing.
 * Returned paths are host paths (without `root`).
 */
export async function expandGlob(pattern: string, root = '/'): Promise<string[]> {
  const segments = pattern.split('/').filter((s) => s !== '');
  let found = ['/'];
  for (const seg of segments) {
    const next: string[] = [];
    for (const dir of found) {
      if (!/[*?[]/.test(seg)) {
        next.push(path.posix.join(dir, seg));
        continue;
      }
      let names: string[];
      try {
        names = await readdir(underRoot(root, dir));
      } catch {
        continue; // a directory that is missing or unreadable matches nothing, as for glob(3)
      }
      const re = globSegment(seg);
      for (const n of names) if (re.test(n)) next.push(path.posix.join(dir, n));
    }
    found = next;
  }
  const existing: string[] = [];
  for (const f of found) {
    // Without wildcards glob(3) still requires the path to exist.
    if (await lstat(underRoot(root, f)).then(() => true, () => false)) existing.push(f);
  }
  return existing.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function globSegment(seg: string): RegExp {
  const re = globNameSource(seg);
  // glob(3): a leading dot must be matched explicitly.
  return new RegExp(seg.startsWith('.') ? `^${re}$` : `^(?!\\.)${re}$`);
}
