import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { loadConfigText } from '../../agent/config/load';
import { createLogger } from '../../agent/logger';
import { runCheckOnce } from '../../agent/runner';
import { setSecrets } from '../../agent/secrets';
import { httpCheck } from '../../checks/http';
import { ContainsMatcher, MAX_BODY_BYTES, readBody, RegexMatcher } from '../../checks/http/body';
import { runCheck } from '../helpers/check';
import { startHttp, type TestServer } from '../helpers/servers';

/** A response of `bytes` bytes of 'x' from one reused 1 MiB buffer, with `needle` ending at `at`. */
function streamed(bytes: number, needle: string, at: number): http.RequestListener {
  return (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
    const x = Buffer.alloc(1 << 20, 'x');
    let sent = 0;
    let closed = false;
    res.on('close', () => (closed = true));
    const pump = () => {
      while (!closed && sent < bytes) {
        let chunk = x.subarray(0, Math.min(x.length, bytes - sent));
        const end = sent + chunk.length;
        if (at > sent && at - needle.length < end) {
          // The chunk that holds (part of) the needle is a copy; the rest reuse one buffer.
          chunk = Buffer.from(chunk);
          const from = at - needle.length - sent;
          Buffer.from(needle).copy(chunk, Math.max(0, from), Math.max(0, -from));
        }
        sent = end;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  };
}

describe('large bodies', () => {
  test('600 MiB: bodyContains and bodyRegex match over the stream; no giant string is built', async () => {
    const size = 600 * (1 << 20);
    const big = await startHttp(streamed(size, 'the-end-marker', size - 3));
    try {
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => http.get(`${big.url}/`, resolve).on('error', reject));
      const got = await readBody(res, Number.MAX_SAFE_INTEGER, { contains: 'the-end-marker', regex: /end-mark/, text: false }, new AbortController().signal);
      expect(got).toEqual({ bytes: size, truncated: false, contains: true, regex: true, text: undefined });
    } finally {
      await big.close();
    }
  });

  test('the check reads at most maxBodySize (64MiB at most) of a huge body and matches within it', async () => {
    const big = await startHttp(streamed(500 * (1 << 20), 'marker-at-60MiB', 60 * (1 << 20)));
    try {
      const raw = { url: `${big.url}/`, maxBodySize: '64MiB', bodyContains: 'marker-at-60MiB', bodyRegex: 'marker-at-\\d+MiB' };
      const obs = await runCheck(httpCheck, raw, { timeoutMs: 30_000 });
      expect(obs.values).toMatchObject({ status: 200, bodyBytes: MAX_BODY_BYTES, bodyTruncated: true, matches: true });
      const miss = await runCheck(httpCheck, { ...raw, maxBodySize: '50MiB' }, { timeoutMs: 30_000 });
      expect(miss.values).toMatchObject({ bodyBytes: 50 * (1 << 20), bodyTruncated: true, matches: false });
    } finally {
      await big.close();
    }
  });

  test('a match split across chunks is found wherever the split falls', () => {
    const body = Buffer.from('aaaa NEEDLE-é-123 bbbb');
    for (let cut = 0; cut <= body.length; cut++) {
      for (let cut2 = cut; cut2 <= body.length; cut2++) {
        const parts = [body.subarray(0, cut), body.subarray(cut, cut2), body.subarray(cut2)];
        const c = new ContainsMatcher('NEEDLE-é-123');
        const r = new RegexMatcher(/NEEDLE-é-\d+ b/);
        for (const part of parts) {
          c.push(part);
          r.push(part);
        }
        r.end();
        expect([cut, cut2, c.found, r.found]).toEqual([cut, cut2, true, true]);
      }
    }
    const miss = new ContainsMatcher('NEEDLE-x');
    for (const part of [body.subarray(0, 9), body.subarray(9)]) miss.push(part);
    expect(miss.found).toBe(false);
    expect(new ContainsMatcher('').found).toBe(true);
  });

  test('bodyRegex over windows: a body within one window is tested whole; beyond, windows overlap', () => {
    const run = (text: string, re: RegExp, chunk = 3) => {
      const m = new RegexMatcher(re, 16, 4);
      const buf = Buffer.from(text);
      for (let i = 0; i < buf.length; i += chunk) m.push(buf.subarray(i, i + chunk));
      m.end();
      return m.found;
    };
    expect(run('start of a body', /^start.*body$/)).toBe(true); // one window: exact semantics
    expect(run('', /^$/)).toBe(true);
    expect(run('0123456789abcdefXYZ', /efXY/)).toBe(true); // across the seam, within the overlap
    expect(run('0123456789abcdefghijklmnopqrstuvwxyz', /xyz$/)).toBe(true); // the last, short window
    expect(run('0123456789abcdefghijklmnopqrstuvwxyz', /9abcdefghijklmno/)).toBe(false); // longer than a window: documented miss
  });

  test('a stream that fails or an abort rejects; late stream errors after the answer are dropped', async () => {
    const failing = new PassThrough();
    const p = readBody(failing, 100, { text: false }, new AbortController().signal);
    failing.destroy(new Error('ECONNRESET'));
    await expect(p).rejects.toThrow('ECONNRESET');

    const slow = new PassThrough();
    const ac = new AbortController();
    const q = readBody(slow, 100, { contains: 'x', text: false }, ac.signal);
    ac.abort(new Error('timed out'));
    await expect(q).rejects.toThrow('timed out');

    const done = new PassThrough();
    const r = readBody(done, 4, { text: true }, new AbortController().signal);
    done.write('hello');
    await expect(r).resolves.toEqual({ bytes: 4, truncated: true, text: 'hell', contains: undefined, regex: undefined });
    done.emit('error', new Error('after the answer')); // no listener left would crash the process
    expect(Readable.prototype.listenerCount.call(done, 'error')).toBeGreaterThan(0);
  });
});

describe('secrets and redirects to another host', () => {
  let other: TestServer;
  let otherSeen: http.IncomingHttpHeaders | undefined;
  let first: TestServer;
  beforeAll(async () => {
    other = await startHttp((req, res) => {
      otherSeen = req.headers;
      res.writeHead(200).end('ok');
    });
    first = await startHttp((req, res) => {
      if (req.url === '/same') return void res.writeHead(302, { Location: `http://127.0.0.1:${first.port}/echo` }).end();
      if (req.url === '/echo') {
        otherSeen = req.headers;
        return void res.writeHead(200).end('ok');
      }
      res.writeHead(302, { Location: `http://localhost:${other.port}/landing` }).end();
    });
  });
  afterAll(async () => {
    await other.close();
    await first.close();
  });

  test('headers whose value holds a configured secret are dropped on a redirect to another host, whatever their name', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kw-http-secret-'));
    const secretFile = path.join(dir, 'token');
    fs.writeFileSync(secretFile, 'file-secret-9f8e7d\n');
    const yaml = [
      'checks:',
      '  - name: redirecting',
      '    type: http',
      `    url: http://127.0.0.1:${first.port}/away`,
      '    headers:',
      '      X-Other: "${MY_DB_PASSWORD}"',
      `      X-File: "\${file:${secretFile}}"`,
      '      X-Mixed: "user=app;pw=${MY_DB_PASSWORD}"',
      '      X-Trace: visible',
    ].join('\n');
    const config = loadConfigText(yaml, 'kw.yaml', { env: { MY_DB_PASSWORD: 'db-pass-4b3c2a' } });
    setSecrets(config.secrets);
    const log = createLogger({ level: 'silent' });
    try {
      const [check] = config.checks;
      const away = await runCheckOnce(check, { log });
      expect(away).toMatchObject({ statusText: 'ok', values: { status: 200, redirects: 1 } });
      expect(otherSeen?.host).toBe(`localhost:${other.port}`);
      expect(otherSeen?.['x-trace']).toBe('visible');
      for (const h of ['x-other', 'x-file', 'x-mixed']) expect(otherSeen?.[h]).toBeUndefined();
      expect(JSON.stringify(otherSeen)).not.toMatch(/db-pass|file-secret/);

      // The same host gets them all.
      const same = await runCheckOnce({ ...check, spec: { ...check.spec, url: `http://127.0.0.1:${first.port}/same` } }, { log });
      expect(same.statusText).toBe('ok');
      expect(otherSeen).toMatchObject({ 'x-other': 'db-pass-4b3c2a', 'x-file': 'file-secret-9f8e7d', 'x-mixed': 'user=app;pw=db-pass-4b3c2a' });
    } finally {
      setSecrets([]);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('without the agent telling it which values are secret, only secret-looking names are dropped', async () => {
    await runCheck(httpCheck, { url: `http://127.0.0.1:${first.port}/away`, headers: { 'X-Other': 'plain', Authorization: 'Bearer t' } });
    expect(otherSeen?.['x-other']).toBe('plain');
    expect(otherSeen?.authorization).toBeUndefined();
    await runCheck(httpCheck, { url: `http://127.0.0.1:${first.port}/away`, headers: { 'X-Other': 'has s3cret inside' } }, { holdsSecret: (t) => t.includes('s3cret') });
    expect(otherSeen?.['x-other']).toBeUndefined();
  });
});
