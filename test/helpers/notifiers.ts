import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { DEFAULT_TEMPLATES } from '../../agent/notifiers/render';
import type { IncidentEvent, NotifierDefinition } from '../../agent/notifiers/types';

/** An incident event as the outbox hands it to a notifier: a critical http check, with links and a snapshot. */
export function sampleEvent(over: Partial<IncidentEvent> = {}, inc: Partial<IncidentEvent['incident']> = {}): IncidentEvent {
  return {
    event: 'trigger',
    key: 'web-01:ab12cd34:7:1',
    agent: 'web-01',
    at: '2026-11-27T10:00:00.000Z',
    message: 'critical: api: 503 in 12 ms',
    incident: {
      id: 7,
      ref: 'web-01:ab12cd34:7',
      dedupKey: 'web-01/api',
      check: 'api',
      type: 'http',
      severity: 'critical',
      state: 'open',
      tier: 'L2',
      summary: '503 Service Unavailable in 12 ms (status != 200)',
      openedAt: '2026-11-27T09:58:00.000Z',
      flapping: false,
      labels: { team: 'payments', check: 'api', type: 'http', severity: 'critical' },
      values: { status: 503, latencyMs: 12 },
      respondDue: '2026-11-27T10:13:00.000Z',
      ...inc,
    },
    details: { snapshot: 'load 1.0/0.8/0.5 on 2 cores' },
    links: { incident: 'http://web-01:9470/api/v1/incidents/7', grafana: 'https://grafana.example/d/kw?var-check=api' },
    ...over,
  };
}

/** Delivers `e` with a notifier, its raw config parsed by the notifier's schema, the default templates and a 5 s deadline. */
export async function sendWith(def: NotifierDefinition<any>, raw: Record<string, unknown>, e: IncidentEvent): Promise<void> {
  await def.send(e, def.schema.parse(raw), { signal: AbortSignal.timeout(5000), templates: DEFAULT_TEMPLATES });
}

/** What a delivery threw (undefined when it succeeded). */
export function failureOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(() => undefined, (err: unknown) => err);
}

/** One mail an SMTP server accepted. */
export interface Mail {
  from: string;
  to: string[];
  data: string;
}

/** An SMTP server on 127.0.0.1:0 (smtp-server, no TLS) that keeps the mails it accepts. */
export interface TestSmtp {
  port: number;
  mails: Mail[];
  close(): Promise<void>;
}

/** An SMTP refusal: the reply code and text a hook answers with. */
export function smtpRefusal(code: number, text: string): Error {
  return Object.assign(new Error(text), { responseCode: code });
}

/**
 * Starts an SMTP server. It accepts user `keepwatch` with password `smtp-pass-9876` (any other
 * login gets 535) and anonymous senders; `refuse` may answer any recipient with a refusal,
 * seeing the login the session used.
 */
export async function startSmtp(refuse: (rcpt: string, login: string | undefined) => Error | undefined = () => undefined): Promise<TestSmtp> {
  const mails: Mail[] = [];
  const logins = new WeakMap<object, string>();
  const server = new SMTPServer({
    authOptional: true,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    onAuth(auth, session, cb) {
      if (auth.username !== 'keepwatch' || auth.password !== 'smtp-pass-9876') return cb(new Error('Invalid username or password'));
      logins.set(session, `${auth.username}:${auth.password}`);
      cb(null, { user: auth.username });
    },
    onRcptTo(address, session, cb) {
      cb(refuse(address.address, logins.get(session)) ?? undefined);
    },
    onData(stream, session, cb) {
      let data = '';
      stream.on('data', (c) => (data += c));
      stream.on('end', () => {
        const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        mails.push({ from, to: session.envelope.rcptTo.map((r) => r.address), data });
        cb();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.server.address() as AddressInfo).port,
    mails,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
