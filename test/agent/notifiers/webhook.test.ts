import crypto from 'node:crypto';
import { webhookNotifier, signature } from '../../../agent/notifiers/webhook';
import { sampleEvent as event, sendWith as send } from '../../helpers/notifiers';
import { startReceiver, type Receiver } from '../../helpers/servers';

let receiver: Receiver;
beforeAll(async () => {
  receiver = await startReceiver((_got, res) => res.writeHead(202, { 'Content-Type': 'application/json' }).end('{"status":"success"}'));
});
afterAll(() => receiver.close());
beforeEach(() => receiver.got.splice(0));

test('POSTs the event as is, with custom headers and a verifiable HMAC signature', async () => {
  const secret = 'a-shared-secret-of-32-characters';
  await send(webhookNotifier, { url: `${receiver.url}/hook`, headers: { 'X-Team': 'ops' }, secret }, event());
  const [r] = receiver.got;
  expect(r.path).toBe('/hook');
  expect(r.headers['content-type']).toBe('application/json');
  expect(r.headers['x-team']).toBe('ops');
  expect(r.body).toEqual(event());
  // How a receiver verifies: recompute over "<timestamp>.<raw body>", compare in constant time.
  const ts = r.headers['x-keepwatch-timestamp'] as string;
  expect(Math.abs(Number(ts) - Date.now() / 1000)).toBeLessThan(10);
  const expected = Buffer.from(`sha256=${crypto.createHmac('sha256', secret).update(`${ts}.${r.raw}`).digest('hex')}`);
  expect(crypto.timingSafeEqual(Buffer.from(r.headers['x-keepwatch-signature'] as string), expected)).toBe(true);
  expect(signature(secret, ts, `${r.raw} `)).not.toBe((r.headers['x-keepwatch-signature'] as string).slice(7));
});

test('unsigned without a secret', async () => {
  await send(webhookNotifier, { url: `${receiver.url}/hook` }, event());
  expect(receiver.got[0].headers['x-keepwatch-signature']).toBeUndefined();
});
