import http from 'node:http';
import type net from 'node:net';

/** Why the agent closed a client connection: the `reason` label of keepwatch_http_connections_closed_total. */
export const CLOSE_REASONS = [
  'header_timeout',
  'request_timeout',
  'idle',
  'evicted',
  'limit',
  'per_address_limit',
  'unread_body',
  'bad_request',
] as const;

/** One of CLOSE_REASONS. */
export type CloseReason = (typeof CLOSE_REASONS)[number];

/** The listener's limits (`agent.http`), durations in milliseconds. */
export interface ConnectionLimits {
  maxConnections: number;
  maxConnectionsPerAddress: number;
  headersTimeout: number;
  requestTimeout: number;
  keepAliveTimeout: number;
}

/** What the guard reports: every connection it cuts, and how many are open. */
export interface ConnectionEvents {
  closed(reason: CloseReason): void;
  open(count: number): void;
}

interface Conn {
  socket: net.Socket;
  address: string;
  /** Requests of this connection whose answer is not finished yet. */
  inFlight: number;
  /** The connection's latest request: whether its body is still arriving tells a request timeout from a header timeout. */
  req?: http.IncomingMessage;
}

/**
 * How long a connection closed after its answer keeps discarding what the client still sends.
 * Closing at once, with request bytes unread, makes the kernel send a reset that can destroy
 * the answer before the client reads it (a 413 turns into "connection reset"); so the agent
 * half-closes, reads for a moment, then closes (RFC 9112 section 9.6). Bounded, so a body that
 * trickles on is still cut within seconds.
 */
export const LINGER_MS = 2000;

/**
 * How often Node checks the header and request timeouts: a tenth of the shorter one, within
 * 50 ms and 1 s (Node's default of 30 s would let a 10 s header timeout run to 40 s).
 */
export function checkingInterval(limits: ConnectionLimits): number {
  return Math.max(50, Math.min(1000, Math.floor(Math.min(limits.headersTimeout, limits.requestTimeout) / 10)));
}

/**
 * Keeps the HTTP listener's connections within bounds: Node's header, request and keep-alive
 * timeouts (reported by reason), a global and a per-address cap, and JSON answers for
 * requests Node refuses before they reach a handler (bad syntax, headers too large, timeouts).
 *
 * At a cap, the connection idle longest (no request in flight) is closed to make room, and
 * only when every one is busy is the new connection refused. Refusing instead would let a few
 * hundred silent sockets lock out the Prometheus scrape and the liveness probe: both come
 * from well-behaved clients that send their request at once, while what hogs a cap is idle.
 * The per-address cap evicts only that address's connections, so one client's flood cannot
 * push out another's.
 */
export class ConnectionGuard {
  /** Open connections, the one idle longest first (a finished request moves its connection to the end). */
  private readonly conns = new Map<net.Socket, Conn>();
  private readonly perAddress = new Map<string, number>();
  /** Connections half-closed after their last answer, discarding input until LINGER_MS. */
  private readonly lingering = new WeakSet<net.Socket>();

