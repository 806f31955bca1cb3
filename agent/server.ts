import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Agent } from './agent';
import type { Logger } from './logger';

/** An HTTP error with its status, answered as JSON `{error}`. */
export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

type Access = 'open' | 'read' | 'admin' | 'metrics';

interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** Path pattern; `:name` matches one URL-decoded segment. */
  pattern: RegExp;
  access: Access;
  handle(ctx: RequestContext): Promise<Reply> | Reply;
}

interface RequestContext {
  req: http.IncomingMessage;
  params: string[];
  url: URL;
}

interface Reply {
  status?: number;
  json?: unknown;
  /** A body that is not JSON: text, or bytes already encoded (the metrics). */
  text?: string | Buffer;
  contentType?: string;
  /** Called once the response is sent or the client went away (frees the body's buffer). */
  release?: () => void;
}

/**
 * The agent's one HTTP listener: /metrics, /healthz, /readyz, the /api/v1 API and /-/reload.
 * Every answer but /metrics is JSON; every error is `{ "error": "..." }` with its status.
 */
export class AgentServer {
  readonly server: http.Server;
  private readonly routes: Route[];
  private closing = false;

  constructor(private readonly agent: Agent, private readonly log: Logger) {
    this.routes = [
      { method: 'GET', pattern: /^\/metrics$/, access: 'metrics', handle: () => this.metrics() },
      { method: 'GET', pattern: /^\/healthz$/, access: 'open', handle: () => ({ json: { status: 'ok' } }) },
      {
        method: 'GET',
        pattern: /^\/readyz$/,
        access: 'open',
        handle: () => (this.agent.isReady() ? { json: { status: 'ready' } } : { status: 503, json: { error: 'not ready' } }),
      },
      { method: 'GET', pattern: /^\/api\/v1\/checks$/, access: 'read', handle: () => ({ json: { checks: this.agent.listChecks() } }) },
      {
        method: 'GET',
        pattern: /^\/api\/v1\/checks\/([^/]+)$/,
        access: 'read',
        handle: ({ params }) => {
          const view = this.agent.getCheck(params[0]);
          if (!view) throw new HttpError(404, `no check named "${params[0]}"`);
          return { json: view };
        },
      },
      {
        method: 'POST',
        pattern: /^\/api\/v1\/checks\/([^/]+)\/run$/,
        access: 'admin',
        handle: async ({ params }) => {
          const out = await this.agent.runNow(params[0]);
          if (out.missing) throw new HttpError(404, `no check named "${params[0]}"`);
          if (out.busy) throw new HttpError(409, `check "${params[0]}" is running now; try again when it finishes`);
          if (!out.result) throw new HttpError(409, `check "${params[0]}" changed or went away while it ran (config reloaded); try again`);
          return { json: { ...out.result, startedAt: new Date(out.result.startedAt).toISOString() } };
        },
      },
      {
        method: 'POST',
        pattern: /^\/-\/reload$/,
        access: 'admin',
        handle: async () => {
          const out = await this.agent.reload();
          return out.ok ? { json: { status: 'reloaded', checks: out.checks } } : { status: 400, json: { error: 'config invalid; the running config stays', errors: out.errors } };
        },
      },
    ];
    this.server = http.createServer((req, res) => {
      void this.handle(req, res);
    });
    this.server.keepAliveTimeout = 65_000; // longer than typical scraper idle timeouts
  }

