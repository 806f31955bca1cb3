import type http from 'node:http';
import type { z } from 'zod';

/** An HTTP error with its status, answered as JSON `{error}`. */
export class HttpError extends Error {
  /** `extra`: more fields for the JSON answer beside `error` (a hint). */
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}, readonly extra: Record<string, unknown> = {}) {
    super(message);
  }
}

/** Largest request body the API reads. */
export const MAX_BODY_BYTES = 1_000_000;

/** Whether a Content-Type header names JSON (`application/json`, with or without parameters such as charset). */
export function isJsonType(contentType: string | undefined): boolean {
  return contentType?.split(';')[0].trim().toLowerCase() === 'application/json';
}

const notJson = (type: string | undefined) =>
  new HttpError(415, `request bodies must be JSON: send Content-Type: application/json${type ? `, not ${type.slice(0, 100)}` : ''}`);

/**
 * Reads a JSON request body (at most 1 MB): undefined when empty, 400 for bad JSON, 413 when
 * too large, 415 when a body that is not empty is not declared as `application/json` (a form
 * or text/plain body is never taken for JSON; a POST without a body needs no type). What the
 * headers already prove wrong is refused before a byte of the body is read.
 */
export function readJsonBody(req: http.IncomingMessage): Promise<unknown> {
  const type = req.headers['content-type'];
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) return Promise.reject(tooLarge());
  if (declared > 0 && !isJsonType(type)) return Promise.reject(notJson(type));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (err?: HttpError, value?: unknown) => {
      req.off('data', onData).off('end', onEnd).off('close', onClose).off('error', onClose);
      if (err) {
        req.pause(); // the answer closes the connection; the rest is never read
        reject(err);
      } else resolve(value);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) return done(tooLarge());
      chunks.push(chunk);
    };
    const onEnd = () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (!text.trim()) return done(undefined, undefined);
      if (!isJsonType(type)) return done(notJson(type));
      try {
        done(undefined, JSON.parse(text));
      } catch (err) {
        done(new HttpError(400, `invalid JSON body: ${(err as Error).message}`));
      }
    };
    // The client went away or the request timed out: nobody is left to answer.
    const onClose = () => done(new HttpError(400, 'request body incomplete: the connection closed'));
    req.on('data', onData).once('end', onEnd).once('close', onClose).once('error', onClose);
  });
}

function tooLarge(): HttpError {
  return new HttpError(413, `request body larger than ${MAX_BODY_BYTES} bytes`);
}

/** Validates a request body; 400 with every problem as `path: message`. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  throw new HttpError(400, r.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
}