  constructor(
    private readonly server: http.Server,
    private readonly limits: () => ConnectionLimits,
    private readonly events: ConnectionEvents,
  ) {
    server.on('connection', (socket: net.Socket) => this.admit(socket));
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => this.track(req, res));
    // Sockets time out only when idle between requests: keepAliveTimeout (server.timeout is 0).
    server.on('timeout', (socket: net.Socket) => this.cut(socket, 'idle'));
    server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => this.clientError(err, socket));
    // Without a listener Node drops a CONNECT without a word; answer it like any refused request.
    server.on('connect', (_req: http.IncomingMessage, socket: net.Socket) => this.refuseRequest(socket, 405, 'method CONNECT not allowed: this is not a proxy'));
  }

  /** Connections open now. */
  get size(): number {
    return this.conns.size;
  }

  /** Connections with a request in flight now. */
  get busy(): number {
    let n = 0;
    for (const conn of this.conns.values()) if (conn.inFlight) n++;
    return n;
  }

  private admit(socket: net.Socket): void {
    const limits = this.limits();
    // Timeouts can change on reload; Node reads these on every check.
    this.server.headersTimeout = limits.headersTimeout;
    this.server.requestTimeout = limits.requestTimeout;
    this.server.keepAliveTimeout = limits.keepAliveTimeout;
    const address = socket.remoteAddress ?? '';
    while ((this.perAddress.get(address) ?? 0) >= limits.maxConnectionsPerAddress) {
      if (!this.evictIdle(address)) return this.refuse(socket, 'per_address_limit');
    }
    while (this.conns.size >= limits.maxConnections) {
      if (!this.evictIdle()) return this.refuse(socket, 'limit');
    }
    this.conns.set(socket, { socket, address, inFlight: 0 });
    this.perAddress.set(address, (this.perAddress.get(address) ?? 0) + 1);
    socket.once('close', () => this.forget(socket));
    // Node calls this once a `Connection: close` answer is written; close gently instead.
    socket.destroySoon = () => this.closeGently(socket);
    this.events.open(this.conns.size);
  }

  private track(req: http.IncomingMessage, res: http.ServerResponse): void {
    const conn = this.conns.get(req.socket);
    if (!conn) return;
    conn.inFlight++;
    conn.req = req;
    res.once('close', () => {
      conn.inFlight--;
      if (!req.complete && !conn.socket.destroyed) {
        // Answered before the body arrived (401, 413, 415): close once the answer is written
        // rather than read the rest, which may trickle in for as long as the client likes.
        if (this.forget(conn.socket)) this.events.closed('unread_body');
        this.closeGently(conn.socket);
      } else if (this.conns.delete(conn.socket)) {
        this.conns.set(conn.socket, conn); // now the most recently active
      }
    });
  }

  /** Closes the connection idle longest (of `address`, when given); false when all are busy. */
  private evictIdle(address?: string): boolean {
    for (const conn of this.conns.values()) {
      if (conn.inFlight === 0 && (address === undefined || conn.address === address)) {
        this.cut(conn.socket, 'evicted');
        return true;
      }
    }
    return false;
  }

  private refuse(socket: net.Socket, reason: CloseReason): void {
    socket.destroy();
    this.events.closed(reason);
  }

  /** Destroys a tracked connection and counts why; forgets it at once so that caps see the room. */
  private cut(socket: net.Socket, reason: CloseReason): void {
    if (!this.forget(socket)) return;
    socket.destroy();
    this.events.closed(reason);
  }

  /** Half-closes once written, discards what still arrives, and closes at the client's end or after LINGER_MS. */
  private closeGently(socket: net.Socket): void {
    if (this.lingering.has(socket)) return;
    this.lingering.add(socket);
    socket.end();
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    socket.once('close', () => clearTimeout(timer));
  }

  private forget(socket: net.Socket): boolean {
    const conn = this.conns.get(socket);
    if (!conn) return false;
    this.conns.delete(socket);
    const left = (this.perAddress.get(conn.address) ?? 1) - 1;
    if (left > 0) this.perAddress.set(conn.address, left);
    else this.perAddress.delete(conn.address);
    this.events.open(this.conns.size);
    return true;
  }

  /**
   * A request Node refused before any handler saw it. Answers JSON like every other error
   * (when no answer is under way on the socket) and closes the connection.
   */
  private clientError(err: NodeJS.ErrnoException, socket: net.Socket): void {
    const conn = this.conns.get(socket);
    if (this.lingering.has(socket) && err.code !== 'ECONNRESET') return; // the rest of what it sent
    if (err.code === 'ECONNRESET' || !conn) {
      this.forget(socket);
      socket.destroy();
      return;
    }
    const [status, message, reason] = clientErrorReply(err, conn);
    if (conn.inFlight > 0 || !socket.writable) {
      // A handler is answering (or the socket is gone): nothing may be written in between.
      this.cut(socket, reason);
      return;
    }
    // Node keeps the bytes it could not parse: an answer to HEAD has no body.
    const head = (err as { rawPacket?: Buffer }).rawPacket?.toString('latin1', 0, 5) === 'HEAD ';
    this.refuseRequest(socket, status, message, reason, head);
    // A timed-out client gets no more time.
    if (reason !== 'bad_request') socket.destroy();
  }

  /** Answers a request no handler will see with a JSON error, then closes gently. */
  private refuseRequest(socket: net.Socket, status: number, message: string, reason: CloseReason = 'bad_request', head = false): void {
    if (this.forget(socket)) this.events.closed(reason);
    const body = head ? '' : `${JSON.stringify({ error: message })}\n`;
    socket.write(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
    );
    this.closeGently(socket);
  }
}

function clientErrorReply(err: NodeJS.ErrnoException, conn: Conn): [number, string, CloseReason] {
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return conn.req && !conn.req.complete
      ? [408, 'request body not received in time (agent.http.requestTimeout)', 'request_timeout']
      : [408, 'request headers not received in time (agent.http.headersTimeout)', 'header_timeout'];
  }
  if (err.code === 'HPE_HEADER_OVERFLOW') return [431, 'request line and headers larger than 16 KB', 'bad_request'];
  return [400, `malformed HTTP request (${err.code ?? 'parse error'})`, 'bad_request'];
}
