import fs from 'node:fs';

/** Largest config file read (4 MiB: some 25,000 checks written out in block style). */
export const CONFIG_MAX_BYTES = 4 * 1024 * 1024;

/** Largest file a `${file:/path}` reference reads: a secret, a token or a certificate, not a data set. */
export const FILE_REF_MAX_BYTES = 1024 * 1024;

/** A file that is not a regular file, too large, or unreadable; `message` says which, without the content. */
export class FileReadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FileReadError';
  }
}

// O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever. The
// handle is then checked with fstat (not the path with stat: it could be swapped between the
// two) and only a regular file is read. The flag changes nothing for regular files.
const OPEN_FLAGS = fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0);
const CHUNK = 64 * 1024;

function kindOf(st: fs.Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

function checkStat(st: fs.Stats, maxBytes: number): void {
  if (!st.isFile()) throw new FileReadError(`not a regular file (${kindOf(st)})`);
  if (st.size > maxBytes) throw new FileReadError(`larger than the ${formatBytes(maxBytes)} limit (${st.size} bytes)`);
}

function tooLarge(maxBytes: number): FileReadError {
  return new FileReadError(`larger than the ${formatBytes(maxBytes)} limit`);
}

function openError(err: unknown): FileReadError {
  const e = err as NodeJS.ErrnoException;
  return new FileReadError(e.code ?? e.message, { cause: err });
}

/** `1048576` → `1 MiB`. */
export function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${+(n / (1024 * 1024)).toFixed(1)} MiB`;
  if (n >= 1024) return `${+(n / 1024).toFixed(1)} KiB`;
  return `${n} bytes`;
}

/**
 * Reads a regular file as UTF-8, at most `maxBytes` of it; FIFOs, devices, directories and
 * larger files are refused with a FileReadError. Files in /proc report size 0, so the read
 * runs to the end of the file rather than trusting the size.
 */
export function readTextFileSync(file: string, maxBytes: number): string {
  let fd: number;
  try {
    fd = fs.openSync(file, OPEN_FLAGS);
  } catch (err) {
    throw openError(err);
  }
  try {
    checkStat(fs.fstatSync(fd), maxBytes);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, maxBytes + 1 - total));
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      total += n;
      if (total > maxBytes) throw tooLarge(maxBytes);
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } catch (err) {
    if (err instanceof FileReadError) throw err;
    throw openError(err);
  } finally {
    fs.closeSync(fd);
  }
}

/** Like readTextFileSync, off the event loop: a slow or hung file system stalls nothing else. */
export async function readTextFile(file: string, maxBytes: number): Promise<string> {
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(file, OPEN_FLAGS);
  } catch (err) {
    throw openError(err);
  }
  try {
    checkStat(await fh.stat(), maxBytes);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, maxBytes + 1 - total));
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      chunks.push(buf.subarray(0, bytesRead));
      total += bytesRead;
      if (total > maxBytes) throw tooLarge(maxBytes);
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } catch (err) {
    if (err instanceof FileReadError) throw err;
    throw openError(err);
  } finally {
    await fh.close();
  }
}
