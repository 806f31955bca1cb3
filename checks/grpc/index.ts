import { z } from 'zod';
import { classifyNetworkError, defineCheck, formatDuration, readConfiguredFile, round, targetDown, type FieldSpec, type TargetFailure, type Value } from '../types';

/** Largest `caFile` read: a bundle of CA certificates (the whole Mozilla bundle is about 220 KB). */
const CA_FILE_MAX_BYTES = 1024 * 1024;

/** The method every standard health service answers (grpc/grpc doc/health-checking.md). */
const CHECK_PATH = '/grpc.health.v1.Health/Check';

/** HealthCheckResponse.ServingStatus, by number. */
const SERVING_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] as const;
const SERVICE_UNKNOWN = 3;

/** gRPC status codes used below (grpc-js `status`), kept here so the module needs no driver to load. */
const GRPC = { CANCELLED: 1, UNKNOWN: 2, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, PERMISSION_DENIED: 7, UNIMPLEMENTED: 12, UNAVAILABLE: 14, UNAUTHENTICATED: 16 } as const;

/** The codes of a call the server never answered (its connection may be half set up). */
const NO_ANSWER = new Set<number>([GRPC.CANCELLED, GRPC.DEADLINE_EXCEEDED, GRPC.UNAVAILABLE]);

/** Longest part of a server's error text put in a message. */
const MAX_DETAILS = 200;

/** `host:port`, `[v6]:port`; the port 1 to 65535. */
const TARGET = /^(\[[0-9A-Fa-f:.]+\]|[^\s:/[\]]+):(\d{1,5})$/;

/** Metadata keys gRPC accepts as text headers; `grpc-` is reserved and `-bin` keys carry bytes. */
const METADATA_KEY = /^[a-z0-9_.-]+$/;

const schema = z
  .strictObject({
    target: z
      .string()
      .regex(TARGET, { message: 'must be host:port (an IPv6 address in brackets: [::1]:50051)' })
      .refine((t) => { const p = Number(TARGET.exec(t)?.[2]); return p >= 1 && p <= 65535; }, { message: 'port must be 1 to 65535' })
      .describe('Server to ask, as host:port ([::1]:50051 for IPv6).'),
    service: z.string().default('').describe('Service name to ask about (e.g. "shop.Cart"); empty (the default) asks about the server as a whole.'),
    tls: z.boolean().default(false).describe('Connect with TLS; latencyMs then includes the handshake.'),
    caFile: z.string().min(1).optional().describe('With tls: PEM file of CA certificates to trust instead of the built-in ones (at most 1 MiB).'),
    serverName: z.string().min(1).optional().describe('With tls: name verified against the certificate and sent as SNI and :authority (default: the target host).'),
    insecure: z.boolean().default(false).describe('With tls: skip certificate verification.'),
    metadata: z
      .record(
        z.string().transform((k) => k.toLowerCase()).refine((k) => METADATA_KEY.test(k) && !k.startsWith('grpc-') && !k.endsWith('-bin'), {
          message: 'metadata keys are letters, digits, "-", "_" and "."; not grpc-* nor *-bin',
        }),
        z.string(),
      )
      .default({})
      .describe('Metadata (headers) sent with the call, e.g. authorization: "Bearer ${TOKEN}"; values under secret-looking names are scrubbed from logs.'),
  })
  .superRefine((s, ctx) => {
    for (const key of ['caFile', 'serverName', 'insecure'] as const) {
      if (s[key] && !s.tls) ctx.addIssue({ code: 'custom', message: `${key} applies only with tls: true`, path: [key] });
    }
  });

type GrpcSpec = z.output<typeof schema>;

const FIELDS: Record<string, FieldSpec> = {
  latencyMs: { type: 'number', unit: 'ms', help: 'Time of the Health/Check call: connecting (and the TLS handshake with tls) plus the answer' },
  status: { type: 'string', help: 'Serving status the server reported: SERVING, NOT_SERVING, UNKNOWN or SERVICE_UNKNOWN', reason: 'status' },
  serving: { type: 'boolean', help: 'Whether the status is SERVING', reason: 'status' },
  statusCode: { type: 'number', unit: 'none', help: 'Serving status as its number in grpc.health.v1 (0 UNKNOWN, 1 SERVING, 2 NOT_SERVING, 3 SERVICE_UNKNOWN)', reason: 'status' },
};