  /** Starts listening; resolves with the bound address (port 0 picks a free port). */
  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /**
   * Stops accepting connections. Idle keep-alive connections close now; requests in flight
   * get `graceMs` to finish (their responses say `Connection: close`), then are cut.
   */
  close(graceMs = 2000): Promise<void> {
    this.closing = true;
    return new Promise((resolve) => {
      const cut = setTimeout(() => this.server.closeAllConnections(), graceMs);
      this.server.close(() => {
        clearTimeout(cut);
        resolve();
      });
      this.server.closeIdleConnections();
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      return send(res, { status: 400, json: { error: 'bad request URL' } });
    }
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    try {
      const matching = this.routes.filter((r) => r.pattern.test(url.pathname));
      if (!matching.length) throw new HttpError(404, `no such endpoint: ${url.pathname}`);
      const route = matching.find((r) => r.method === method);
      if (!route) {
        const allow = [...new Set(matching.map((r) => r.method))].join(', ');
        throw new HttpError(405, `method ${req.method} not allowed here; use ${allow}`, { Allow: allow });
      }
      this.authorize(route.access, req);
      const params = (route.pattern.exec(url.pathname) ?? []).slice(1).map((p) => {
        try {
          return decodeURIComponent(p);
        } catch {
          throw new HttpError(400, `bad percent-encoding in path: ${p}`);
        }
      });
      const reply = await route.handle({ req, params, url });
      if (this.closing) res.setHeader('Connection', 'close');
      send(res, reply, req.method === 'HEAD');
    } catch (err) {
      if (err instanceof HttpError) {
        send(res, { status: err.status, json: { error: err.message } }, false, err.headers);
      } else {
        this.log.error({ err, path: url.pathname }, 'request failed');
        send(res, { status: 500, json: { error: 'internal error; see the agent log' } });
      }
    }
  }

  private authorize(access: Access, req: http.IncomingMessage): void {
    const api = this.agent.config.api;
    const auth = req.headers.authorization ?? '';
    const bearer = /^Bearer\s+(.+)$/i.exec(auth)?.[1]?.trim();
    const tokenOk = (...tokens: (string | undefined)[]) => bearer !== undefined && tokens.some((t) => !!t && safeEqual(bearer, t));
    switch (access) {
      case 'open':
        return;
      case 'read':
        if (!api.readToken) return;
        if (tokenOk(api.readToken, api.token)) return;
        throw new HttpError(401, 'missing or wrong bearer token (api.readToken or api.token)', { 'WWW-Authenticate': 'Bearer realm="keepwatch"' });
      case 'admin':
        if (!api.token) {
          throw new HttpError(403, 'the mutating API is disabled: set api.token in the config (e.g. token: "${KEEPWATCH_TOKEN}") and send it as "Authorization: Bearer <token>"');
        }
        if (tokenOk(api.token)) return;
        throw new HttpError(401, 'missing or wrong bearer token (api.token)', { 'WWW-Authenticate': 'Bearer realm="keepwatch"' });
      case 'metrics': {
        const m = api.metrics;
        if (m.auth === 'none') return;
        if (m.auth === 'bearer') {
          if (tokenOk(api.readToken, api.token)) return;
          throw new HttpError(401, 'missing or wrong bearer token for /metrics', { 'WWW-Authenticate': 'Bearer realm="keepwatch"' });
        }
        const basic = /^Basic\s+(.+)$/i.exec(auth)?.[1];
        const [user, ...rest] = basic ? Buffer.from(basic, 'base64').toString('utf8').split(':') : [];
        if (basic && safeEqual(user, m.username ?? '') && safeEqual(rest.join(':'), m.password ?? '')) return;
        throw new HttpError(401, 'missing or wrong credentials for /metrics', { 'WWW-Authenticate': 'Basic realm="keepwatch"' });
      }
    }
  }

  private async metrics(): Promise<Reply> {
    const { contentType, body, release } = await this.agent.metrics.expose();
    return { text: body, contentType, release };
  }
}

/** Compares secrets in constant time (hashing first, so lengths don't leak either). */
export function safeEqual(a: string, b: string): boolean {
  const ha = crypto.createHash('sha256').update(a).digest();
  const hb = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(ha, hb);
}

function send(res: http.ServerResponse, reply: Reply, headOnly = false, headers: Record<string, string> = {}): void {
  if (reply.release) res.once('close', reply.release);
  const body = reply.text ?? `${JSON.stringify(reply.json ?? {})}\n`;
  res.writeHead(reply.status ?? 200, {
    'Content-Type': reply.contentType ?? (reply.text !== undefined ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8'),
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(headOnly ? undefined : body);
}
