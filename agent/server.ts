import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import type { Agent } from './agent';
import { HTTP_DEFAULTS } from './config/schema';
import { checkingInterval, ConnectionGuard } from './connections';
import type { IncidentEngine } from './engine';
import type { Logger } from './logger';
import { INCIDENT_STATES, type Incident, type IncidentState, type OutboxEntry, type TimelineEntry } from './model';
import { HttpError, parseBody, readJsonBody } from './request-body';
import { acceptBaseline, showBaseline } from './server-baseline';
import { authorizePush, PUSH_PATH, receivePush } from './server-push';
import { createSilence, expireSilence, showSilence } from './server-silences';
import { buildStatus } from './status';

export { HttpError } from './request-body';

/** Who may call a route; `push`: a push check's own token (agent/server-push.ts). */
type Access = 'open' | 'read' | 'admin' | 'metrics' | 'push';

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
  /** The JSON body of a POST or DELETE (undefined when empty). */
  body?: unknown;
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
  readonly connections: ConnectionGuard;
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
        handle: () => {
          const why = this.agent.notReady();
          return why ? { status: 503, json: { error: why } } : { json: { status: 'ready' } };
        },
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
      { method: 'GET', pattern: /^\/api\/v1\/checks\/([^/]+)\/baseline$/, access: 'read', handle: ({ params }) => showBaseline(this.agent, params[0]) },
      { method: 'POST', pattern: /^\/api\/v1\/checks\/([^/]+)\/baseline$/, access: 'admin', handle: ({ params, body }) => acceptBaseline(this.agent, params[0], body, this.log) },
      { method: 'GET', pattern: /^\/api\/v1\/incidents$/, access: 'read', handle: ({ url }) => this.listIncidents(url) },
      { method: 'GET', pattern: /^\/api\/v1\/incidents\/([^/]+)$/, access: 'read', handle: ({ params }) => this.showIncident(params[0]) },
      {
        method: 'POST',
        pattern: /^\/api\/v1\/incidents\/([^/]+)\/(ack|resolve)$/,
        access: 'admin',
        handle: ({ params, body }) => this.changeIncident(params[0], params[1] as 'ack' | 'resolve', body),
      },
      {
        method: 'GET',
        pattern: /^\/api\/v1\/silences$/,
        access: 'read',
        handle: ({ url }) => ({ json: { silences: this.engine().listSilences(url.searchParams.get('all') === 'true').map(showSilence) } }),
      },
      { method: 'POST', pattern: /^\/api\/v1\/silences$/, access: 'admin', handle: ({ body }) => createSilence(this.agent, this.engine(), body, this.log) },
      { method: 'DELETE', pattern: /^\/api\/v1\/silences\/([^/]+)$/, access: 'admin', handle: ({ params }) => expireSilence(this.engine(), params[0]) },
      { method: 'POST', pattern: PUSH_PATH, access: 'push', handle: ({ params, body }) => receivePush(this.agent, params[0], body, this.log) },
      { method: 'GET', pattern: /^\/api\/v1\/kpis$/, access: 'read', handle: () => ({ json: this.engine().kpis() }) },
      { method: 'GET', pattern: /^\/api\/v1\/status$/, access: 'read', handle: () => ({ json: buildStatus(this.agent) }) },
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
    const limits = () => this.agent.config.agent.http ?? HTTP_DEFAULTS;
    const { headersTimeout, requestTimeout, keepAliveTimeout } = limits();
    const options = { headersTimeout, requestTimeout, keepAliveTimeout, connectionsCheckingInterval: checkingInterval(limits()), requireHostHeader: false };
    this.server = http.createServer(options, (req, res) => {
      void this.handle(req, res);
    });
    this.server.on('checkExpectation', (_req, res) => send(res, { status: 417, json: { error: 'unsupported Expect header: only 100-continue is supported' } }));
    this.connections = new ConnectionGuard(this.server, limits, {
      closed: (reason) => this.agent.metrics.httpConnectionClosed(reason),
      open: (count) => this.agent.metrics.setHttpConnections(count),
    });
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
      this.authorize(route.access, req, url);
      const params = (route.pattern.exec(url.pathname) ?? []).slice(1).map((p) => {
        try {
          return decodeURIComponent(p);
        } catch {
          throw new HttpError(400, `bad percent-encoding in path: ${p}`);
        }
      });
      const body = route.method === 'GET' ? undefined : await readJsonBody(req);
      const reply = await route.handle({ req, params, url, body });
      if (this.closing) res.setHeader('Connection', 'close');
      send(res, reply, req.method === 'HEAD');
    } catch (err) {
      if (err instanceof HttpError) {
        send(res, { status: err.status, json: { error: err.message, ...err.extra } }, false, err.headers);
      } else {
        this.log.error({ err, path: url.pathname }, 'request failed');
        send(res, { status: 500, json: { error: 'internal error; see the agent log' } });
      }
    }
  }

  private authorize(access: Access, req: http.IncomingMessage, url: URL): void {
    const api = this.agent.config.api;
    const auth = req.headers.authorization ?? '';
    const bearer = /^Bearer\s+(.+)$/i.exec(auth)?.[1]?.trim();
    const tokenOk = (...tokens: (string | undefined)[]) => bearer !== undefined && tokens.some((t) => !!t && safeEqual(bearer, t));
    switch (access) {
      case 'open':
        return;
      case 'push':
        return authorizePush(this.agent, url, bearer);
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

  private engine(): IncidentEngine {
    if (!this.agent.incidents) throw new HttpError(503, 'incidents are not enabled on this agent (it runs without a store)');
    return this.agent.incidents;
  }

  private listIncidents(url: URL): Reply {
    const state = url.searchParams.get('state') ?? undefined;
    if (state !== undefined && !INCIDENT_STATES.includes(state as IncidentState)) {
      throw new HttpError(400, `state must be open, acknowledged or resolved, not "${state}"`);
    }
    const limit = Number(url.searchParams.get('limit') ?? 100);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new HttpError(400, 'limit must be an integer from 1 to 1000');
    const list = this.engine().listIncidents({ state: state as IncidentState | undefined, check: url.searchParams.get('check') ?? undefined, limit });
    return { json: { incidents: list.map((i) => showIncident(i)) } };
  }

  private showIncident(idText: string): Reply {
    const inc = this.engine().getIncident(parseId(idText));
    if (!inc) throw new HttpError(404, `no incident ${idText}`);
    return { json: showIncident(inc.incident, inc) };
  }

  private changeIncident(idText: string, action: 'ack' | 'resolve', body: unknown): Reply {
    const input = parseBody(incidentActionSchema, body ?? {});
    const id = parseId(idText);
    const by = input.by ?? 'api';
    const out = action === 'ack' ? this.engine().acknowledge(id, by, input.comment) : this.engine().resolve(id, by, input.comment);
    if (out === 'not-found') throw new HttpError(404, `no incident ${idText}`);
    if (out === 'not-open') throw new HttpError(409, notOpen(this.engine().getIncident(id)?.incident, idText));
    return { json: showIncident(out) };
  }

  private async metrics(): Promise<Reply> {
    const { contentType, body, release } = await this.agent.metrics.expose();
    return { text: body, contentType, release };
  }
}

/** Why an incident cannot be acknowledged or resolved: who did it already, and when. */
function notOpen(inc: Incident | undefined, idText: string): string {
  if (inc?.state === 'acknowledged') return `incident ${idText} is already acknowledged (by ${inc.ackedBy ?? 'unknown'} at ${iso(inc.ackedAt)})`;
  if (inc?.state === 'resolved') return `incident ${idText} is already resolved (${inc.resolvedBy ? `by ${inc.resolvedBy} ` : ''}at ${iso(inc.resolvedAt)}${inc.resolution ? `: ${inc.resolution}` : ''})`;
  return `incident ${idText} is not open`;
}

function parseId(text: string): number {
  if (!/^\d+$/.test(text)) throw new HttpError(400, `incident ids are numbers, not "${text}"`);
  return Number(text);
}

const incidentActionSchema = z.strictObject({
  by: z.string().min(1).max(200).optional(),
  comment: z.string().max(2000).optional(),
});

const iso = (t?: number) => (t === undefined ? undefined : new Date(t).toISOString());

function showIncident(i: Incident, detail?: { timeline: TimelineEntry[]; notifications: OutboxEntry[] }) {
  return {
    id: i.id,
    key: i.key,
    check: i.check,
    type: i.type,
    severity: i.severity,
    state: i.state,
    tier: i.tier,
    summary: i.summary,
    flapping: i.flapping,
    labels: i.labels,
    values: i.values,
    openedAt: iso(i.openedAt),
    acknowledgedAt: iso(i.ackedAt),
    acknowledgedBy: i.ackedBy,
    resolvedAt: iso(i.resolvedAt),
    resolvedBy: i.resolvedBy,
    resolution: i.resolution,
    sla: {
      coverage: i.coverage,
      respondDue: iso(i.respondDue),
      resolveDue: iso(i.resolveDue),
      respondBreached: i.respondBreached,
      resolveBreached: i.resolveBreached,
    },
    ...(detail && {
      evidence: i.evidence,
      snapshot: i.snapshot,
      timeline: detail.timeline.map((t) => ({ at: iso(t.at), kind: t.kind, message: t.message, data: t.data })),
      notifications: detail.notifications.map((n) => ({
        notifier: n.notifier,
        event: n.event,
        key: n.key,
        state: n.deliveredAt ? 'delivered' : n.failedAt ? 'failed' : 'pending',
        attempts: n.attempts,
        notBefore: iso(n.notBefore),
        deliveredAt: iso(n.deliveredAt),
        lastError: n.lastError,
      })),
    }),
  };
}

/** Compares secrets in constant time (hashing first, so lengths don't leak either). */
export function safeEqual(a: string, b: string): boolean {
  const ha = crypto.createHash('sha256').update(a).digest();
  const hb = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(ha, hb);
}

function send(res: http.ServerResponse, reply: Reply, headOnly = false, headers: Record<string, string> = {}): void {
  if (reply.release) res.once('close', reply.release);
  // Answered before the body arrived (401, 413, 415): close rather than read what is left.
  if (!res.req.complete) res.setHeader('Connection', 'close');
  const body = reply.text ?? `${JSON.stringify(reply.json ?? {})}\n`;
  res.writeHead(reply.status ?? 200, {
    'Content-Type': reply.contentType ?? (reply.text !== undefined ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8'),
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(headOnly ? undefined : body);
}
