import fs from 'node:fs';
import path from 'node:path';
import { auditReport, formatAudit, formatCounts } from '../agent/cli-audit';
import { Status } from '../agent/evaluate';
import type { CheckResult } from '../agent/model';
import { runCli, tempDir } from './helpers/daemon';
import { TestPki } from './helpers/pki';
import { startHttp, type TestServer } from './helpers/servers';

// `keepwatch audit` on the built CLI, with security checks that find things in files and a
// server this test makes: failed logins in a log it writes, an expired certificate it issues,
// a web server without security headers.
let dir: ReturnType<typeof tempDir>;
let pki: TestPki;
let web: TestServer;
let config: string;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
function syslog(at: number, message: string): string {
  const d = new Date(at);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2)} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} web-01 sshd[4242]: ${message}\n`;
}

function write(name: string, text: string): string {
  const f = path.join(dir.dir, name);
  fs.writeFileSync(f, text);
  return f;
}

beforeAll(async () => {
  dir = tempDir();
  pki = new TestPki();
  web = await startHttp((_req, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<p>hi</p>'));
  const now = Date.now();
  const lines: string[] = [];
  for (let i = 0; i < 120; i++) lines.push(syslog(now - 4 * 60_000 + i * 1000, `Failed password for root from 203.0.113.9 port ${40000 + i} ssh2`));
  lines.push(syslog(now - 60_000, 'Failed password for alice from 198.51.100.7 port 5000 ssh2'));
  const authLog = write('auth.log', lines.join(''));
  write('quiet.log', syslog(now - 60_000, 'Accepted publickey for deploy from 192.0.2.1 port 5 ssh2'));
  const expired = pki.issue({ cn: 'old.example.test', san: ['DNS:old.example.test'], notBeforeDays: -400, notAfterDays: -3 });
  config = write('keepwatch.yaml', [
    'checks:',
    `  - { name: web, type: http, url: "${web.url}/" }`,
    `  - { name: ssh-logins, type: auth-failures, file: ${authLog} }`,
    `  - { name: quiet-logins, type: auth-failures, file: ${path.join(dir.dir, 'quiet.log')} }`,
    `  - { name: old-cert, type: tls-cert, certFile: ${expired.certFile}, serverName: old.example.test }`,
    `  - { name: site-headers, type: http-headers, url: "${web.url}/" }`,
    `  - { name: gone-logins, type: auth-failures, file: ${path.join(dir.dir, 'missing.log')} }`,
  ].join('\n'));
});

afterAll(async () => {
  await web.close();
  pki.remove();
  dir.cleanup();
});

describe('keepwatch audit', () => {
  test('runs every security check (not the http one), findings by severity worst first, then a line per check; exit 2 for the critical ones', async () => {
    const r = await runCli(['audit', '--config', config]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(Status.Critical);
    const out = r.stdout;
    expect(out).toMatch(/^Security audit: 5 checks, \d+ findings \(1 critical, \d+ high, \d+ medium, \d+ low, \d+ info\)\n/);
    // Groups in order, each once.
    const groups = [...out.matchAll(/^(CRITICAL|HIGH|MEDIUM|LOW|INFO) \((\d+)\)$/gm)].map((m) => m[1]);
    expect(groups).toEqual(['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'INFO']);
    // The expired certificate, then the brute-force source, each with check, id, subject, refs and fix.
    const critical = out.slice(out.indexOf('CRITICAL (1)'), out.indexOf('HIGH ('));
    expect(critical).toMatch(/^ {4}check: +old-cert \(tls-cert\)$/m);
    expect(critical).toMatch(/^ {4}fix: +\S/m);
    const high = out.slice(out.indexOf('HIGH ('), out.indexOf('MEDIUM ('));
    expect(high).toContain([
      '  120 failed logins from 203.0.113.9 in the last 15m',
      '    check:   ssh-logins (auth-failures)',
      '    id:      auth-failures.source.203.0.113.9',
      '    subject: 203.0.113.9',
      '    refs:    ATT&CK T1110',
      '    fix:     If this source has no business logging in, block it',
    ].join('\n'));
    expect(out.slice(out.indexOf('MEDIUM ('))).toMatch(/check: +site-headers \(http-headers\)\n {4}id: +http-headers\.csp\.missing/);
    expect(out.slice(out.indexOf('INFO ('))).toContain('1 failed login from 198.51.100.7 in the last 15m');
    // The checks' lines: every security check, the unknown one with its reason; not the http check.
    const table = out.slice(out.indexOf('\nSTATUS'));
    expect(table).toMatch(/^CRITICAL +ssh-logins +auth-failures +1 high, 1 info +121 failed logins in the last 15m from 2 sources, 2 accounts; busiest 203\.0\.113\.9 \(120\) \(.*auth\.log\) \(failures > 100\)$/m);
    expect(table).toMatch(/^OK +quiet-logins +auth-failures +none +no failed logins in the last 15m/m);
    expect(table).toMatch(/^CRITICAL +old-cert +tls-cert +1 critical/m);
    expect(table).toMatch(/^WARNING +site-headers +http-headers /m);
    expect(table).toMatch(new RegExp(`^UNKNOWN +gone-logins +auth-failures +- +check failed: ${dir.dir}/missing\\.log does not exist$`, 'm'));
    expect(table).not.toMatch(/^\S+ +web +http /m);
    expect(out.trimEnd().split('\n').pop()).toBe('CRITICAL: exit 2 (the worst check status; findings count through each check\'s thresholds)');
  });

  test('names pick checks: exit 0 when all is well, 3 for an unknown run', async () => {
    const ok = await runCli(['audit', '--config', config, 'quiet-logins']);
    expect([ok.code, ok.stderr]).toEqual([0, '']);
    expect(ok.stdout.split('\n')[0]).toBe('Security audit: 1 check, 0 findings');
    expect(ok.stdout.trimEnd().split('\n').pop()).toMatch(/^OK: exit 0/);
    const gone = await runCli(['audit', '--config', config, 'gone-logins', 'quiet-logins']);
    expect(gone.code).toBe(Status.Unknown);
  });

  test('--json: status, exit code, counts, findings worst first with their check, and the results', async () => {
    const r = await runCli(['audit', '--config', config, '--json', 'ssh-logins', 'old-cert']);
    expect(r.code).toBe(2);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ status: 'critical', exitCode: 2, counts: { critical: 1, info: 1 } });
    const severities = report.findings.map((f: any) => f.severity);
    expect(severities).toEqual([...severities].sort((a: string, b: string) => ['critical', 'high', 'medium', 'low', 'info'].indexOf(a) - ['critical', 'high', 'medium', 'low', 'info'].indexOf(b)));
    expect(report.findings[0]).toMatchObject({ check: 'old-cert', type: 'tls-cert', severity: 'critical' });
    const ssh = report.findings.filter((f: any) => f.check === 'ssh-logins');
    expect(ssh.map((f: any) => f.severity)).toEqual(['high', 'info']);
    expect(ssh[0]).toEqual({
      check: 'ssh-logins', type: 'auth-failures', id: 'auth-failures.source.203.0.113.9', severity: 'high',
      title: '120 failed logins from 203.0.113.9 in the last 15m', subject: '203.0.113.9', fix: expect.any(String), refs: ['ATT&CK T1110'],
    });
    expect(report.checks.map((c: any) => [c.check, c.statusText])).toEqual([['ssh-logins', 'critical'], ['old-cert', 'critical']]);
  });

  test('usage errors exit 3: a check that is not a security one, a name that is none, a config without security checks', async () => {
    const notSecurity = await runCli(['audit', '--config', config, 'web']);
    expect([notSecurity.code, notSecurity.stdout, notSecurity.stderr]).toEqual([3, '', 'not a security check: web (keepwatch check runs it)\n']);
    const none = await runCli(['audit', '--config', config, 'nope']);
    expect(none.code).toBe(3);
    expect(none.stderr).toBe('no such check: nope (security checks: ssh-logins, quiet-logins, old-cert, site-headers, gone-logins)\n');
    const plain = write('plain.yaml', `checks:\n  - { name: web, type: http, url: "${web.url}/" }\n`);
    const empty = await runCli(['audit', '--config', plain]);
    expect([empty.code, empty.stdout]).toEqual([3, '']);
    expect(empty.stderr).toMatch(new RegExp(`^${plain}: no security checks to run: add some to checks:, e\\.g\\.\n  - \\{ name: ssh-logins, type: auth-failures, every: 1m \\}\nsecurity check types: .*auth-failures.*\\(see the README's "Security checks"\\)\n$`));
  });
});

