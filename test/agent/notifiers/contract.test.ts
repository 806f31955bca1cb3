import fs from 'node:fs';
import path from 'node:path';
import { loadConfigText } from '../../../agent/config/load';
import { commonNotifierShape } from '../../../agent/config/schema';
import { notifierRegistry, notifierTypes } from '../../../agent/notifiers';
import { DEFAULT_TEMPLATES } from '../../../agent/notifiers/render';
import { NotifyError } from '../../../agent/notifiers/types';
import { packageRoot } from '../../../agent/paths';
import { setSecrets } from '../../../agent/secrets';
import { failureOf, sampleEvent, smtpRefusal, startSmtp, type TestSmtp } from '../../helpers/notifiers';
import { closedPort, startHttp, type TestServer } from '../../helpers/servers';

// The contract every notifier keeps, checked for each type the registry lists: a notifier
// added without a row here fails, rather than being left out of these tests.

const notifiersDir = path.join(packageRoot(), 'agent', 'notifiers');
const types = notifierTypes.map((n) => n.type);

test('folders, registry entries and READMEs match one to one', () => {
  const folders = fs.readdirSync(notifiersDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  expect([...types].sort()).toEqual(folders);
  expect(notifierRegistry.size).toBe(notifierTypes.length);
  for (const f of folders) {
    expect(fs.existsSync(path.join(notifiersDir, f, 'index.ts'))).toBe(true);
    expect(fs.existsSync(path.join(notifiersDir, f, 'README.md'))).toBe(true);
  }
});

test('the registry lists every provider module once', () => {
  expect([...types].sort()).toEqual(['alertmanager', 'email', 'opsgenie', 'pagerduty', 'slack', 'teams', 'webhook']);
});

describe.each(types)('%s', (type) => {
  const def = notifierRegistry.get(type)!;

  test('its README shows a config example, lists every key and shows what it sends', () => {
    const readme = fs.readFileSync(path.join(notifiersDir, type, 'README.md'), 'utf8');
    expect(readme).toMatch(new RegExp(`type: ${type}\\b`));
    for (const key of Object.keys(def.schema.shape)) expect([key, readme.includes(`| \`${key}\` |`)]).toEqual([key, true]);
    expect(readme).toMatch(/^## What it sends$/m);
  });

  test('its keys do not shadow the keys every notifier has', () => {
    expect(Object.keys(def.schema.shape).filter((k) => k in commonNotifierShape)).toEqual([]);
  });

  test('every config key is described (the JSON Schema and docs need it)', () => {
    for (const [key, schema] of Object.entries(def.schema.shape)) {
      expect([key, (schema as { description?: string }).description]).toEqual([key, expect.any(String)]);
    }
  });
});

/** Where a notifier under test finds its provider: an http:// base URL, or the port of an SMTP server on 127.0.0.1. */
interface Provider {
  url: string;
  smtpPort: number;
}

/**
 * Refusals and whether each is worth retrying. HTTP as Alertmanager's notify/util.go has it:
 * 5xx and 429 may succeed later, any other 4xx will not. SMTP by its own reply classes: a 4xx
 * is "try again later" (421 closing, 450/451 greylisting, 452 mailbox full), a 5xx is final.
 */
const HTTP_REFUSALS = [[500, true], [502, true], [503, true], [429, true], [400, false], [401, false], [403, false], [404, false]] as const;
const SMTP_REFUSALS = [[421, true], [450, true], [451, true], [452, true], [550, false], [553, false], [554, false]] as const;

interface Contract {
  transport: 'http' | 'smtp';
  /** The notifier's config, with secrets in it, for a provider. */
  config(p: Provider): Record<string, unknown>;
  /** The secret values that config holds: none may appear in an error, whatever the provider echoes. */
  secrets: string[];
  refusals: typeof HTTP_REFUSALS | typeof SMTP_REFUSALS;
  /** `honoured`: a refusal's Retry-After is kept in the error for the outbox; otherwise why it does not apply. */
  retryAfter: 'honoured' | string;
}

/** http://user:pass@host:port from a base URL. */
const withCredentials = (url: string, user: string, pass: string) => url.replace('://', `://${user}:${pass}@`);

const contracts: Record<string, Contract> = {
  alertmanager: {
    transport: 'http',
    config: (p) => ({ urls: [withCredentials(p.url, 'am', 'url-secret-1234')] }),
    // The credentials go as a Basic header: its base64 is as much a secret.
    secrets: ['url-secret-1234', Buffer.from('am:url-secret-1234').toString('base64')],
    refusals: HTTP_REFUSALS,
    retryAfter: 'honoured',
  },
  email: {
    transport: 'smtp',
    config: (p) => ({ host: '127.0.0.1', port: p.smtpPort, username: 'keepwatch', password: 'smtp-pass-9876', from: 'k@example.com', to: ['a@example.com'] }),
    secrets: ['smtp-pass-9876'],
    refusals: SMTP_REFUSALS,
    retryAfter: 'SMTP replies carry no Retry-After: the outbox backs off on its own',
  },
  opsgenie: {
    transport: 'http',
    config: (p) => ({ apiKey: 'api-secret-5678', url: p.url }),
    secrets: ['api-secret-5678'],
    refusals: HTTP_REFUSALS,
    retryAfter: 'honoured',
  },
  pagerduty: {
    transport: 'http',
    config: (p) => ({ routingKey: 'routing-secret-5678', url: `${p.url}/v2/enqueue` }),
    secrets: ['routing-secret-5678'],
    refusals: HTTP_REFUSALS,
    retryAfter: 'honoured',
  },
  slack: {
    transport: 'http',
    config: (p) => ({ url: `${p.url}/services/T0/B0/url-secret-1234` }),
    secrets: ['url-secret-1234'],
    refusals: HTTP_REFUSALS,
    retryAfter: 'honoured',
  },
  teams: {
    transport: 'http',
    config: (p) => ({ url: `${p.url}/workflows/url-secret-1234` }),
    secrets: ['url-secret-1234'],
    refusals: HTTP_REFUSALS,
    retryAfter: 'honoured',
  },
  webhook: {
    transport: 'http',
    config: (p) => ({ url: `${p.url}/hook?token=url-secret-1234`, headers: { Authorization: 'Bearer header-secret-5678' } }),
    secrets: ['url-secret-1234', 'header-secret-5678'],
    refusals: HTTP_REFUSALS,
    retryAfter: 'honoured',
  },
};

test('every registered notifier has a contract row', () => {
  expect(Object.keys(contracts).sort()).toEqual([...types].sort());
});

// The refusal to give, and what the provider echoed in it (to prove the echo held a secret).
let refusal = 0;
let echoes: string[] = [];
let http: TestServer;
let smtp: TestSmtp;
beforeAll(async () => {
  // A provider that refuses with the request in its answer: the path, the Authorization it
  // got and the body, as a careless receiver's error page does.
  http = await startHttp((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const echo = `${req.url} ${req.headers.authorization ?? ''} ${raw}`;
      echoes.push(echo);
      res.writeHead(refusal, { 'Content-Type': 'text/plain', 'Retry-After': '30' }).end(echo);
    });
  });
  smtp = await startSmtp((_rcpt, login) => {
    const text = `refused for ${login}`;
    echoes.push(text);
    return smtpRefusal(refusal, text);
  });
});
afterAll(async () => {
  await http.close();
  await smtp.close();
});
beforeEach(() => {
  echoes = [];
});
afterEach(() => setSecrets([]));

