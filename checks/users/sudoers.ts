import { readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FileReadError, readTextFile } from '../types';

/** Largest sudoers file read. */
export const SUDOERS_MAX_BYTES = 1024 * 1024;

/** sudo's own limit on nested includes. */
const MAX_DEPTH = 128;

/** A rule (or Defaults entry) that lets someone run commands as another user without a password. */
export interface NopasswdRule {
  /** Who: a user, `%group`, `#uid`, a User_Alias, or `*` for a global `Defaults !authenticate`. */
  principal: string;
  /** True when the rule covers every command (`NOPASSWD: ALL`, or `!authenticate`). */
  allCommands: boolean;
  /** `Defaults !authenticate` rather than a NOPASSWD tag. */
  viaDefaults: boolean;
  /** `file:line` where it is. */
  where: string;
}

/** What reading the sudoers policy found. */
export interface SudoersScan {
  rules: NopasswdRule[];
  /** Files read. */
  files: string[];
  /** Files that exist and could not be read, with why (`/etc/sudoers (EACCES)`). */
  unreadable: string[];
}

/**
 * Reads the sudoers policy from `file`, following `@include`/`#include` and
 * `@includedir`/`#includedir` as sudo does: a relative path is relative to the including
 * file's directory; a directory's files are read in lexical order, skipping names that end in
 * `~` or contain a dot, and anything not a regular file. Absolute paths are taken under `root` (a host filesystem mounted
 * elsewhere). A file that does not exist is skipped (sudo not installed, an empty includedir);
 * one that cannot be read is listed in `unreadable`; anything else (a directory where a file
 * should be) is thrown.
 */
export async function scanSudoers(file: string, root: string): Promise<SudoersScan> {
  const scan: SudoersScan = { rules: [], files: [], unreadable: [] };
  const seen = new Set<string>();
  const visit = async (p: string, depth: number, inDir = false): Promise<void> => {
    if (depth > MAX_DEPTH || seen.has(p)) return;
    seen.add(p);
    let text: string;
    try {
      text = await readTextFile(p, SUDOERS_MAX_BYTES);
    } catch (err) {
      if (!(err instanceof FileReadError)) throw err;
      // sudo reads only the regular files of an includedir: a subdirectory there is no error.
      if (err.code === 'ENOENT' || (inDir && err.code === 'ERR_NOT_REGULAR_FILE')) return;
      if (err.code === 'EACCES' || err.code === 'EPERM') {
        scan.unreadable.push(`${p} (${err.code})`);
        return;
      }
      throw new Error(`cannot read sudoers file ${p}: ${err.message}`, { cause: err });
    }
    scan.files.push(p);
    for (const item of parseSudoers(text, p)) {
      if ('rule' in item) {
        scan.rules.push(item.rule);
        continue;
      }
      const target = resolveInclude(item.path, p, root);
      if (!item.dir) {
        await visit(target, depth + 1);
        continue;
      }
      let names: string[];
      try {
        names = await readdir(target);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? '';
        if (code === 'ENOENT') continue;
        if (code === 'EACCES' || code === 'EPERM') {
          scan.unreadable.push(`${target} (${code})`);
          continue;
        }
        throw new Error(`cannot list sudoers directory ${target}: ${code || (err as Error).message}`, { cause: err });
      }
      for (const name of names.filter((n) => !n.endsWith('~') && !n.includes('.')).sort()) {
        await visit(path.join(target, name), depth + 1, true);
      }
    }
  };
  await visit(file, 0);
  return scan;
}

function resolveInclude(p: string, from: string, root: string): string {
  // %h is the short host name, as sudo expands it in include paths.
  const expanded = p.replaceAll('%h', os.hostname().split('.')[0]);
  return path.isAbsolute(expanded) ? path.join(root, expanded) : path.join(path.dirname(from), expanded);
}

type Item = { rule: NopasswdRule } | { path: string; dir: boolean };

/**
 * The NOPASSWD rules, `Defaults … !authenticate` entries and include directives of one
 * sudoers file, in order. Lines continue after a trailing backslash; `#` starts a comment
 * unless it begins `#include`/`#includedir` or a `#uid`.
 */
export function parseSudoers(text: string, file: string): Item[] {
  const out: Item[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    let line = lines[i];
    while (line.endsWith('\\') && i + 1 < lines.length) line = line.slice(0, -1) + ' ' + lines[++i];
    line = line.trim();
    const inc = /^[#@](include|includedir)\s+(?:"((?:[^"\\]|\\.)*)"|(\S+))\s*$/.exec(line);
    if (inc) {
      out.push({ path: (inc[2] ?? inc[3]).replace(/\\(.)/g, '$1'), dir: inc[1] === 'includedir' });
      continue;
    }
    line = line.replace(/(^|\s)#(?!\d).*$/, '').trim();
    if (!line || /^(User|Runas|Host|Cmnd|Cmd)_Alias\s/.test(line)) continue;
    const where = `${file}:${lineNo}`;
    const defaults = /^Defaults(?:([:@>!])\s*(\S+))?\s+(.*)$/.exec(line);
    if (defaults) {
      const params = defaults[3].split(',').map((s) => s.trim());
      if (params.includes('!authenticate')) {
        // Defaults:alice applies to a user, Defaults@host to a host, Defaults>root to a target
        // user, Defaults!cmd to a command: only the first narrows who skips the password.
        const principals = defaults[1] === ':' ? defaults[2].split(',').filter(Boolean) : ['*'];
        for (const principal of principals) out.push({ rule: { principal, allCommands: defaults[1] !== '!', viaDefaults: true, where } });
      }
      continue;
    }
    const tag = /\bNOPASSWD\s*:/.exec(line);
    const eq = line.indexOf('=');
    if (!tag || eq < 0) continue;
    const who = /^((?:[^\s,]+\s*,\s*)*[^\s,]+)\s+\S/.exec(line.slice(0, eq).trim());
    if (!who) continue;
    const allCommands = nopasswdCoversAll(line.slice(tag.index + tag[0].length));
    for (const principal of who[1].split(',').map((s) => s.trim()).filter(Boolean)) {
      out.push({ rule: { principal, allCommands, viaDefaults: false, where } });
    }
  }
  return out;
}

/**
 * Whether the commands after a NOPASSWD tag include ALL (up to a PASSWD tag, which turns
 * passwords back on for the commands after it). Other tags (SETENV:, NOEXEC:) are skipped.
 */
function nopasswdCoversAll(rest: string): boolean {
  const upTo = rest.split(/\bPASSWD\s*:/)[0];
  return upTo
    .replace(/\b[A-Z_]+\s*:/g, ' ')
    .split(',')
    .some((c) => c.trim() === 'ALL');
}