describe('the report (pure)', () => {
  const base = { type: 'auth-failures', up: true, values: {}, startedAt: 0, durationMs: 3 };
  const result = (check: string, status: Status, findings: CheckResult['findings'], counts?: CheckResult['findingCounts']): CheckResult => ({
    ...base, check, status, statusText: (['ok', 'warning', 'critical', 'unknown'] as const)[status], message: `${check} says`, findings,
    findingCounts: counts ?? (findings ? { critical: 0, high: 0, medium: 0, low: 0, info: 0, ...Object.fromEntries(['critical', 'high', 'medium', 'low', 'info'].map((s) => [s, findings.filter((f) => f.severity === s).length])) } as any : undefined),
  });

  test('counts, worst first, zeros left out', () => {
    expect(formatCounts({ info: 3, high: 1, critical: 0 })).toBe('1 high, 3 info');
    expect(formatCounts({})).toBe('none');
  });

  test('a layout: grouped findings, a note when a check kept fewer than it found, the checks, the verdict', () => {
    const results = [
      result('a', Status.Warning, [{ id: 'x.low', severity: 'low', title: 'a low one' }], { critical: 0, high: 0, medium: 0, low: 3, info: 0 }),
      result('b', Status.Critical, [{ id: 'x.crit', severity: 'critical', title: 'a bad one', subject: '/etc/x', fix: 'Fix it.', refs: ['CIS 1.2.3', 'Lynis X-1'] }]),
      result('c', Status.Unknown, undefined),
    ];
    expect(formatAudit(auditReport(results, Status.Critical))).toBe([
      'Security audit: 3 checks, 4 findings (1 critical, 3 low)',
      '',
      'CRITICAL (1)',
      '  a bad one',
      '    check:   b (auth-failures)',
      '    id:      x.crit',
      '    subject: /etc/x',
      '    refs:    CIS 1.2.3, Lynis X-1',
      '    fix:     Fix it.',
      '',
      'LOW (3)',
      '  a low one',
      '    check: a (auth-failures)',
      '    id:    x.low',
      '  … and 2 more low findings the checks did not keep (they keep 100 each, worst first)',
      '',
      'STATUS    CHECK  TYPE           FINDINGS    MESSAGE',
      'WARNING   a      auth-failures  3 low       a says',
      'CRITICAL  b      auth-failures  1 critical  b says',
      'UNKNOWN   c      auth-failures  -           c says',
      '',
      'CRITICAL: exit 2 (the worst check status; findings count through each check\'s thresholds)',
    ].join('\n'));
  });
});
