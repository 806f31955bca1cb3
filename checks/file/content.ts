import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { NoAccessError } from './find';

const CHUNK = 64 * 1024;
// O_NONBLOCK: a FIFO swapped in after the stat must not block the open waiting for a writer.
const FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

/** The end of a file that `match` searches: the last `maxBytes` of it, and whether that is all of it. */
export interface Tail {
  text: string;
  /** True when the file was longer than `maxBytes` and only its end was read. */
  partial: boolean;
}

/**
 * Reads the last `maxBytes` of a regular file as UTF-8 (the whole file when it is no longer):
 * what a status or heartbeat file holds, or the last lines a backup job appended to its log.
 * A file that is not regular (FIFO, device, directory) is refused without reading it.
 */
export async function readTail(file: string, maxBytes: number, signal: AbortSignal): Promise<Tail> {
  let fh: FileHandle;
  try {
    fh = await open(file, FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') {
      throw new NoAccessError(`cannot read ${file} to match its content: permission denied; the agent's user needs read (r) permission on it`);
    }
    throw err;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new NotRegularError(`${file} is not a regular file: match reads regular files only`);
    const start = Math.max(0, st.size - maxBytes);
    const chunks: Buffer[] = [];
    let total = 0;
    let pos = start;
    while (total < maxBytes) {
      signal.throwIfAborted();
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, maxBytes - total));
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      chunks.push(buf.subarray(0, bytesRead));
      total += bytesRead;
      pos += bytesRead;
    }
    return { text: Buffer.concat(chunks, total).toString('utf8'), partial: start > 0 };
  } finally {
    await fh.close();
  }
}

/** The path is there but is no regular file, so it has no content to match. */
export class NotRegularError extends Error {}