/** Asks a gRPC server the standard health question (grpc.health.v1.Health/Check). */
export const grpcCheck = defineCheck({
  type: 'grpc',
  category: 'health',
  summary: 'Calls the standard gRPC health service (grpc.health.v1.Health/Check), plain or TLS, for the server or one service; SERVING is ok.',
  schema,
  fields: FIELDS,
  defaults: { crit: ['serving == false'] },
  async run({ spec, signal, timeoutMs }) {
    const what = spec.service === '' ? spec.target : `${spec.target} service ${JSON.stringify(spec.service)}`;
    const ca = spec.caFile !== undefined ? await readConfiguredFile('grpc', 'caFile', spec.caFile, CA_FILE_MAX_BYTES) : undefined;
    if (signal.aborted) return targetDown('timeout', `${what}: no answer within ${formatDuration(timeoutMs)}`);
    const grpc = await import('@grpc/grpc-js');

    const sockets = new Set<{ destroy(): void }>();
    const credentials = trackSockets(
      spec.tls
        ? grpc.credentials.createSsl(ca !== undefined ? Buffer.from(ca) : null, null, null, spec.insecure ? { rejectUnauthorized: false, checkServerIdentity: () => undefined } : {})
        : grpc.credentials.createInsecure(),
      sockets,
    );
    const options: Record<string, string | number> = {
      // A channel of its own per run: nothing is shared with (or kept for) another run.
      'grpc.use_local_subchannel_pool': 1,
      'grpc.enable_retries': 0,
      'grpc.max_receive_message_length': 4096,
    };
    if (spec.serverName !== undefined) {
      options['grpc.ssl_target_name_override'] = spec.serverName;
      options['grpc.default_authority'] = spec.serverName;
    }
    const Health = grpc.makeGenericClientConstructor(
      {
        Check: {
          path: CHECK_PATH,
          requestStream: false,
          responseStream: false,
          requestSerialize: encodeRequest,
          requestDeserialize: (b: Buffer) => b,
          responseSerialize: (b: Buffer) => b,
          // An object, not the bare number: grpc-js takes a falsy message (0, UNKNOWN) for none.
          responseDeserialize: (b: Buffer) => ({ status: decodeResponse(b) }),
        },
      },
      'Health',
    );
    const client = new Health(spec.target, credentials, options);
    const metadata = new grpc.Metadata();
    for (const [k, v] of Object.entries(spec.metadata)) metadata.set(k, v);

    const started = performance.now();
    let call: { cancel(): void } | undefined;
    let answered = false;
    const onAbort = () => call?.cancel();
    try {
      const outcome = await new Promise<{ status?: number; error?: { code?: number; details?: string; message?: string } }>((resolve) => {
        signal.addEventListener('abort', onAbort, { once: true });
        call = (client as unknown as Record<string, Function>).Check(
          spec.service,
          metadata,
          { deadline: Date.now() + timeoutMs },
          (err: { code?: number; details?: string } | null, res?: { status: number }) => resolve(err ? { error: err } : { status: res?.status }),
        ) as { cancel(): void };
        if (signal.aborted) call.cancel();
      });
      answered = outcome.error === undefined || !NO_ANSWER.has(outcome.error.code ?? -1);
      const latencyMs = round(performance.now() - started, 3);
      if (outcome.error === undefined) return served(what, outcome.status ?? 0, latencyMs);
      const e = outcome.error;
      // The reference health servers answer NOT_FOUND for a service they do not know.
      if (e.code === GRPC.NOT_FOUND) return served(what, SERVICE_UNKNOWN, latencyMs);
      const [failure, why] = classify(e, signal.aborted, timeoutMs);
      return targetDown(failure, `${what}: ${why}`, { latencyMs });
    } finally {
      signal.removeEventListener('abort', onAbort);
      client.close();
      // close() ends an HTTP/2 session gracefully, but leaves one still waiting for the server's
      // settings (a server that accepted and says nothing) open until grpc-js gives up on it.
      // Only a run that got no answer can hold one; destroying the socket under a live session
      // that close() is already ending can crash Node's http2 (seen on Node 20).
      if (!answered) for (const socket of sockets) socket.destroy();
    }
  },
});

/**
 * The channel credentials, made to keep every socket the channel opens in `sockets`, so that
 * the run can destroy them at its end whatever state grpc-js left them in. Uses grpc-js's
 * secure-connector hook (`_createSecureConnector`, which every credentials object has since
 * 1.10); where it is missing the credentials are used as they are.
 */
