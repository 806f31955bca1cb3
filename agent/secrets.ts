/**
 * The secret values of the loaded config, and the scrubbing that keeps them out of every
 * log line and every text the agent stores or sends (timelines, snapshots, notification
 * payloads, remediation output): a token must not leak through an error message either.
 */
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

/** `text` with every known secret replaced by [REDACTED]. */
export function scrub(text: string): string {
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
  return out;
}
