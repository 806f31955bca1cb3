import fs from 'node:fs';

/*
 * The host's time zone, read from the system ($TZ, /etc/localtime) once per process. The
 * config loader hands it to the timeframe and maintenance compilers, which stay pure.
 */

let hostZone: string | undefined;

/** Whether the system's tz database has this zone (a cheap check that needs no Intl). */
function zoneFile(name: string): boolean {
  return !name.includes('..') && fs.existsSync(`/usr/share/zoneinfo/${name}`);
}

/**
 * The host's IANA time zone (UTC when it cannot be told). $TZ or the /etc/localtime link
 * answer without Intl: merely starting Intl's time zone support maps some 6 MB of ICU data,
 * which an agent that never evaluates a timeframe should not pay for.
 */
export function hostTimeZone(): string {
  if (hostZone) return hostZone;
  // A POSIX TZ such as CET-1CEST is not an IANA name: it falls through to Intl, which reads it.
  const fromEnv = process.env.TZ?.replace(/^:/, '');
  if (fromEnv && /^[A-Za-z_]+(\/[A-Za-z0-9_+-]+)*$/.test(fromEnv) && zoneFile(fromEnv)) return (hostZone = fromEnv);
  try {
    const link = fs.readlinkSync('/etc/localtime');
    const m = /zoneinfo\/(.+)$/.exec(link);
    if (m && zoneFile(m[1])) return (hostZone = m[1]);
  } catch {
    // No link (not Linux, or a copied file): ask Intl.
  }
  return (hostZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC');
}

