/**
 * A trace-level run with every kind of secret the config can hold: the agent's logs, its API
 * answers, incident timelines, diagnostic snapshots, the pages it sends and every file of its
 * SQLite store must contain none of them, whole or in part.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { SMTPServer } from 'smtp-server';
import { eventually, startDaemon, tempDir, type Daemon } from '../helpers/daemon';
import { startHttp, startReceiver, type Receiver, type TestServer } from '../helpers/servers';

/** Secrets of one kind each: random, so that no piece of one turns up by chance. */
const S = Object.fromEntries(
  [
    'apiToken', 'readToken', 'metricsPass', 'checkBearer', 'dbPassword', 'fileSecret', 'urlPass', 'queryKey',
    'hookSecret', 'hookUrlPass', 'hookBearer', 'pdKey', 'genieKey', 'slackPath', 'teamsPath', 'smtpPass', 'remedyToken', 'remedyArg',
  ].map((k) => [k, `${k.slice(0, 2)}${crypto.randomBytes(18).toString('base64url').replace(/[-_]/g, 'x')}`]),
) as Record<string, string>;

/** Every 8-character piece of a secret: none may appear anywhere. */
function pieces(secret: string, size = 8): string[] {
  const out: string[] = [];
  for (let i = 0; i + size <= secret.length; i++) out.push(secret.slice(i, i + size));
  return out;
}

/** Where a piece of a secret was found, for a readable failure. */
function leaks(where: string, text: string, secrets: Record<string, string>): string[] {
  const found: string[] = [];
  for (const [kind, value] of Object.entries(secrets)) {
    const piece = pieces(value).find((p) => text.includes(p));
    if (piece) {
      const at = text.indexOf(piece);
      found.push(`${where}: ${kind} (${piece}) in …${text.slice(Math.max(0, at - 60), at + 40).replace(/\s+/g, ' ')}…`);
    }
  }
  return found;
}

