import { scrub } from '../secrets';
import type { RemediationAction } from './remediate-schema';

/** Most output kept per action: the tail of stdout+stderr, or of the response body. */
export const OUTPUT_LIMIT = 4096;

/** What one action did. */
export interface ActionResult {
  kind: RemediationAction['kind'];
  /** `systemctl restart nginx`, `POST http://127.0.0.1:8080/admin/reload`: no env values, query strings or credentials. */
  description: string;
  ok: boolean;
  /** A command's exit code; null when it was killed by a signal or never started. */
  exitCode?: number | null;
  /** The signal that ended a command, if one did. */
  exitSignal?: string | null;
  /** An http action's response status. */
  status?: number;
  durationMs: number;
  /** The tail of stdout+stderr (interleaved as it arrived) or of the response body: at most {@link OUTPUT_LIMIT} bytes, ANSI stripped, secrets scrubbed. */
  output: string;
  /** True when earlier output was cut to keep the tail. */
  outputTruncated: boolean;
  /** Why it failed, when that is not just the exit code or status: not found, timed out, connection refused. */
  error?: string;
  timedOut?: boolean;
}

/** What a runner reports; runAction adds the kind, the description and the duration. */
export type ActionOutcome = Omit<ActionResult, 'kind' | 'description' | 'durationMs'>;

/** Keeps the last `limit` bytes pushed into it. */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  /** Bytes pushed in all. */
  total = 0;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.total += chunk.length;
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.chunks.length > 1 && this.size - this.chunks[0].length >= this.limit) {
      this.size -= (this.chunks.shift() as Buffer).length;
    }
  }

  bytes(): Buffer {
    const all = Buffer.concat(this.chunks);
    return all.length > this.limit ? all.subarray(all.length - this.limit) : all;
  }
}

// CSI and OSC sequences and two-character escapes, then C0 controls other than tab and newline.
const ANSI_RE = /\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])/g;
const CONTROL_RE = /[\x00-\x08\x0b-\x1f\x7f]/g;

/** The output text: scrubbed of secrets first (the buffer kept enough extra to see a secret cut at its start), then cut to the limit. */
export function finishOutput(out: TailBuffer, secrets: string[]): { output: string; outputTruncated: boolean } {
  let bytes = out.bytes();
  // A cut may land inside a multi-byte character: drop its continuation bytes.
  let start = 0;
  if (bytes.length < out.total) while (start < bytes.length && (bytes[start] & 0xc0) === 0x80) start++;
  bytes = bytes.subarray(start);
  let text = scrub(bytes.toString('utf8').replace(ANSI_RE, '').replace(/\r\n/g, '\n').replace(CONTROL_RE, ''), secrets);
  let truncated = bytes.length < out.total;
  if (Buffer.byteLength(text) > OUTPUT_LIMIT) {
    const b = Buffer.from(text);
    let cut = b.length - OUTPUT_LIMIT;
    while (cut < b.length && (b[cut] & 0xc0) === 0x80) cut++;
    text = b.subarray(cut).toString('utf8');
    truncated = true;
  }
  return { output: text, outputTruncated: truncated };
}
