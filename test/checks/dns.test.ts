import { parseCondition } from '../../agent/evaluate';
import { dnsCheck, formatRecord, MAX_ANSWER_CHARS, parseServer } from '../../checks/dns';
import { startDnsServer } from '../helpers/dns-server';
import { fieldsOf, runCheck, startRun } from '../helpers/check';

type Server = Awaited<ReturnType<typeof startDnsServer>>;
let dns: Server;

const longTxt = Array.from({ length: 40 }, (_, i) => `v=spf1 include:_spf${i}.example.com ~all padding-padding-padding`);

beforeAll(async () => {
  dns = await startDnsServer({
    'www.example.test': { records: [{ type: 'A', value: '10.0.0.2' }, { type: 'A', value: '10.0.0.1' }, { type: 'AAAA', value: '2001:db8::1' }] },
    'alias.example.test': { records: [{ type: 'CNAME', value: 'www.example.test' }] },
    'example.test': {
      records: [
        { type: 'MX', priority: 20, exchange: 'mx2.example.test' },
        { type: 'MX', priority: 10, exchange: 'mx1.example.test' },
        { type: 'TXT', value: ['v=spf1 ', '-all'] },
        { type: 'NS', value: 'ns1.example.test' },
        { type: 'NS', value: 'ns2.example.test' },
      ],
    },
    '_sip._tcp.example.test': { records: [{ type: 'SRV', priority: 10, weight: 5, port: 5060, target: 'sip.example.test' }] },
    '1.0.0.10.in-addr.arpa': { records: [{ type: 'PTR', value: 'host1.example.test' }] },
    'broken.example.test': { rcode: 2 },
    'refused.example.test': { rcode: 5 },
    'slow.example.test': { silent: true },
    'big.example.test': { truncateUdp: longTxt.map((t) => ({ type: 'TXT' as const, value: [t] })) },
  });
});

afterAll(async () => {
  await dns.close();
});

const server = () => `127.0.0.1:${dns.port}`;