describe('secrets at trace level', () => {
  let target: TestServer;
  let receiver: Receiver<unknown>;
  let smtp: SMTPServer;
  let smtpPort: number;
  let daemon: Daemon | undefined;
  const tmp = tempDir();
  const mails: string[] = [];
  let hookCalls = 0;

  beforeAll(async () => {
    // The check's target fails and echoes what it was sent, so the secrets come back inside
    // values the check extracts (json paths) and in the message.
    target = await startHttp((req, res) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ auth: req.headers.authorization, other: req.headers['x-other'], file: req.headers['x-file'], url: req.url, status: `DOWN ${req.headers.authorization}` }));
    });
    // One receiver for every notifier. The webhook's first answers are 500s that echo its
    // credentials, as a misconfigured proxy would: the error the agent records must not hold them.
    receiver = await startReceiver<unknown>(({ path: url, headers }, res) => {
      if (url.startsWith('/hook') && ++hookCalls <= 2) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`upstream said no to ${headers.authorization} ${headers['x-keepwatch-signature'] ?? ''}`);
        return;
      }
      res.writeHead(url.startsWith('/v2/') ? 202 : 200, { 'content-type': 'application/json' });
      res.end(url.startsWith('/v2/') ? '{"status":"success","message":"Event processed"}' : 'ok');
    });
    smtp = new SMTPServer({
      authOptional: false,
      allowInsecureAuth: true,
      disabledCommands: ['STARTTLS'],
      onAuth(auth, _session, cb) {
        if (auth.username === 'keepwatch' && auth.password === S.smtpPass) cb(null, { user: 'keepwatch' });
        else cb(new Error(`Invalid login ${auth.password}`));
      },
      onData(stream, _session, cb) {
        let data = '';
        stream.on('data', (c) => (data += c));
        stream.on('end', () => {
          mails.push(data);
          cb();
        });
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
    smtpPort = (smtp.server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await daemon?.stop();
    await target?.close();
    await receiver?.close();
    await new Promise<void>((resolve) => smtp.close(() => resolve()));
    tmp.cleanup();
  });

  test('no secret, whole or in part, in logs, API answers, timelines, snapshots, pages or the store', async () => {
    const secretFile = path.join(tmp.dir, 'x-file-secret');
    fs.writeFileSync(secretFile, `${S.fileSecret}\n`);
    const dataDir = path.join(tmp.dir, 'data');
    const rx = `127.0.0.1:${receiver.port}`;
    const config = `
agent: { name: leaky-host, listen: "127.0.0.1:0", dataDir: ${JSON.stringify(dataDir)}, logLevel: trace }
api:
  token: "\${KW_API_TOKEN}"
  readToken: "\${KW_READ_TOKEN}"
  metrics: { auth: basic, username: scraper, password: "\${METRICS_PASSWORD}" }
incidents: { openAfter: 1, resolveAfter: 1, snapshots: true }
notifications:
  links: { agent: "http://127.0.0.1:9470" }
notifiers:
  - name: hook
    type: webhook
    url: "http://hookuser:\${HOOK_URL_PASSWORD}@${rx}/hook"
    headers: { X-Api-Key: "\${HOOK_API_TOKEN}" }
    secret: "\${HOOK_SECRET}"
  - { name: pd, type: pagerduty, routingKey: "\${PD_ROUTING_KEY}", url: "http://${rx}/v2/enqueue" }
  - { name: genie, type: opsgenie, apiKey: "\${OPSGENIE_API_KEY}", url: "http://${rx}" }
  - { name: chat, type: slack, url: "http://${rx}/services/T000/B000/\${SLACK_WEBHOOK_TOKEN}" }
  - { name: teams, type: teams, url: "http://${rx}/workflows/\${TEAMS_WEBHOOK_TOKEN}" }
  - { name: mail, type: email, host: 127.0.0.1, port: ${smtpPort}, username: keepwatch, password: "\${SMTP_PASSWORD}", from: "kw@example.com", to: [ops@example.com] }
checks:
  - name: leaky
    type: http
    url: "http://probe:\${URL_PASSWORD}@127.0.0.1:${target.port}/health?api_key=\${QUERY_API_KEY}"
    every: 1s
    headers:
      Authorization: "Bearer \${CHECK_TOKEN}"
      X-Other: "\${MY_DB_PASSWORD}"
      X-File: "\${file:${secretFile}}"
    json: { echoAuth: $.auth, echoOther: $.other, echoFile: $.file, echoUrl: $.url, state: $.status }
    crit: "status != 200"
    remediate:
      actions:
        - command: ["/bin/sh", "-c", "echo fixing with $REMEDY_TOKEN and $1; exit 1", "sh", "--token=\${REMEDY_ARG_TOKEN}"]
          env: { REMEDY_TOKEN: "\${REMEDY_TOKEN}" }
      limit: { max: 1, within: 1h }
`;
    const configFile = path.join(tmp.dir, 'keepwatch.yaml');
    fs.writeFileSync(configFile, config);
    daemon = await startDaemon(['--config', configFile], {
      env: {
        KW_API_TOKEN: S.apiToken,
        KW_READ_TOKEN: S.readToken,
        METRICS_PASSWORD: S.metricsPass,
        CHECK_TOKEN: S.checkBearer,
        MY_DB_PASSWORD: S.dbPassword,
        URL_PASSWORD: S.urlPass,
        QUERY_API_KEY: S.queryKey,
        HOOK_SECRET: S.hookSecret,
        HOOK_URL_PASSWORD: S.hookUrlPass,
        HOOK_API_TOKEN: S.hookBearer,
        PD_ROUTING_KEY: S.pdKey,
        OPSGENIE_API_KEY: S.genieKey,
        SLACK_WEBHOOK_TOKEN: S.slackPath,
        TEAMS_WEBHOOK_TOKEN: S.teamsPath,
        SMTP_PASSWORD: S.smtpPass,
        REMEDY_TOKEN: S.remedyToken,
        REMEDY_ARG_TOKEN: S.remedyArg,
      },
    });
    const d = daemon;
    const read = { authorization: `Bearer ${S.readToken}` };
    const get = async (p: string, headers: Record<string, string> = read) => {
      const res = await fetch(`${d.base}${p}`, { headers });
      return { status: res.status, text: await res.text() };
    };

    // The incident opens, L1 runs (and fails, so the pages go out), every notifier is reached,
    // the webhook after two echoed 500s.
    await eventually(async () => JSON.parse((await get('/api/v1/incidents')).text).incidents.length > 0, 30_000, 'an incident');
    await eventually(async () => {
      const paths = receiver.got.map((r) => r.path);
      return hookCalls >= 3 && ['/v2/enqueue', '/v2/alerts', '/services/', '/workflows/'].every((p) => paths.some((x) => x.startsWith(p))) && mails.length > 0;
    }, 60_000, 'every notifier to be reached');
    // An ack with a comment and a silence through the API, then a resolve: more timeline entries.
    const admin = { authorization: `Bearer ${S.apiToken}`, 'content-type': 'application/json' };
    const ack = await fetch(`${d.base}/api/v1/incidents/1/ack`, { method: 'POST', headers: admin, body: JSON.stringify({ by: 'alice', comment: 'looking' }) });
    expect(ack.status).toBe(200);
    const silence = await fetch(`${d.base}/api/v1/silences`, { method: 'POST', headers: admin, body: JSON.stringify({ checks: ['leaky'], for: '1h', comment: 'quiet' }) });
    expect(silence.status).toBeLessThan(300);

    const outputs: Record<string, string> = {};
    for (const p of ['/api/v1/incidents', '/api/v1/incidents/1', '/api/v1/checks', '/api/v1/checks/leaky', '/api/v1/silences', '/api/v1/kpis']) {
      const r = await get(p);
      expect(r.status).toBe(200);
      outputs[p] = r.text;
    }
    const metrics = await get('/metrics', { authorization: `Basic ${Buffer.from(`scraper:${S.metricsPass}`).toString('base64')}` });
    expect(metrics.status).toBe(200);
    outputs['/metrics'] = metrics.text;
    const refused = await get('/api/v1/incidents', { authorization: `Bearer ${S.apiToken}x` });
    outputs['401 answer'] = refused.text;

    // What the run must have produced, so the scan below looks at real material: values
    // extracted from the echo, a timeline with L1's output and the snapshot, failed deliveries.
    const incident = JSON.parse(outputs['/api/v1/incidents/1']);
    const timeline = JSON.stringify(incident.timeline ?? incident);
    expect(timeline).toMatch(/remediat/i);
    expect(timeline).toMatch(/fixing with/);
    expect(timeline).toMatch(/snapshot/i);
    expect(timeline).toMatch(/500/);
    expect(JSON.stringify(incident)).toMatch(/echoAuth|Bearer/);

    await d.stop();
    expect(await d.exited).toBe(0);

    const found: string[] = [];
    found.push(...leaks('log', d.logs.join('\n'), S));
    for (const [p, text] of Object.entries(outputs)) found.push(...leaks(`GET ${p}`, text, S));
    for (const f of fs.readdirSync(dataDir)) {
      const file = path.join(dataDir, f);
      if (fs.statSync(file).isFile()) found.push(...leaks(`store ${f}`, fs.readFileSync(file).toString('latin1'), S));
    }
    // What the agent sends: a page carries its own notifier's credential (that is how it
    // authenticates), never a secret of the check it reports on.
    const checkSecrets = { checkBearer: S.checkBearer, dbPassword: S.dbPassword, fileSecret: S.fileSecret, urlPass: S.urlPass, queryKey: S.queryKey, remedyToken: S.remedyToken, remedyArg: S.remedyArg, apiToken: S.apiToken, readToken: S.readToken };
    for (const r of receiver.got) found.push(...leaks(`page to ${r.path.replace(/\/(services|workflows)\/.*/, '/$1/…')}`, r.raw, checkSecrets));
    for (const m of mails) found.push(...leaks('mail', m, checkSecrets));
    // Credentials derived from URLs (the base64 of user:password a client sends) are secrets too.
    const derived = {
      hookBasic: Buffer.from(`hookuser:${S.hookUrlPass}`).toString('base64'),
      probeBasic: Buffer.from(`probe:${S.urlPass}`).toString('base64'),
    };
    found.push(...leaks('log (derived)', d.logs.join('\n'), derived));
    for (const [p, text] of Object.entries(outputs)) found.push(...leaks(`GET ${p} (derived)`, text, derived));
    for (const f of fs.readdirSync(dataDir)) {
      const file = path.join(dataDir, f);
      if (fs.statSync(file).isFile()) found.push(...leaks(`store ${f} (derived)`, fs.readFileSync(file).toString('latin1'), derived));
    }
    console.log(`reliability: secrets ${Object.keys(S).length} kinds, ${d.logs.length} trace log lines, ${Object.keys(outputs).length} API answers, ${receiver.got.length + mails.length} pages scanned, ${found.length} leaks`);
    expect(found).toEqual([]);
  });
});