function trackSockets<C extends object>(credentials: C, sockets: Set<{ destroy(): void }>): C {
  type Connector = { connect(socket: { destroy(): void }): Promise<{ socket: { destroy(): void } }> };
  const original = (credentials as { _createSecureConnector?: (...args: unknown[]) => Connector })._createSecureConnector;
  if (typeof original !== 'function') return credentials;
  const tracked = Object.create(credentials) as C & { _createSecureConnector(...args: unknown[]): Connector };
  tracked._createSecureConnector = function (...args: unknown[]): Connector {
    const connector = original.apply(credentials, args);
    const connect = connector.connect.bind(connector);
    connector.connect = async (socket) => {
      sockets.add(socket);
      const result = await connect(socket);
      sockets.add(result.socket);
      return result;
    };
    return connector;
  };
  return tracked;
}

/** The observation for a server that answered with a serving status. */
function served(what: string, code: number, latencyMs: number): { values: Record<string, Value>; message: string } {
  const status = SERVING_STATUS[code] ?? `UNKNOWN(${code})`;
  const serving = code === 1;
  const message = `${what} ${status}${serving ? '' : code === SERVICE_UNKNOWN ? ' (the server does not know this service)' : ''} in ${latencyMs} ms`;
  return { values: { latencyMs, status, serving, statusCode: code }, message };
}

/** A gRPC error as a failure reason and a short explanation. */
function classify(e: { code?: number; details?: string; message?: string }, aborted: boolean, timeoutMs: number): [TargetFailure, string] {
  const details = bounded(e.details || e.message || '');
  switch (e.code) {
    case GRPC.DEADLINE_EXCEEDED:
      return ['timeout', `no answer within ${formatDuration(timeoutMs)}`];
    case GRPC.CANCELLED:
      return aborted ? ['timeout', `no answer within ${formatDuration(timeoutMs)}`] : ['error', `call cancelled: ${details}`];
    case GRPC.UNIMPLEMENTED:
      return ['error', `the server has no health service (grpc.health.v1.Health/Check is UNIMPLEMENTED): ${details}`];
    case GRPC.UNAUTHENTICATED:
    case GRPC.PERMISSION_DENIED:
      return ['error', `auth: ${e.code === GRPC.UNAUTHENTICATED ? 'UNAUTHENTICATED' : 'PERMISSION_DENIED'}: ${details}`];
    case GRPC.UNAVAILABLE: {
      if (/name resolution|ENOTFOUND|EAI_AGAIN|getaddrinfo/i.test(details)) return ['dns', `name lookup failed: ${details}`];
      const failure = classifyNetworkError({ message: details, code: /\b(E[A-Z_]+|ERR_TLS_[A-Z_]+)\b/.exec(details)?.[1] });
      if (failure === 'tls') return ['tls', `TLS: ${details}`];
      if (failure === 'timeout') return ['timeout', details];
      return ['refused', `UNAVAILABLE: ${details}`];
    }
    default:
      return ['error', `${grpcCodeName(e.code)}: ${details}`];
  }
}

function grpcCodeName(code: number | undefined): string {
  const names = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED',
    'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'];
  return code !== undefined && names[code] ? names[code] : `gRPC status ${code ?? '?'}`;
}

function bounded(text: string): string {
  const line = text.split('\n')[0].trim();
  return line.length > MAX_DETAILS ? `${line.slice(0, MAX_DETAILS)}…` : line;
}

/** HealthCheckRequest { string service = 1 } in protobuf wire format (empty when the service is ""). */
export function encodeRequest(service: string): Buffer {
  if (service === '') return Buffer.alloc(0);
  const bytes = Buffer.from(service, 'utf8');
  return Buffer.concat([Buffer.from([0x0a]), varint(bytes.length), bytes]);
}

/** The serving status of a HealthCheckResponse { ServingStatus status = 1 }; 0 (UNKNOWN) when absent. */
export function decodeResponse(buf: Buffer): number {
  let status = 0;
  let i = 0;
  const read = (): number => {
    let n = 0;
    for (let shift = 0; ; shift += 7) {
      if (i >= buf.length || shift > 49) throw new Error('malformed HealthCheckResponse');
      const b = buf[i++];
      n += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return n;
    }
  };
  while (i < buf.length) {
    const tag = read();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) { const v = read(); if (field === 1) status = v; }
    else if (wire === 1) i += 8;
    else if (wire === 2) { const len = read(); i += len; }
    else if (wire === 5) i += 4;
    else throw new Error('malformed HealthCheckResponse');
    if (i > buf.length) throw new Error('malformed HealthCheckResponse');
  }
  return status;
}

/** The request's encoding of a length (a protobuf varint). */
function varint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128); }
  out.push(n);
  return Buffer.from(out);
}
