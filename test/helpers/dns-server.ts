import dgram from 'node:dgram';
import net from 'node:net';

/** A record the test server answers with, by type; the text forms mirror the dns check's `answer`. */
export type TestRecord =
  | { type: 'A' | 'AAAA' | 'CNAME' | 'NS' | 'PTR'; value: string }
  | { type: 'MX'; priority: number; exchange: string }
  | { type: 'TXT'; value: string[] }
  | { type: 'SRV'; priority: number; weight: number; port: number; target: string };

/** What the server does for a name: answer from records, send an rcode, say nothing, or truncate over UDP. */
export type Behaviour = { records: TestRecord[] } | { rcode: number } | { silent: true } | { truncateUdp: TestRecord[] };

const TYPE_CODES: Record<string, number> = { A: 1, NS: 2, CNAME: 5, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33 };

function encodeName(name: string): Buffer {
  const parts = name.replace(/\.$/, '').split('.').filter(Boolean);
  return Buffer.concat([...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'ascii')])), Buffer.from([0])]);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function ipv6Bytes(addr: string): Buffer {
  const [head, tail] = addr.includes('::') ? addr.split('::') : [addr, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return Buffer.concat(groups.map((g) => u16(parseInt(g, 16))));
}

function rdata(r: TestRecord): Buffer {
  switch (r.type) {
    case 'A': return Buffer.from(r.value.split('.').map(Number));
    case 'AAAA': return ipv6Bytes(r.value);
    case 'CNAME': case 'NS': case 'PTR': return encodeName(r.value);
    case 'MX': return Buffer.concat([u16(r.priority), encodeName(r.exchange)]);
    case 'TXT': return Buffer.concat(r.value.map((s) => Buffer.concat([Buffer.from([Buffer.byteLength(s)]), Buffer.from(s)])));
    case 'SRV': return Buffer.concat([u16(r.priority), u16(r.weight), u16(r.port), encodeName(r.target)]);
  }
}

/** Parses the question of a query: its id, name (lower case), type, and where the question ends. */
function parseQuery(msg: Buffer): { id: number; rd: boolean; name: string; qtype: number; end: number } {
  const labels: string[] = [];
  let i = 12;
  while (msg[i] !== 0) {
    labels.push(msg.subarray(i + 1, i + 1 + msg[i]).toString('ascii'));
    i += msg[i] + 1;
  }
  const qtype = msg.readUInt16BE(i + 1);
  return { id: msg.readUInt16BE(0), rd: (msg[2] & 1) === 1, name: labels.join('.').toLowerCase(), qtype, end: i + 5 };
}

function reply(msg: Buffer, rcode: number, records: TestRecord[], truncated = false): Buffer {
  const q = parseQuery(msg);
  const answers = records.filter((r) => TYPE_CODES[r.type] === q.qtype);
  const flags = 0x8000 | 0x0400 | (truncated ? 0x0200 : 0) | (q.rd ? 0x0100 : 0) | 0x0080 | rcode;
  const header = Buffer.concat([u16(q.id), u16(flags), u16(1), u16(truncated ? 0 : answers.length), u16(0), u16(0)]);
  const body = truncated ? [] : answers.map((r) => {
    const data = rdata(r);
    const ttl = Buffer.alloc(4);
    ttl.writeUInt32BE(60);
    return Buffer.concat([u16(0xc00c), u16(TYPE_CODES[r.type]), u16(1), ttl, u16(data.length), data]);
  });
  return Buffer.concat([header, msg.subarray(12, q.end), ...body]);
}

/**
 * A DNS server on 127.0.0.1 (UDP, and TCP on the same port for truncated answers) answering from
 * a table by name: unknown names are NXDOMAIN, known names without the asked type NOERROR with
 * no data. Counts the queries it got.
 */
export async function startDnsServer(table: Record<string, Behaviour>): Promise<{ port: number; queries: () => number; tcpQueries: () => number; close: () => Promise<void> }> {
  let queries = 0;
  let tcpQueries = 0;
  const answer = (msg: Buffer, tcp: boolean): Buffer | undefined => {
    const q = parseQuery(msg);
    const b = table[q.name];
    if (b === undefined) return reply(msg, 3, []);
    if ('silent' in b) return undefined;
    if ('rcode' in b) return reply(msg, b.rcode, []);
    if ('truncateUdp' in b) return tcp ? reply(msg, 0, b.truncateUdp) : reply(msg, 0, [], true);
    return reply(msg, 0, b.records);
  };
  const udp = dgram.createSocket('udp4');
  udp.on('message', (msg, rinfo) => {
    queries++;
    const out = answer(msg, false);
    if (out) udp.send(out, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
  const port = udp.address().port;
  const sockets = new Set<net.Socket>();
  const tcp = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        tcpQueries++;
        const out = answer(msg, true);
        if (out) s.write(Buffer.concat([u16(out.length), out]));
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(port, '127.0.0.1', resolve);
  });
  return {
    port,
    queries: () => queries,
    tcpQueries: () => tcpQueries,
    close: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all([new Promise((r) => udp.close(() => r(undefined))), new Promise((r) => tcp.close(() => r(undefined)))]);
    },
  };
}
