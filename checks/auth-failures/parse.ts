/** What kind of login a failure was: over SSH, a sudo password, or any other PAM service (login, su, ftp, mail). */
export type FailureKind = 'ssh' | 'sudo' | 'pam';

/** One or more failed logins read from one log line. */
export interface AuthFailure {
  /** When, in milliseconds since the epoch. */
  at: number;
  kind: FailureKind;
  /** How many attempts the line stands for (`3 incorrect password attempts`, `message repeated 4 times`). */
  count: number;
  /** The remote address (or host name PAM was given); absent for local logins and sudo. */
  source?: string;
  /** The account tried (for sudo: who ran it). */
  user?: string;
  /** The account does not exist (sshd's `invalid user`). */
  invalidUser?: boolean;
}

/** A log line split into its parts. */
export interface LogLine {
  at: number;
  program: string;
  pid?: string;
  message: string;
}

const MONTHS: Record<string, number> = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 };

// `Mar  5 14:02:11` (BSD syslog: no year, local time) or an ISO 8601 stamp: rsyslog's
// `2024-03-05T14:02:11.123456+01:00` (Debian 12's default) and journalctl's short-iso
// `2024-03-05T14:02:11+0100`. Then the host, `program[pid]: ` and the message.
const SYSLOG_RE = /^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) \S+ (.*)$/;
const ISO_RE = /^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?)(Z|[+-]\d{2}:?\d{2})? \S+ (.*)$/;
const TAG_RE = /^([^\s[:]+)(?:\[(\d+)\])?: ?(.*)$/;

/**
 * The time of a syslog stamp, which has no year: the most recent such moment not more than a
 * day ahead of `now` (a line from Dec 31 read on Jan 1 is last year's). Local time, as the
 * syslog daemon wrote it.
 */
export function syslogTime(month: number, day: number, h: number, m: number, s: number, now: number): number {
  const year = new Date(now).getFullYear();
  const t = new Date(year, month, day, h, m, s).getTime();
  return t > now + 86_400_000 ? new Date(year - 1, month, day, h, m, s).getTime() : t;
}

/** Splits a syslog, rsyslog (ISO) or journalctl short-iso line; undefined for anything else. */
export function parseLine(line: string, now: number): LogLine | undefined {
  let at: number;
  let rest: string;
  const sys = SYSLOG_RE.exec(line);
  if (sys) {
    const month = MONTHS[sys[1]];
    if (month === undefined) return undefined;
    at = syslogTime(month, Number(sys[2]), Number(sys[3]), Number(sys[4]), Number(sys[5]), now);
    rest = sys[6];
  } else {
    const iso = ISO_RE.exec(line);
    if (!iso) return undefined;
    // No zone: local time, as Date.parse reads it. `+0100` → `+01:00`, which Date.parse reads everywhere.
    const zone = iso[2] === undefined ? '' : iso[2].length === 5 ? `${iso[2].slice(0, 3)}:${iso[2].slice(3)}` : iso[2];
    at = Date.parse(iso[1].replace(' ', 'T') + zone);
    rest = iso[3];
  }
  if (!Number.isFinite(at)) return undefined;
  const tag = TAG_RE.exec(rest);
  if (!tag) return undefined;
  return { at, program: tag[1], pid: tag[2], message: tag[3] };
}

/** The time a line carries, if it is a log line at all (for finding where a window starts). */
export function lineTime(line: string, now: number): number | undefined {
  return parseLine(line, now)?.at;
}

// sshd: OpenSSH 9.8+ splits off sshd-session (and sshd-auth); older ones log as sshd.
const SSHD = /^sshd(?:-session|-auth)?$/;
const SSH_FAILED = /^Failed (\S+) for (invalid user )?(.*?) from (\S+)(?: port \d+)?/;
const SSH_INVALID = /^Invalid user (.*?) from (\S+)(?: port \d+)?/;
const SUDO_FAILED = /^\s*(.+?) : (\d+) incorrect password attempts?\b/;
const PAM_FAILURE = /^pam_[\w-]+\(([^:)]+):auth\): authentication failure;(.*)$/;
const PAM_MORE = /^PAM (\d+) more authentication failures?;(.*)$/;
const REPEATED = /^message repeated (\d+) times: \[ ?(.*)\]$/;

