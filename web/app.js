// keepwatch status page and incident console. Plain script, no framework, no inline code (the CSP
// allows only this file). The token lives in sessionStorage and goes out as an Authorization
// header, never in a URL; the API takes no cookies, so another site cannot act with it.
'use strict';
(() => {
  const KEY = 'keepwatch.token';
  const POLL_MS = 5000;
  const ICON = { ok: '✔', warning: '▲', critical: '✖', unknown: '?', pending: '…' };
  const $ = (id) => document.getElementById(id);
  let skew = 0; // the agent's clock minus ours, from the Date header
  let timer;
  let etag;
  let last;
  let shown; // the incident JSON on screen: re-rendered only when it changes (focus stays put)
  let notice = { text: '', cls: 'ok-note' };

  const token = () => sessionStorage.getItem(KEY) || '';

  async function api(path, opts = {}) {
    const headers = { Accept: 'application/json', ...(opts.headers || {}) };
    if (token()) headers.Authorization = `Bearer ${token()}`;
    if (opts.json !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(path, {
      method: opts.method || 'GET',
      headers,
      body: opts.json === undefined ? undefined : JSON.stringify(opts.json),
      credentials: 'omit',
      cache: 'no-store',
      referrerPolicy: 'no-referrer',
    });
    const date = Date.parse(res.headers.get('Date') || '');
    if (!Number.isNaN(date)) skew = date - Date.now();
    return res;
  }

  async function errorOf(res) {
    try {
      return (await res.json()).error || `HTTP ${res.status}`;
    } catch {
      return `HTTP ${res.status}`;
    }
  }

  /** el('td', { class: 'x' }, 'text', child): text is always text (no HTML is ever parsed). */
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'onclick') e.addEventListener('click', v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const k of kids.flat(Infinity)) if (k !== undefined && k !== null) e.append(k instanceof Node ? k : String(k));
    return e;
  }

  const badge = (status) => el('span', { class: `badge s-${status}` }, `${ICON[status] || ''} ${String(status).toUpperCase()}`);

  function left(iso) {
    const ms = Date.parse(iso) - (Date.now() + skew);
    const abs = Math.abs(ms);
    const text = abs >= 3_600_000 ? `${Math.floor(abs / 3_600_000)}h ${Math.floor((abs % 3_600_000) / 60_000)}m`
      : abs >= 60_000 ? `${Math.floor(abs / 60_000)}m ${Math.floor((abs % 60_000) / 1000)}s` : `${Math.floor(abs / 1000)}s`;
    return ms >= 0 ? `${text} left` : `${text} over`;
  }

  /** The 24 h bar (one character an hour, see agent/server-ui.ts) as an SVG image with a text equivalent. */
  function bar(code) {
    if (!code) return el('span', { class: 'muted' }, 'no history');
    const colours = { A: '#2e9e57', '.': '#9aa0a8' };
    let rects = '';
    let ok = 0;
    let seen = 0;
    [...code].forEach((c, i) => {
      const fill = colours[c] || (Number(c) >= 9 ? '#d9a21b' : '#d0312d');
      if (c !== '.') {
        seen++;
        ok += c === 'A' ? 1 : Number(c) / 10;
      }
      rects += `<rect x="${i * 8}" y="${c === '.' ? 6 : 0}" width="6" height="${c === '.' ? 4 : 16}" rx="1" fill="${fill}"/>`;
    });
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="192" height="16" viewBox="0 0 192 16">${rects}</svg>`;
    const pct = seen ? `about ${Math.round((ok / seen) * 100)} % of runs ok over the ${seen} hour(s) with runs` : 'no runs in 24 h';
    return el('img', { class: 'bar', src: `data:image/svg+xml,${encodeURIComponent(svg)}`, alt: `24 h availability: ${pct}`, title: `24 h: ${pct}` });
  }

  const fmtValue = (v) => (v ? `${v.field} = ${typeof v.value === 'number' ? Math.round(v.value * 1000) / 1000 : v.value}${v.unit ? ` ${v.unit}` : ''}` : '');

  function setView(...nodes) {
    $('view').replaceChildren(...nodes.flat(Infinity));
  }

  function showLogin(message) {
    clearTimeout(timer);
    $('login').hidden = false;
    $('login-error').textContent = message || '';
    $('summary').textContent = 'Sign in to see this agent.';
    setView();
    $('token').focus();
  }

  function checksTable(checks, pub) {
    const head = el('tr', {}, el('th', { scope: 'col' }, 'Status'), el('th', { scope: 'col' }, 'Check'),
      pub ? null : el('th', { scope: 'col' }, 'Value'), el('th', { scope: 'col' }, 'Last 24 h'), pub ? null : el('th', { scope: 'col' }, 'Message'));
    const rows = checks.map((c) => el('tr', { 'data-check': c.name },
      el('td', { class: 'c-status' }, badge(c.status)),
      el('td', { class: 'c-name' }, c.name),
      pub ? null : el('td', { class: 'value' }, fmtValue(c.value)),
      el('td', { class: 'c-bar' }, bar(c.bar)),
      pub ? null : el('td', { class: 'c-msg msg' }, c.message || '')));
    return el('table', { class: 'checks' }, el('thead', {}, head), el('tbody', {}, rows));
  }

  function groups(checks, pub) {
    const by = new Map();
    for (const c of checks) {
      if (!by.has(c.group)) by.set(c.group, []);
      by.get(c.group).push(c);
    }
    const names = [...by.keys()].sort((a, b) => (a === '') - (b === '') || a.localeCompare(b));
    return names.map((g) => el('section', { 'aria-label': g || 'Other checks' },
      names.length > 1 || g ? el('h3', {}, g || 'Other checks') : null, checksTable(by.get(g), pub)));
  }

  function summary(d) {
    const c = d.counts || d.checks.reduce((a, x) => ({ ...a, [x.status]: (a[x.status] || 0) + 1 }), {});
    const parts = ['critical', 'warning', 'unknown', 'ok', 'pending'].filter((s) => c[s]).map((s) => `${c[s]} ${s}`);
    return `${parts.join(', ') || 'no checks'}`;
  }

  function renderPublic(d) {
    $('title').textContent = d.title;
    document.title = `${d.title} status`;
    $('summary').textContent = summary(d);
    setView(el('h2', {}, 'Services'), groups(d.checks, true));
  }

  function renderPrivate(d) {
    $('title').textContent = d.title;
    document.title = `${d.title}: ${d.worst}`;
    $('summary').textContent = `${ICON[d.worst] || ''} ${d.worst.toUpperCase()}: ${summary(d)}`;
    $('agent').textContent = `${d.agent.name} · keepwatch ${d.agent.version}`;
    const parts = [];
    parts.push(el('h2', {}, `Open incidents (${d.incidents.length})`));
    if (d.incidents.length) {
      parts.push(el('table', { class: 'incidents' },
        el('thead', {}, el('tr', {}, ['Incident', 'Severity', 'State', 'Tier', 'Check', 'SLA'].map((h) => el('th', { scope: 'col' }, h)))),
        el('tbody', {}, d.incidents.map((i) => el('tr', { 'data-incident': i.id },
          el('td', {}, el('a', { href: `/incidents/${i.id}` }, `#${i.id} ${i.summary}`)),
          el('td', { 'data-label': 'Severity' }, badge(i.severity)),
          el('td', { 'data-label': 'State' }, i.state + (i.flapping ? ' (flapping)' : '')),
          el('td', { 'data-label': 'Tier' }, i.tier || '—'),
          el('td', { 'data-label': 'Check' }, i.check),
          el('td', { 'data-label': 'SLA', class: i.sla && i.sla.breached ? 'error' : '' }, i.sla ? `${i.sla.clock}: ${left(i.sla.due)}${i.sla.breached ? ' (breached)' : ''}` : '—'))))));
    } else parts.push(el('p', { class: 'muted' }, 'None.'));
    if (d.maintenance.length) {
      parts.push(el('h2', {}, 'Maintenance now'), el('ul', {}, d.maintenance.map((m) => el('li', {}, `${m.name}: until ${new Date(m.endsAt).toLocaleString()} (${m.covers.join(', ') || 'no checks'})`))));
    }
    if (d.silences.length) {
      parts.push(el('h2', {}, 'Silences'), el('ul', {}, d.silences.map((s) => el('li', {}, `${s.checks.join(', ') || JSON.stringify(s.labels)}: ${left(s.endsAt)}, by ${s.createdBy}: ${s.comment}`))));
    }
    parts.push(el('h2', {}, 'Checks'), groups(d.checks, false));
    const o = d.health.outbox;
    parts.push(el('h2', {}, 'Agent health'), el('ul', { class: 'health' },
      el('li', {}, o ? `Outbox: ${o.due} due, ${o.held} held${o.failing.length ? `; failing: ${o.failing.map((f) => `${f.notifier} (${f.count})`).join(', ')}` : ''}` : 'Outbox: no store'),
      el('li', {}, `Scheduler: ${d.health.lateChecks ? `${d.health.lateChecks} check(s) late, up to ${d.health.maxLateSeconds}s` : 'on time'}`)));
    setView(...parts);
  }

  function updated(ok) {
    $('updated').textContent = ok ? `Updated ${new Date().toLocaleTimeString()} · refreshes every ${POLL_MS / 1000}s` : 'Cannot reach the agent; retrying…';
  }

  async function poll(path, render) {
    clearTimeout(timer);
    if (document.hidden) {
      timer = setTimeout(() => poll(path, render), POLL_MS); // a hidden tab costs the agent nothing
      return;
    }
    try {
      const res = await api(path, { headers: etag ? { 'If-None-Match': etag } : {} });
      if (res.status === 401) return showLogin(token() ? 'That token was refused.' : '');
      if (res.status === 200) {
        etag = res.headers.get('ETag') || undefined;
        last = await res.json();
        render(last);
      } else if (res.status === 304 && last) render(last); // SLA clocks move on
      else if (res.status !== 304) throw new Error(await errorOf(res));
      updated(true);
    } catch {
      updated(false);
    }
    timer = setTimeout(() => poll(path, render), POLL_MS);
  }

  async function statusPage() {
    const res = await api('/api/v1/ui/config').catch(() => undefined);
    if (!res || !res.ok) {
      updated(false);
      timer = setTimeout(statusPage, POLL_MS);
      return;
    }
    const cfg = await res.json();
    if (cfg.public) return poll('/api/v1/public/status', renderPublic);
    if (cfg.tokenRequired && !token()) return showLogin('');
    return poll('/api/v1/ui/status', renderPrivate);
  }

  function actionForm(inc, reload) {
    const msg = el('p', { class: notice.cls, role: 'status', id: 'action-result' }, notice.text);
    const comment = el('input', { id: 'comment', type: 'text', maxlength: 2000, autocomplete: 'off' });
    const silenceFor = el('select', { id: 'silence-for' }, ['30m', '1h', '4h', '24h'].map((v) => el('option', { value: v }, v)));
    async function act(path, json, done) {
      msg.textContent = '';
      const res = await api(path, { method: 'POST', json });
      if (res.ok) {
        notice = { text: done, cls: 'ok-note' };
        return reload();
      }
      notice = { text: '', cls: 'ok-note' };
      if (res.status === 401) {
        sessionStorage.removeItem(KEY);
        shown = undefined;
        return showLogin('Acknowledge, resolve and silence need the admin token (api.token). Sign in with it, then press the button again.');
      }
      msg.className = 'error';
      msg.textContent = await errorOf(res);
    }
    const open = inc.state !== 'resolved';
    return el('section', { class: 'card', 'aria-labelledby': 'act-h' },
      el('h2', { id: 'act-h' }, 'Act'),
      el('label', { for: 'comment' }, 'Comment (optional for ack and resolve, required to silence)'), comment,
      el('div', { class: 'actions' },
        el('button', { type: 'button', id: 'ack', disabled: inc.state !== 'open', onclick: () => act(`/api/v1/incidents/${inc.id}/ack`, { by: 'status page', ...(comment.value && { comment: comment.value }) }, 'Acknowledged.') }, 'Acknowledge'),
        el('button', { type: 'button', id: 'resolve', disabled: !open, onclick: () => act(`/api/v1/incidents/${inc.id}/resolve`, { by: 'status page', ...(comment.value && { comment: comment.value }) }, 'Resolved.') }, 'Resolve'),
        el('span', {}, el('label', { for: 'silence-for' }, 'Silence for'), silenceFor),
        el('button', { type: 'button', class: 'secondary', id: 'silence', onclick: () => act('/api/v1/silences', { check: inc.check, for: silenceFor.value, comment: comment.value || `silenced from incident #${inc.id}`, createdBy: 'status page' }, `Silenced ${inc.check} for ${silenceFor.value}.`) }, `Silence ${inc.check}`)),
      msg);
  }

  async function incidentPage(id) {
    clearTimeout(timer);
    const res = await api(`/api/v1/incidents/${id}`).catch(() => undefined);
    if (!res) return updated(false);
    if (res.status === 401) return showLogin(token() ? 'That token was refused.' : '');
    if (!res.ok) {
      setView(el('p', { class: 'error' }, await errorOf(res)), el('a', { href: '/' }, 'Back to the status page'));
      return;
    }
    const text = await res.text();
    timer = setTimeout(() => incidentPage(id), POLL_MS);
    updated(true);
    if (text === shown) return;
    shown = text;
    const inc = JSON.parse(text);
    const keepComment = document.getElementById('comment')?.value;
    $('title').textContent = `Incident #${inc.id}`;
    document.title = `#${inc.id} ${inc.state}: ${inc.check}`;
    $('summary').textContent = `${inc.severity.toUpperCase()} · ${inc.state}: ${inc.summary}`;
    const sla = inc.sla || {};
    const facts = [['Check', `${inc.check} (${inc.type})`], ['Severity', badge(inc.severity)], ['State', inc.state + (inc.acknowledgedBy ? ` (acknowledged by ${inc.acknowledgedBy})` : '')],
      ['Tier', inc.tier || '—'], ['Opened', new Date(inc.openedAt).toLocaleString()],
      ['Respond by', sla.respondDue ? `${new Date(sla.respondDue).toLocaleString()} (${left(sla.respondDue)})${sla.respondBreached ? ' BREACHED' : ''}` : '—'],
      ['Resolve by', sla.resolveDue ? `${new Date(sla.resolveDue).toLocaleString()} (${left(sla.resolveDue)})${sla.resolveBreached ? ' BREACHED' : ''}` : '—']];
    setView(
      el('p', {}, el('a', { href: '/' }, '← All checks')),
      el('dl', { class: 'card' }, facts.map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])),
      actionForm(inc, () => incidentPage(id)),
      el('h2', {}, 'Timeline'),
      el('ol', { class: 'timeline' }, (inc.timeline || []).map((t) => el('li', {}, el('time', { datetime: t.at }, new Date(t.at).toLocaleString()), ` ${t.kind}: ${t.message}`))),
      el('h2', {}, 'Evidence'), el('pre', {}, JSON.stringify(inc.evidence ?? null, null, 2)),
      el('h2', {}, 'Diagnostic snapshot'), el('pre', {}, JSON.stringify(inc.snapshot ?? null, null, 2)),
      el('h2', {}, 'Notifications'),
      inc.notifications && inc.notifications.length
        ? el('ul', {}, inc.notifications.map((n) => el('li', {}, `${n.notifier} ${n.event}: ${n.state}${n.lastError ? ` (${n.lastError})` : ''}`)))
        : el('p', { class: 'muted' }, 'None (no notifier heard of it).'));
    if (keepComment) $('comment').value = keepComment;
  }

  function route() {
    $('login').hidden = true;
    $('signout').hidden = !token();
    const m = /^\/incidents\/(\d+)$/.exec(location.pathname);
    return m ? incidentPage(m[1]) : statusPage();
  }

  $('login').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = $('token').value.trim();
    if (!t) return;
    sessionStorage.setItem(KEY, t);
    $('token').value = '';
    etag = undefined;
    shown = undefined;
    route();
  });
  $('signout').addEventListener('click', () => {
    sessionStorage.removeItem(KEY);
    etag = undefined;
    last = undefined;
    shown = undefined;
    route();
  });
  route();
})();
