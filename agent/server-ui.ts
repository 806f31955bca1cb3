import crypto from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import type { Agent } from './agent';
import { packageRoot } from './paths';
import { HttpError } from './request-body';
import type { Reply, Route } from './server';
import { buildStatus } from './status';

/**
 * The status page and incident console (README "Status page"): the static shell under web/
 * (HTML, one CSS, one script; it holds no data, so it is served open) and the two JSON
 * documents it polls: GET /api/v1/ui/status (read token) and, in public mode,
 * GET /api/v1/public/status (open: names, statuses and 24 h bars only); GET /api/v1/ui/config
 * (open) says which of them to read and whether a token is needed.
 */

/** The page's Content-Security-Policy: nothing inline, nothing from elsewhere. */
export const UI_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Headers of every answer the page reads (shell, assets, its JSON). */
export const UI_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': UI_CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/** The 24 h bars: one hour per character, oldest first; hours are read from the store at most once a minute. */
export const BAR_HOURS = 24;
const BAR_CACHE_MS = 60_000;

const ASSETS: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

interface Asset {
  body: Buffer;
  etag: string;
  type: string;
}

const etagOf = (body: string | Buffer) => `"${crypto.createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;

/** True when a request carries an Origin header that is not the agent's own (the Host it was sent to). */
export function foreignOrigin(req: http.IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  try {
    return new URL(origin).host !== req.headers.host;
  } catch {
    return true; // "null" (a sandboxed or file: page) and anything unparsable
  }
}

/** The routes of the page: the shell at / and /incidents/ID, its assets under /ui/, its JSON. */
export function uiRoutes(agent: Agent): Route[] {
  const ui = new StatusPage(agent);
  return [
    { method: 'GET', pattern: /^\/$/, access: 'open', handle: ({ req }) => ui.asset('index.html', req) },
    { method: 'GET', pattern: /^\/incidents\/(\d+)$/, access: 'open', handle: ({ req }) => ui.asset('index.html', req) },
    { method: 'GET', pattern: /^\/ui\/([a-z]+\.(?:js|css))$/, access: 'open', handle: ({ req, params }) => ui.asset(params[0], req) },
    { method: 'GET', pattern: /^\/api\/v1\/ui\/status$/, access: 'read', handle: ({ req }) => ui.conditional(req, ui.privateStatus()) },
    { method: 'GET', pattern: /^\/api\/v1\/ui\/config$/, access: 'open', handle: ({ req }) => ui.conditional(req, ui.pageConfig()) },
    { method: 'GET', pattern: /^\/api\/v1\/public\/status$/, access: 'open', handle: ({ req }) => ui.conditional(req, ui.publicStatus()) },
  ];
}

class StatusPage {
  private readonly assets = new Map<string, Asset>();
  private bars: { at: number; byCheck: Map<string, string> } | undefined;

  constructor(private readonly agent: Agent) {}

  /** A file of web/, read once; `no-cache` with its ETag, so a new version shows at the next load. */
  asset(name: string, req: http.IncomingMessage): Reply {
    const type = ASSETS[name];
    if (!type) throw new HttpError(404, `no such endpoint: /ui/${name}`);
    let a = this.assets.get(name);
    if (!a) {
      let body: Buffer;
      try {
        body = fs.readFileSync(path.join(packageRoot(), 'web', name));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        throw new HttpError(404, `the status page's files are not installed (${path.join(packageRoot(), 'web', name)} is missing)`);
      }
      a = { body, etag: etagOf(body), type };
      this.assets.set(name, a);
    }
    const headers = { ...UI_HEADERS, 'Cache-Control': 'no-cache', ETag: a.etag };
    if (matches(req, a.etag)) return { status: 304, headers };
    return { text: a.body, contentType: a.type, headers };
  }

  /** JSON with an ETag of its bytes: 304 when the page already has them. Never stored by a cache. */
  conditional(req: http.IncomingMessage, json: unknown): Reply {
    const text = `${JSON.stringify(json)}\n`;
    const etag = etagOf(text);
    const headers = { ...UI_HEADERS, 'Cache-Control': 'no-store', ETag: etag };
    if (matches(req, etag)) return { status: 304, headers };
    return { text, contentType: 'application/json; charset=utf-8', headers };
  }

  /**
   * What the page shows behind the read token. Only what changes when a check's word changes
   * (no `now`, run times or durations: the page reads the clock from the Date header), so an
   * unchanged agent answers 304.
   */
  privateStatus() {
    const now = this.agent.now();
    const s = buildStatus(this.agent, now);
    const labels = new Map(this.agent.checkConfigs().map((c) => [c.name, c.labels]));
    const bars = this.barsNow(now);
    const late = this.agent.listChecks().flatMap((c) => {
      const due = c.nextRun === undefined ? NaN : Date.parse(c.nextRun);
      return !c.running && now - due > 2000 ? [Math.floor((now - due) / 1000)] : [];
    });
    return {
      mode: 'private',
      title: this.title(),
      agent: { name: s.agent.name, version: s.agent.version, startedAt: s.agent.startedAt },
      worst: s.worst,
      counts: s.counts,
      checks: s.checks.map((c) => ({
        name: c.name,
        type: c.type,
        status: c.status,
        value: c.value,
        message: c.message,
        group: this.group(labels.get(c.name)),
        labels: labels.get(c.name),
        bar: bars.get(c.name),
      })),
      incidents: s.incidents,
      maintenance: s.maintenance,
      silences: s.silences.map(({ id, checks, labels: l, endsAt, createdBy, comment }) => ({ id, checks, labels: l, endsAt, createdBy, comment })),
      health: {
        outbox: s.outbox,
        store: this.agent.incidents ? 'on' : 'off',
        /** Checks whose run is more than 2 s past its slot, and the latest of them (s): the scheduler's lag as the page sees it. */
        lateChecks: late.length,
        maxLateSeconds: late.length ? Math.max(...late) : 0,
      },
    };
  }

  /** What the page needs before it asks for anything: which mode, and whether reads need a token. */
  pageConfig() {
    return { public: this.agent.config.statusPage?.public === true, tokenRequired: !!this.agent.config.api.readToken };
  }

  /** The customer-facing document: names, statuses, the grouping label's value and the bars. Nothing else. */
  publicStatus() {
    const page = this.agent.config.statusPage;
    if (!page?.public) throw new HttpError(404, 'the public status page is off (statusPage.public: true turns it on)');
    const now = this.agent.now();
    const bars = this.barsNow(now);
    const checks = this.agent.checkConfigs().map((c) => ({
      name: c.name,
      status: this.agent.getCheck(c.name)?.last?.statusText ?? 'pending',
      group: this.group(c.labels),
      bar: bars.get(c.name),
    }));
    return { mode: 'public', title: this.title(), checks };
  }

  private title(): string {
    return this.agent.config.statusPage?.title ?? this.agent.config.agent.name;
  }

  /** The value of the first grouping label the check has, as "label: value"; '' for none. */
  private group(labels: Readonly<Record<string, string>> | undefined): string {
    for (const key of this.agent.config.statusPage?.groupBy ?? ['service', 'team']) {
      const v = labels?.[key];
      if (v) return `${key}: ${v}`;
    }
    return '';
  }

  /** Each check's 24 h bar (see {@link availabilityBar}), from the store's hourly counts. */
  private barsNow(now: number): Map<string, string> {
    if (this.bars && now - this.bars.at < BAR_CACHE_MS && now >= this.bars.at) return this.bars.byCheck;
    const engine = this.agent.incidents;
    const lastHour = Math.floor(now / 3_600_000);
    const rows = engine ? engine.availabilityHours(lastHour - BAR_HOURS + 1) : [];
    const byCheck = new Map<string, Array<{ hour: number; ok: number; total: number }>>();
    for (const r of rows) {
      let list = byCheck.get(r.check);
      if (!list) byCheck.set(r.check, (list = []));
      list.push(r);
    }
    const out = new Map<string, string>();
    for (const [check, list] of byCheck) out.set(check, availabilityBar(list, lastHour));
    this.bars = { at: now, byCheck: out };
    return out;
  }
}

/**
 * One check's last 24 hours as 24 characters, oldest first: `.` no runs that hour, `0`–`9`
 * fewer than 10 %, … fewer than 100 % of its runs ok (ok or warning), `A` all of them.
 */
export function availabilityBar(rows: ReadonlyArray<{ hour: number; ok: number; total: number }>, lastHour: number): string {
  const cells = Array.from({ length: BAR_HOURS }, () => '.');
  for (const r of rows) {
    const i = BAR_HOURS - 1 - (lastHour - r.hour);
    if (i < 0 || i >= BAR_HOURS || r.total <= 0) continue;
    cells[i] = r.ok >= r.total ? 'A' : String(Math.min(9, Math.floor((r.ok / r.total) * 10)));
  }
  return cells.join('');
}

function matches(req: http.IncomingMessage, etag: string): boolean {
  const inm = req.headers['if-none-match'];
  return inm !== undefined && inm.split(',').some((t) => t.trim() === etag || t.trim() === `W/${etag}`);
}