/** PAM's `key=value` fields (`logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9  user=root`). */
function pamFields(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/(\w+)=(\S*)/g)) out[m[1]] = m[2];
  return out;
}

/**
 * Reads failed logins out of log lines in order, counting each attempt once. Programs log one
 * attempt several times, so some lines are left out on purpose:
 * - sshd logs `Invalid user X from IP` when a connection names an unknown account, and then
 *   `Failed password for invalid user X from IP` for each password tried. The first such
 *   `Failed` of the same sshd process is the attempt `Invalid user` already counted; a
 *   connection that never tries a password (key-only servers) still counts once.
 * - PAM's `authentication failure` from sshd repeats sshd's own `Failed` line, and from sudo
 *   the `N incorrect password attempts` line sudo writes when it gives up: both are skipped.
 *   From every other service (login, su, vsftpd, dovecot, …) the PAM line is the failure.
 * - rsyslog's `message repeated N times: [ … ]` counts as N of what it repeats.
 * The reader is kept between runs, so an `Invalid user` read in one run pairs with its
 * `Failed` read in the next.
 */
export class FailureReader {
  /** sshd processes that logged `Invalid user` and no `Failed` yet: key → when. */
  private readonly pendingInvalid = new Map<string, number>();

  /** A reader that continues from where this one is, leaving this one as it is. */
  clone(): FailureReader {
    const copy = new FailureReader();
    for (const [k, at] of this.pendingInvalid) copy.pendingInvalid.set(k, at);
    return copy;
  }

  /** The failures one line stands for, if any. */
  read(line: string, now: number): AuthFailure | undefined {
    const l = parseLine(line, now);
    return l ? this.classify(l, l.message, 1) : undefined;
  }

  /** Forgets `Invalid user` lines older than `before` (their connection is long over). */
  prune(before: number): void {
    for (const [k, at] of this.pendingInvalid) if (at < before) this.pendingInvalid.delete(k);
  }

  private classify(l: LogLine, message: string, times: number): AuthFailure | undefined {
    const rep = REPEATED.exec(message);
    if (rep) return this.classify(l, rep[2], times * Number(rep[1]));
    const at = l.at;
    if (SSHD.test(l.program)) {
      const failed = SSH_FAILED.exec(message);
      if (failed) {
        const invalidUser = failed[2] !== undefined;
        let count = times;
        if (invalidUser) {
          const key = `${l.program}[${l.pid ?? ''}] ${failed[4]} ${failed[3]}`;
          if (this.pendingInvalid.delete(key)) count--;
        }
        return count > 0 ? { at, kind: 'ssh', count, source: failed[4], user: failed[3], ...(invalidUser ? { invalidUser } : {}) } : undefined;
      }
      const invalid = SSH_INVALID.exec(message);
      if (invalid) {
        this.pendingInvalid.set(`${l.program}[${l.pid ?? ''}] ${invalid[2]} ${invalid[1]}`, at);
        return { at, kind: 'ssh', count: times, source: invalid[2], user: invalid[1], invalidUser: true };
      }
      return undefined; // sshd's PAM lines repeat its own
    }
    if (l.program === 'sudo') {
      const sudo = SUDO_FAILED.exec(message);
      return sudo ? { at, kind: 'sudo', count: times * Number(sudo[2]), user: sudo[1].trim() } : undefined;
    }
    const pam = PAM_FAILURE.exec(message);
    const more = pam ? undefined : PAM_MORE.exec(message);
    if (!pam && !more) return undefined;
    const service = pam ? pam[1] : l.program;
    if (SSHD.test(service) || service === 'sudo') return undefined;
    const f = pamFields(pam ? pam[2] : more![2]);
    const user = f.user || f.ruser || undefined;
    return {
      at,
      kind: 'pam',
      count: times * (more ? Number(more[1]) : 1),
      ...(f.rhost ? { source: f.rhost } : {}),
      ...(user ? { user } : {}),
    };
  }
}
