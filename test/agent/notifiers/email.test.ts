import { emailNotifier, messageId } from '../../../agent/notifiers/email';
import { failureOf, sampleEvent as event, sendWith as send, smtpRefusal, startSmtp, type TestSmtp } from '../../helpers/notifiers';
import { closedPort } from '../../helpers/servers';

let smtp: TestSmtp;
beforeAll(async () => {
  smtp = await startSmtp((rcpt) => (rcpt.startsWith('nobody@') ? smtpRefusal(550, 'no such user') : undefined));
});
afterAll(() => smtp.close());

test('sends subject and body from the templates, with the idempotency key in a header', async () => {
  await send(emailNotifier, { host: '127.0.0.1', port: smtp.port, from: 'keepwatch@example.com', to: ['oncall@example.com', 'lead@example.com'] }, event());
  const m = smtp.mails.at(-1)!;
  expect(m.from).toBe('keepwatch@example.com');
  expect(m.to).toEqual(['oncall@example.com', 'lead@example.com']);
  expect(m.data).toMatch(/^Subject: FIRING critical: api\r?$/m);
  expect(m.data).toMatch(/^X-Keepwatch-Key: web-01:ab12cd34:7:1\r?$/m);
  expect(m.data).toContain('503 Service Unavailable in 12 ms');
  expect(m.data).toMatch(/latencyMs: 12/);
});

test('authenticates; bad credentials are not retried and the error does not carry the password', async () => {
  await send(emailNotifier, { host: '127.0.0.1', port: smtp.port, username: 'keepwatch', password: 'smtp-pass-9876', from: 'k@example.com', to: ['a@example.com'] }, event());
  expect(smtp.mails.at(-1)?.to).toEqual(['a@example.com']);
  const err = await failureOf(send(emailNotifier, { host: '127.0.0.1', port: smtp.port, username: 'keepwatch', password: 'wrong-pass-5432', from: 'k@example.com', to: ['a@example.com'] }, event()));
  expect(err).toMatchObject({ retryable: false });
  expect(String((err as Error).message)).toMatch(/^SMTP: /);
  expect(String((err as Error).message)).not.toContain('wrong-pass-5432');
});

test('a permanent SMTP refusal is not retried; a dead server is', async () => {
  await expect(send(emailNotifier, { host: '127.0.0.1', port: smtp.port, from: 'k@example.com', to: ['nobody@example.com'] }, event())).rejects.toMatchObject({ retryable: false });
  await expect(send(emailNotifier, { host: '127.0.0.1', port: await closedPort(), from: 'k@example.com', to: ['a@example.com'] }, event())).rejects.toMatchObject({ retryable: true });
});

test.each([
  ['web-01:ab12cd34:7:1', '<web-01.ab12cd34.7.1@keepwatch>'],
  ['host name/ü:x::9', '<host.name/.x.9@keepwatch>'],
  [':::', '<event@keepwatch>'],
])('Message-ID from key %j', (key, id) => {
  expect(messageId(key)).toBe(id);
});
