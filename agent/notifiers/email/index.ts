import nodemailer from 'nodemailer';
import { z } from 'zod';
import { describeNetworkError } from '../../../checks/types';
import { render, type Templates } from '../render';
import { scrub, scrubAndCut } from '../../secrets';
import { defineNotifier, NotifyError, type IncidentEvent } from '../types';

/**
 * The mail for an event: subject from the title template, plain text from the text template.
 * SMTP has no de-duplication; the idempotency key is in X-Keepwatch-Key and makes the
 * Message-ID, so a repeat after a crash has the same one (some mailboxes fold those, and a
 * filter can drop them).
 */
export function emailMessage(e: IncidentEvent, t: Templates, from: string, to: string[]) {
  const values = Object.entries(e.incident.values).map(([k, v]) => `  ${k}: ${v}`).join('\n');
  return {
    from,
    to: to.join(', '),
    subject: scrubAndCut(render(t.title, e).replace(/\s+/g, ' '), 200),
    text: `${render(t.text, e)}\n\n${values ? `values:\n${values}\n\n` : ''}incident ${e.incident.id} (${e.incident.ref}), ${e.event} at ${e.at}\n`,
    messageId: messageId(e.key),
    headers: { 'X-Keepwatch-Key': e.key, 'X-Keepwatch-Incident': e.incident.ref },
  };
}

/** A Message-ID made from an idempotency key: `<web-01.9f3a2b1c.42.1@keepwatch>` (RFC 5322 dot-atoms). */
export function messageId(key: string): string {
  const left = key.replace(/[^A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+/g, '.').replace(/^\.+|\.+$/g, '') || 'event';
  return `<${left}@keepwatch>`;
}

/**
 * SMTP failures that trying again can mend: connection problems and 4xx replies (greylisting,
 * mailbox busy, 421 closing), at any stage; 5xx replies (no such user, relaying denied, bad
 * credentials) will not. SMTP's 4xx is what HTTP's 429 and 5xx are to the other notifiers.
 */
function retryableSmtp(err: unknown): boolean {
  const { responseCode: code, code: kind } = err as { responseCode?: number; code?: string };
  // The server's reply decides when there is one: nodemailer files a 451 to RCPT TO under
  // EENVELOPE and one after DATA under EMESSAGE, and greylisting answers exactly so.
  if (code !== undefined) return code < 500;
  // No reply: missing credentials or a message nodemailer refuses to build will not get
  // better by waiting.
  return kind !== 'EAUTH' && kind !== 'EENVELOPE' && kind !== 'EMESSAGE';
}

/** Sends mail over SMTP (nodemailer). */
export const emailNotifier = defineNotifier({
  type: 'email',
  summary: 'Sends mail over SMTP.',
  schema: z.strictObject({
    host: z.string().min(1).describe('SMTP server.'),
    port: z.number().int().min(1).max(65535).default(587).describe('SMTP port (587 submission with STARTTLS, 465 TLS, 25).'),
    secure: z.boolean().default(false).describe('TLS from the start (port 465); otherwise STARTTLS when offered.'),
    requireTls: z.boolean().default(false).describe('Refuse to send unless STARTTLS succeeds.'),
    insecure: z.boolean().default(false).describe('Skip TLS certificate verification.'),
    username: z.string().optional().describe('SMTP user.'),
    password: z.string().optional().describe('SMTP password (use ${SMTP_PASSWORD}).'),
    from: z.string().min(3).describe('Sender address, e.g. "keepwatch <keepwatch@example.com>".'),
    to: z.array(z.string().min(3)).min(1).describe('Recipients.'),
  }),
  async send(event, spec, { signal, templates }) {
    const transport = nodemailer.createTransport({
      host: spec.host,
      port: spec.port,
      secure: spec.secure,
      requireTLS: spec.requireTls,
      tls: { rejectUnauthorized: !spec.insecure },
      auth: spec.username ? { user: spec.username, pass: spec.password ?? '' } : undefined,
      connectionTimeout: 15_000,
      socketTimeout: 30_000,
    });
    const onAbort = () => transport.close();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await transport.sendMail(emailMessage(event, templates, spec.from, spec.to));
    } catch (err) {
      // A server may echo what it got (the user, the password) in its refusal.
      throw new NotifyError(`SMTP: ${scrub(describeNetworkError(err), spec.password ? [spec.password] : [])}`, retryableSmtp(err), { cause: err });
    } finally {
      signal.removeEventListener('abort', onAbort);
      transport.close();
    }
  },
});