describe('dns check', () => {
  it.each([
    ['A', 'www.example.test', '10.0.0.1, 10.0.0.2', 2],
    ['AAAA', 'www.example.test', '2001:db8::1', 1],
    ['CNAME', 'alias.example.test', 'www.example.test', 1],
    ['MX', 'example.test', '10 mx1.example.test, 20 mx2.example.test', 2],
    ['TXT', 'example.test', 'v=spf1 -all', 1],
    ['NS', 'example.test', 'ns1.example.test, ns2.example.test', 2],
    ['SRV', '_sip._tcp.example.test', '10 5 5060 sip.example.test', 1],
    ['PTR', '10.0.0.1', 'host1.example.test', 1],
    ['PTR', '1.0.0.10.in-addr.arpa', 'host1.example.test', 1],
  ])('resolves %s %s through the chosen server', async (record, query, answer, count) => {
    const obs = await runCheck(dnsCheck, { query, record, server: server() });
    expect(obs.up).toBeUndefined();
    expect(obs.values.answer).toBe(answer);
    expect(obs.values.answers).toBe(count);
    expect(obs.values.latencyMs).toBeGreaterThan(0);
    expect(obs.message).toContain(`${record} ${query} via ${server()}: ${count} answer`);
  });

  it('gives answers a condition can match with =~', async () => {
    const obs = await runCheck(dnsCheck, { query: 'www.example.test', server: server() });
    const fields = fieldsOf(dnsCheck, { query: 'www.example.test' });
    expect(parseCondition('answer =~ /10\\.0\\.0\\./', fields).test(obs.values)).toBe(true);
    expect(parseCondition('answer !~ /192\\.168\\./', fields).test(obs.values)).toBe(true);
    expect(parseCondition('answer =~ /^10\\.0\\.0\\.9$/', fields).test(obs.values)).toBe(false);
    expect(parseCondition('answers < 2', fields).test(obs.values)).toBe(false);
  });

  it('compares the answers with expect, ignoring order, case and trailing dots', async () => {
    const ok = await runCheck(dnsCheck, { query: 'www.example.test', server: server(), expect: ['10.0.0.2', '10.0.0.1'] });
    expect(ok.values.matches).toBe(true);
    const mx = await runCheck(dnsCheck, { query: 'example.test', record: 'MX', server: server(), expect: ['10 MX1.example.test.', '20 mx2.example.test'] });
    expect(mx.values.matches).toBe(true);
    const bad = await runCheck(dnsCheck, { query: 'www.example.test', server: server(), expect: ['10.0.0.1', '10.0.0.3'] });
    expect(bad.up).toBeUndefined();
    expect(bad.values.matches).toBe(false);
    expect(bad.message).toContain('not as expected (missing 10.0.0.3; unexpected 10.0.0.2)');
    // The default thresholds make a mismatch critical.
    const d = dnsCheck.defaults as (s: unknown) => { crit: string[] };
    const fields = fieldsOf(dnsCheck, { query: 'x', expect: ['1.2.3.4'] });
    const crit = d(dnsCheck.schema.parse({ query: 'x', expect: ['1.2.3.4'] })).crit.map((c) => parseCondition(c, fields));
    expect(crit.some((c) => c.test(bad.values))).toBe(true);
    expect(crit.some((c) => c.test(ok.values))).toBe(false);
  });

  it('reports NXDOMAIN as a critical dns failure with the rcode', async () => {
    const obs = await runCheck(dnsCheck, { query: 'nope.example.test', server: server() });
    expect(obs).toMatchObject({ up: false, failure: 'dns' });
    expect(obs.message).toBe(`A nope.example.test via ${server()}: NXDOMAIN`);
  });

  it('reports SERVFAIL and REFUSED as dns failures with the rcode', async () => {
    const servfail = await runCheck(dnsCheck, { query: 'broken.example.test', server: server() });
    expect(servfail).toMatchObject({ up: false, failure: 'dns' });
    expect(servfail.message).toMatch(/: SERVFAIL$/);
    const refused = await runCheck(dnsCheck, { query: 'refused.example.test', server: server() });
    expect(refused).toMatchObject({ up: false, failure: 'dns' });
    expect(refused.message).toMatch(/: REFUSED$/);
  });

  it('reports a name without records of the type (NODATA) as zero answers, critical by default', async () => {
    const obs = await runCheck(dnsCheck, { query: 'alias.example.test', record: 'MX', server: server() });
    expect(obs.up).toBeUndefined();
    expect(obs.values).toMatchObject({ answers: 0, answer: '' });
    expect(obs.message).toContain('no MX records (NOERROR, no data)');
    const fields = fieldsOf(dnsCheck, { query: 'x' });
    const d = dnsCheck.defaults as (s: unknown) => { crit: string[] };
    expect(d(dnsCheck.schema.parse({ query: 'x' })).crit.map((c) => parseCondition(c, fields)).some((c) => c.test(obs.values))).toBe(true);
  });

  it('reports a server that never answers as a timeout within the run timeout', async () => {
    const t0 = performance.now();
    const obs = await runCheck(dnsCheck, { query: 'slow.example.test', server: server() }, { timeoutMs: 300 });
    expect(performance.now() - t0).toBeLessThan(1500);
    expect(obs).toMatchObject({ up: false, failure: 'timeout' });
    expect(obs.message).toMatch(/: timeout after [\d.]+ ms$/);
  });

  it('stops at once when the run is aborted', async () => {
    const { run, abort } = startRun(dnsCheck, { query: 'slow.example.test', server: server() }, { timeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 50));
    const t0 = performance.now();
    abort();
    const obs = await run;
    expect(performance.now() - t0).toBeLessThan(200);
    expect(obs).toMatchObject({ up: false, failure: 'timeout' });
  });

  it('retries over TCP when the UDP answer is truncated', async () => {
    const before = dns.tcpQueries();
    const obs = await runCheck(dnsCheck, { query: 'big.example.test', record: 'TXT', server: server() });
    expect(dns.tcpQueries()).toBe(before + 1);
    expect(obs.values.answers).toBe(40);
    expect(String(obs.values.answer).length).toBe(MAX_ANSWER_CHARS);
    expect(String(obs.values.answer).endsWith('…')).toBe(true);
  });

  it('reports a closed port as a failed query, not an exception', async () => {
    // Nothing listens on UDP port 9 of 127.0.0.1 (discard): the ICMP port unreachable ends the query.
    const obs = await runCheck(dnsCheck, { query: 'www.example.test', server: '127.0.0.1:9' }, { timeoutMs: 1000 });
    expect(obs).toMatchObject({ up: false, failure: 'refused', message: 'A www.example.test via 127.0.0.1:9: connection refused' });
  });

  it('uses the system resolver when no server is set', async () => {
    // localhost resolves through /etc/hosts only for getaddrinfo; the DNS resolver asks the
    // configured servers, whatever they answer: the check returns a result, never throws.
    const obs = await runCheck(dnsCheck, { query: 'keepwatch-test.invalid' }, { timeoutMs: 2000 });
    expect(obs.up).toBe(false);
    expect(['dns', 'timeout', 'refused']).toContain(obs.failure);
    expect(obs.message).toMatch(/^A keepwatch-test\.invalid via the system resolver: /);
  });

  it('leaves no socket or handle open after 500 runs', async () => {
    const handles = () => (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length;
    const log: number[] = [];
    // One run first, so that anything created once per process (not per run) is counted before.
    await runCheck(dnsCheck, { query: 'www.example.test', server: server() });
    await new Promise((r) => setImmediate(r));
    const before = handles();
    const queriesBefore = dns.queries();
    for (let i = 0; i < 500; i += 5) {
      await Promise.all(Array.from({ length: 5 }, (_, j) =>
        runCheck(dnsCheck, { query: j === 0 ? 'nope.example.test' : 'www.example.test', server: server() }).then((o) => {
          if (j !== 0) expect(o.values.answers).toBe(2);
        }),
      ));
    }
    await new Promise((r) => setTimeout(r, 50));
    expect(dns.queries() - queriesBefore).toBe(500);
    log.push(before, handles());
    process.stdout.write(`dns: active handles before 500 runs ${log[0]}, after ${log[1]}\n`);
    expect(handles()).toBeLessThanOrEqual(before);
  });

  it('parses server addresses: IP with an optional port, IPv6 in brackets', () => {
    expect(parseServer('10.0.0.2')).toEqual({ host: '10.0.0.2', port: 53 });
    expect(parseServer('10.0.0.2:5353')).toEqual({ host: '10.0.0.2', port: 5353 });
    expect(parseServer('[2001:db8::53]:5300')).toEqual({ host: '2001:db8::53', port: 5300 });
    expect(parseServer('2001:db8::53')).toEqual({ host: '2001:db8::53', port: 53 });
    expect(parseServer('dns.example.com')).toBeUndefined();
    expect(parseServer('10.0.0.2:0')).toBeUndefined();
    expect(dnsCheck.schema.safeParse({ query: 'x', server: 'dns.example.com' }).success).toBe(false);
  });

  it('formats each record type the way expect takes it', () => {
    expect(formatRecord('MX', { priority: 5, exchange: 'mx.example.com' })).toBe('5 mx.example.com');
    expect(formatRecord('TXT', ['a', 'b'])).toBe('ab');
    expect(formatRecord('SRV', { priority: 1, weight: 2, port: 3, name: 't.example.com' })).toBe('1 2 3 t.example.com');
    expect(formatRecord('A', '1.2.3.4')).toBe('1.2.3.4');
  });
});