/** The notifier's spec as the agent loads it, with the config's secrets set for scrubbing as at start. */
function load(type: string, p: Provider) {
  const entry = JSON.stringify({ name: 'n', type, ...contracts[type].config(p) });
  const config = loadConfigText(`checks: [{ name: api, type: tcp, host: 127.0.0.1, port: 9 }]\nnotifiers: [${entry}]\n`, 'kw.yaml');
  setSecrets(config.secrets);
  return { spec: config.notifiers.get('n')!.spec, secrets: config.secrets };
}

const provider = (): Provider => ({ url: http.url, smtpPort: smtp.port });
const send = (type: string, spec: unknown) =>
  failureOf(notifierRegistry.get(type)!.send(sampleEvent(), spec as never, { signal: AbortSignal.timeout(5000), templates: DEFAULT_TEMPLATES }));

describe.each(types)('%s', (type) => {
  const c = contracts[type];

  test('the config loader knows its secrets as secrets', () => {
    const { secrets } = load(type, provider());
    for (const s of c.secrets) expect([s, secrets.some((known) => known.includes(s))]).toEqual([s, true]);
  });

  test(`${c?.transport} refusals: ${c?.refusals.map(([code, retry]) => `${code} ${retry ? 'retried' : 'final'}`).join(', ')}; the error holds no secret the provider echoed`, async () => {
    const { spec } = load(type, provider());
    for (const [code, retryable] of c.refusals) {
      refusal = code;
      echoes = [];
      const err = await send(type, spec);
      expect(err).toBeInstanceOf(NotifyError);
      expect([code, (err as NotifyError).retryable]).toEqual([code, retryable]);
      expect(c.secrets.filter((s) => echoes.some((e) => e.includes(s)))).not.toEqual([]);
      expect(c.secrets.filter((s) => (err as Error).message.includes(s))).toEqual([]);
    }
  });

  test('a provider that cannot be reached is retried; the error holds no secret', async () => {
    const port = await closedPort();
    const { spec } = load(type, { url: `http://127.0.0.1:${port}`, smtpPort: port });
    const err = await send(type, spec);
    expect(err).toBeInstanceOf(NotifyError);
    expect((err as NotifyError).retryable).toBe(true);
    expect(c.secrets.filter((s) => (err as Error).message.includes(s))).toEqual([]);
  });

  test(`Retry-After: ${c?.retryAfter}`, async () => {
    const { spec } = load(type, provider());
    refusal = c.refusals.find(([, retry]) => retry)![0];
    const err = await send(type, spec);
    expect((err as NotifyError).retryAfterMs).toBe(c.retryAfter === 'honoured' ? 30_000 : undefined);
  });
});
