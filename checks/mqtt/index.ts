import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { MqttClient } from 'mqtt';
import { z } from 'zod';
import { classifyNetworkError, defineCheck, describeNetworkError, formatDuration, rootError, round, targetDown, type TargetFailure, type Value } from '../types';

const schema = z
  .strictObject({
    url: z
      .string()
      .refine((u) => /^(mqtts?|wss?):\/\/[^/]/i.test(u), { message: 'must be an mqtt://, mqtts://, ws:// or wss:// URL' })
      .refine((u) => !URL.canParse(u) || !new URL(u).password, { message: 'put the password in the password key (as ${VAR}), not in the url' })
      .describe('Broker URL: mqtt://host:1883, mqtts://host:8883, ws://host:8080/mqtt or wss://….'),
    username: z.string().min(1).optional().describe('User name, if the broker wants one.'),
    password: z.string().optional().describe('Password; write it as ${VAR} or ${file:/path}.'),
    insecure: z.boolean().default(false).describe('With mqtts:// or wss://: skip certificate verification.'),
  })
  .superRefine((s, ctx) => {
    if (s.password !== undefined && s.username === undefined) ctx.addIssue({ code: 'custom', message: 'password needs username', path: ['password'] });
  });

/** CONNACK return codes of MQTT 3.1.1 (and the v5 reason codes brokers send for the same). */
const CONNACK: Record<number, string> = {
  1: 'unacceptable protocol version',
  2: 'client identifier rejected',
  3: 'server unavailable',
  4: 'auth: bad username or password',
  5: 'auth: not authorized',
  134: 'auth: bad username or password',
  135: 'auth: not authorized',
};

/** Checks an MQTT broker: publishes with QoS 1 to a private topic it subscribed to and times the message's return. */
export const mqttCheck = defineCheck({
  type: 'mqtt',
  category: 'health',
  summary: 'Round-trips a QoS 1 message through an MQTT broker on a private topic and reports latency.',
  schema,
  fields: {
    connackMs: { type: 'number', unit: 'ms', help: 'Time from connecting to the broker\'s CONNACK: TCP, TLS with mqtts, and the MQTT handshake' },
    latencyMs: { type: 'number', unit: 'ms', help: 'Time from publishing (QoS 1) to receiving the message on the subscribed topic' },
  },
  defaults: { warn: ['latencyMs > 1s'] },
  async run({ name, spec, signal, timeoutMs }) {
    const target = describeTarget(spec.url);
    const values: Record<string, Value> = {};
    if (signal.aborted) return targetDown('timeout', `${target} did not connect within ${formatDuration(timeoutMs)}`);
    const mqtt = await import('mqtt');
    const nonce = randomBytes(8).toString('hex');
    const topic = `keepwatch/${topicLevel(os.hostname())}/${topicLevel(name)}/${nonce}`;
    const started = performance.now();
    const client: MqttClient = mqtt.connect(spec.url, {
      clientId: `keepwatch-${nonce}`,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: timeoutMs,
      keepalive: 0,
      username: spec.username,
      password: spec.password,
      rejectUnauthorized: !spec.insecure,
    });
    let stage: 'connect' | 'subscribe' | 'receive' = 'connect';
    try {
      const outcome = await new Promise<{ error?: unknown; aborted?: boolean }>((resolve) => {
        const finish = (o: { error?: unknown; aborted?: boolean }) => {
          signal.removeEventListener('abort', onAbort);
          resolve(o);
        };
        const onAbort = () => finish({ aborted: true });
        signal.addEventListener('abort', onAbort, { once: true });
        client.on('error', (error) => finish({ error }));
        client.on('close', () => finish({ error: stage === 'connect' ? Object.assign(new Error('connection closed before CONNACK'), { code: 'ECONNRESET' }) : new Error('broker closed the connection') }));
        let publishedAt = 0;
        client.on('message', (t, payload) => {
          if (t === topic && payload.toString() === nonce) {
            values.latencyMs = round(performance.now() - publishedAt, 3);
            finish({});
          }
        });
        client.once('connect', () => {
          values.connackMs = round(performance.now() - started, 3);
          stage = 'subscribe';
          client.subscribe(topic, { qos: 1 }, (err, granted) => {
            if (err) return finish({ error: err });
            if (granted?.[0] && granted[0].qos > 2) return finish({ error: new Error(`subscription to ${topic} refused (code ${granted[0].qos})`) });
            stage = 'receive';
            publishedAt = performance.now();
            client.publish(topic, nonce, { qos: 1 }, (perr) => {
              if (perr) finish({ error: perr });
            });
          });
        });
      });
      if (outcome.aborted || signal.aborted) {
        const what = stage === 'connect' ? 'did not connect' : stage === 'subscribe' ? 'did not confirm the subscription' : 'did not deliver the message back';
        return targetDown('timeout', `${target} ${what} within ${formatDuration(timeoutMs)}`, values);
      }
      if (outcome.error !== undefined) {
        const { failure, text } = classifyMqttError(outcome.error);
        return targetDown(failure, `${target}: ${text}`, values);
      }
      return { values, message: `${target} round trip in ${values.latencyMs} ms (CONNACK in ${values.connackMs} ms)` };
    } finally {
      client.removeAllListeners('message');
      client.on('error', () => {});
      client.end(true);
    }
  },
});

/** A name made safe as one topic level: no `/`, `+` or `#`. */
function topicLevel(s: string): string {
  return s.replace(/[/+#\s]/g, '_') || '_';
}

/** `scheme://host:port/path`, never the credentials. */
function describeTarget(url: string): string {
  if (!URL.canParse(url)) return url;
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
}

/** The failure reason and a one-line text for an error of the mqtt client. */
export function classifyMqttError(err: unknown): { failure: TargetFailure; text: string } {
  const e = rootError(err) as { code?: unknown; message?: string };
  if (typeof e?.code === 'number') {
    const text = CONNACK[e.code] ?? `connection refused by the broker (CONNACK code ${e.code})`;
    return { failure: 'error', text: `${text} (CONNACK ${e.code})` };
  }
  if (typeof e?.code === 'string') return { failure: classifyNetworkError(e), text: describeNetworkError(e) };
  const msg = String(e?.message ?? err).split('\n')[0];
  if (/connack timeout/i.test(msg)) return { failure: 'timeout', text: msg };
  return { failure: /closed/i.test(msg) ? 'refused' : 'error', text: msg };
}
