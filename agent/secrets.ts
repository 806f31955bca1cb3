/**
 * The secret values of the loaded config, and the scrubbing that keeps them out of every
 * log line and every text the agent stores or sends (timelines, snapshots, notification
 * payloads, remediation output): a token must not leak through an error message either.
 */
import { isSecretName } from '../checks/types';

const REDACTED = '[REDACTED]';

let secrets: string[] = [];

/** Sets the values to scrub; called whenever a config is loaded. */
export function setSecrets(values: Iterable<string>): void {
  // Longest first, so a secret that contains another is replaced whole. Very short values
  // would scrub ordinary words; JSON-escaped forms are added so secrets inside JSON match.
  secrets = [...new Set(values)]
    .filter((v) => v.length >= 4)
    .flatMap((v) => [v, JSON.stringify(v).slice(1, -1)])
    .sort((a, b) => b.length - a.length);
}

/** `text` with every known secret (and every value of `extra`) replaced by [REDACTED]. */
export function scrub(text: string, extra: readonly string[] = []): string {
  let out = text;
  const all = extra.length ? [...extra.filter((v) => v.length >= 4), ...secrets].sort((a, b) => b.length - a.length) : secrets;
  for (const s of all) if (out.includes(s)) out = out.split(s).join(REDACTED);
  return out;
}

/**
 * A command line's arguments fit to show: values of secret-looking flags hidden
 * (`--token=…`, `--password x`) and passwords in URLs (`//user:pw@`) replaced.
 */
export function redactArgs(args: readonly string[]): string[] {
  const out: string[] = [];
  let hideNext = false;
  for (const arg of args) {
    if (hideNext) {
      out.push(REDACTED);
      hideNext = false;
      continue;
    }
    const m = /^(--?[A-Za-z0-9_-]+)=/.exec(arg);
    if (m && isSecretName(m[1])) {
      out.push(`${m[1]}=${REDACTED}`);
      continue;
    }
    if (/^--?[A-Za-z]/.test(arg) && isSecretName(arg)) hideNext = true;
    out.push(arg.replace(/(\/\/[^/:@\s]+):[^/@\s]+@/g, `$1:${REDACTED}@`));
  }
  return out;
}
