/**
 * Entries of `journalctl -o verbose --output-fields=…`, line by line: a header per entry
 * (`Tue 2026-12-01 08:12:39.997223 UTC [s=…;i=1;b=…;m=1;t=6618e17094327;x=…]`), then its
 * fields indented by four spaces (`    MESSAGE=text`), a value's further lines indented more.
 * The realtime stamp is read from the cursor's `t=` (microseconds, hex): the header's own
 * time is in the host's time zone.
 */

/** One journal entry: the fields asked for. */
export interface JournalEntry {
  cursor: string;
  /** ms since epoch */
  at: number;
  fields: Record<string, string>;
}

/** The fields the log check asks journalctl for. */
export const ENTRY_FIELDS = ['MESSAGE', 'SYSLOG_IDENTIFIER', '_PID'];

const HEADER = /^\S.* \[(s=[^\]]*)\]$/;
const FIELD = /^ {4}([A-Z0-9_]+)=(.*)$/;

/** Turns verbose lines into entries; `push` each line, then `end()`. */
export class VerboseParser {
  private entry: JournalEntry | undefined;
  private lastField: string | undefined;

  constructor(private readonly onEntry: (e: JournalEntry) => void) {}

  /** Takes one line; true when it began a new entry (the one before it is complete). */
  push(line: string): boolean {
    const h = HEADER.exec(line);
    if (h) {
      this.end();
      const t = /(?:^|;)t=([0-9a-f]+)/.exec(h[1]);
      this.entry = { cursor: h[1], at: t ? parseInt(t[1], 16) / 1000 : NaN, fields: {} };
      this.lastField = undefined;
      return true;
    }
    if (!this.entry) return false;
    const f = FIELD.exec(line);
    if (f) {
      this.entry.fields[f[1]] = f[2];
      this.lastField = f[1];
    } else if (this.lastField !== undefined && line.startsWith('     ')) {
      this.entry.fields[this.lastField] += `\n${line.trimStart()}`;
    }
    return false;
  }

  /** Hands on the entry being read, if any. */
  end(): void {
    if (this.entry) this.onEntry(this.entry);
    this.entry = undefined;
  }
}
