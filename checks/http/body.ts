import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

/**
 * Largest `maxBodySize`: what a run may download. Only a `json:` body is held whole (and
 * parsed, which takes several times its size); text matches run over the stream.
 */
export const MAX_BODY_BYTES = 64 * 1024 * 1024;

/**
 * `bodyRegex` sees bodies up to this many characters whole. A longer body is searched in
 * windows of this size, each starting with the last {@link REGEX_OVERLAP} characters of the
 * one before, so the text held stays bounded however large the body.
 */
export const REGEX_WINDOW = 1024 * 1024;

/** How much of a window the next one repeats: a match up to this long is found across the seam. */
export const REGEX_OVERLAP = 64 * 1024;

/** What a body is read for. */
export interface BodyWants {
  contains?: string;
  regex?: RegExp;
  /** Keep the whole text (for `json:`), at most the size cap. */
  text: boolean;
}

/** What reading a body found. */
export interface BodyRead {
  bytes: number;
  truncated: boolean;
  /** Whether `contains` occurs; set when it was asked for. */
  contains?: boolean;
  /** Whether `regex` matched; set when it was asked for. */
  regex?: boolean;
  text?: string;
}

/**
 * Looks for a needle in a byte stream chunk by chunk, keeping only the last
 * `needle.length - 1` bytes between chunks so a match across a chunk boundary is found.
 */
export class ContainsMatcher {
  private readonly needle: Buffer;
  private tail = Buffer.alloc(0);
  found: boolean;

  constructor(needle: string) {
    this.needle = Buffer.from(needle, 'utf8');
    this.found = this.needle.length === 0;
  }

  push(chunk: Buffer): void {
    if (this.found) return;
    const keep = this.needle.length - 1;
    if (chunk.indexOf(this.needle) >= 0) {
      this.found = true;
      return;
    }
    if (this.tail.length > 0) {
      // Only the seam: the tail and the first bytes of this chunk.
      const seam = Buffer.concat([this.tail, chunk.subarray(0, keep)]);
      if (seam.indexOf(this.needle) >= 0) {
        this.found = true;
        return;
      }
    }
    if (keep === 0) return;
    // Copied, so the tail does not pin a large chunk in memory.
    this.tail = chunk.length >= keep
      ? Buffer.from(chunk.subarray(chunk.length - keep))
      : Buffer.from(Buffer.concat([this.tail, chunk]).subarray(-keep));
  }
}

/**
 * Tests a regular expression over a text stream in bounded windows (see {@link REGEX_WINDOW}).
 * A body shorter than one window is tested whole, exactly as `regex.test(body)`; in a longer
 * one `^` and `$` also match at window edges, and a match longer than the overlap may be
 * missed where two windows meet.
 */
export class RegexMatcher {
  private readonly decoder = new StringDecoder('utf8');
  private pending: string[] = [];
  private pendingChars = 0;
  /** Characters of `pending` not yet part of a tested window. */
  private fresh = 0;
  private tested = false;
  found = false;

  constructor(private readonly regex: RegExp, private readonly window = REGEX_WINDOW, private readonly overlap = REGEX_OVERLAP) {}

  push(chunk: Buffer): void {
    if (this.found) return;
    const text = this.decoder.write(chunk);
    this.pending.push(text);
    this.pendingChars += text.length;
    this.fresh += text.length;
    while (!this.found && this.pendingChars >= this.window) {
      const all = this.pending.join('');
      this.found = this.regex.test(all.slice(0, this.window));
      this.tested = true;
      const next = all.slice(this.window - this.overlap);
      this.pending = [next];
      this.pendingChars = next.length;
      this.fresh = Math.max(0, next.length - this.overlap);
    }
  }

  end(): void {
    if (this.found) return;
    const last = this.decoder.end();
    // Nothing came after the last tested window: its overlap alone holds nothing new.
    if (this.tested && this.fresh + last.length === 0) return;
    this.found = this.regex.test(this.pending.join('') + last);
    this.pending = [];
  }
}

/**
 * Reads a response body up to `max` bytes (the rest is not downloaded), matching as it goes:
 * no text is built except for `wants.text`. Rejects when the stream fails or `signal` aborts.
 */
export function readBody(stream: Readable, max: number, wants: BodyWants, signal: AbortSignal): Promise<BodyRead> {
  return new Promise((resolve, reject) => {
    const contains = wants.contains === undefined ? undefined : new ContainsMatcher(wants.contains);
    const regex = wants.regex === undefined ? undefined : new RegexMatcher(wants.regex);
    const chunks: Buffer[] = [];
    let bytes = 0;
    let done = false;
    const settle = (fn: () => void) => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', onAbort);
      stream.off('data', onData);
      // Any error the stream emits from now on is ours to drop: the run has its answer.
      stream.on('error', () => undefined);
      try {
        fn();
      } catch (err) {
        reject(err);
      }
    };
    const finish = (truncated: boolean) =>
      settle(() => {
        regex?.end();
        resolve({
          bytes,
          truncated,
          contains: contains?.found,
          regex: regex?.found,
          text: wants.text ? Buffer.concat(chunks).toString('utf8') : undefined,
        });
      });
    const onAbort = () => settle(() => {
      stream.destroy();
      reject(signal.reason ?? new Error('aborted'));
    });
    const onData = (data: Buffer) => {
      try {
        let chunk = data;
        const truncated = bytes + chunk.length > max;
        if (truncated) chunk = chunk.subarray(0, max - bytes);
        bytes += chunk.length;
        contains?.push(chunk);
        regex?.push(chunk);
        if (wants.text) chunks.push(chunk);
        if (truncated) {
          stream.destroy();
          finish(true);
        }
      } catch (err) {
        stream.destroy();
        settle(() => reject(err));
      }
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    stream.on('data', onData);
    stream.on('end', () => finish(false));
    stream.on('error', (err) => settle(() => reject(err)));
  });
}
