import http from 'node:http';

/** The most of a reply that is read: a ContainerInspect body is a few KiB, tens with many mounts or labels. */
export const MAX_REPLY_BYTES = 2 * 1024 * 1024;

/** What one GET over the Engine API's unix socket gave. */
export type ApiReply =
  | { kind: 'reply'; status: number; body: string; apiVersion?: string }
  | { kind: 'timeout'; connected: boolean }
  | { kind: 'error'; error: NodeJS.ErrnoException; connected: boolean };

/**
 * GETs `path` from an HTTP server on the unix socket `socketPath` (the Docker Engine API, or
 * Podman's compatible one). Always settles, never rejects; the connection is never kept
 * (no agent: `Connection: close`) and is destroyed when the run is aborted, the reply is
 * over MAX_REPLY_BYTES, or the reply has been read.
 */
export function getOverSocket(socketPath: string, path: string, signal: AbortSignal): Promise<ApiReply> {
  if (signal.aborted) return Promise.resolve({ kind: 'timeout', connected: false });
  return new Promise((resolve) => {
    let settled = false;
    let connected = false;
    const req = http.request({
      socketPath,
      path,
      method: 'GET',
      agent: false,
      headers: { Accept: 'application/json', 'User-Agent': 'keepwatch' },
    });
    const finish = (reply: ApiReply) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      req.destroy();
      resolve(reply);
    };
    const onAbort = () => finish({ kind: 'timeout', connected });
    signal.addEventListener('abort', onAbort, { once: true });
    req.on('socket', (socket) => socket.once('connect', () => (connected = true)));
    req.on('error', (error: NodeJS.ErrnoException) => finish({ kind: 'error', error, connected }));
    req.on('response', (res) => {
      connected = true;
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > MAX_REPLY_BYTES) {
          const error = Object.assign(new Error(`the reply is larger than ${MAX_REPLY_BYTES / 1024 / 1024} MiB`), { code: 'ERR_REPLY_TOO_LARGE' });
          finish({ kind: 'error', error, connected });
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => {
        const version = res.headers['api-version'];
        finish({ kind: 'reply', status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), apiVersion: typeof version === 'string' ? version : undefined });
      });
      res.on('error', (error: NodeJS.ErrnoException) => finish({ kind: 'error', error, connected }));
      res.on('aborted', () => finish({ kind: 'error', error: Object.assign(new Error('the reply was cut off'), { code: 'ECONNRESET' }), connected }));
    });
    req.end();
  });
}

/** The Engine API's error body, `{"message": "..."}`, or the start of whatever else was sent. */
export function apiMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as { message?: unknown };
    if (parsed && typeof parsed.message === 'string') return parsed.message.trim();
  } catch {
    // not JSON: a proxy's or another server's page
  }
  return body.trim().slice(0, 200) || '(empty body)';
}
