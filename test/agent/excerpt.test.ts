import { Writable } from 'node:stream';
import { Status } from '../../agent/evaluate';
import { createLogger } from '../../agent/logger';
import { runCheckOnce } from '../../agent/runner';
import { setSecrets } from '../../agent/secrets';
import { MAX_EXCERPT_LINE, MAX_EXCERPT_LINES } from '../../checks/types';
import { checkConfig } from '../helpers/fake-checks';
import { BASE } from '../helpers/incident-configs';
import { policyWorld } from '../helpers/policy';

// An observation's excerpt (lines that explain it, e.g. a log check's last matching lines)
// rides on the result, bounded and scrubbed, and into an incident's evidence.

const log = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) as never });

test('a run keeps the newest MAX_EXCERPT_LINES lines of the excerpt, each cut, secrets scrubbed', async () => {
  setSecrets(['s3cr3t-excerpt-value']);
  const lines = Array.from({ length: MAX_EXCERPT_LINES + 20 }, (_, i) => `line ${i}`);
  lines[lines.length - 1] = `login with token s3cr3t-excerpt-value failed ${'x'.repeat(2 * MAX_EXCERPT_LINE)}`;
  const check = checkConfig('logs', async () => ({ values: { value: 2 }, message: 'two', excerpt: lines }));
  const r = await runCheckOnce(check, { log, signal: new AbortController().signal });
  expect(r.status).toBe(Status.Critical);
  expect(r.excerpt).toHaveLength(MAX_EXCERPT_LINES);
  expect(r.excerpt![0]).toBe('line 20');
  const last = r.excerpt![MAX_EXCERPT_LINES - 1];
  expect(last).toContain('[REDACTED]');
  expect(last).not.toContain('s3cr3t');
  expect(last.length).toBeLessThanOrEqual(MAX_EXCERPT_LINE + 20);
});

test('a result without an excerpt has none', async () => {
  const check = checkConfig('plain', async () => ({ values: { value: 0 }, message: 'ok', excerpt: [] }));
  expect(await runCheckOnce(check, { log, signal: new AbortController().signal })).not.toHaveProperty('excerpt');
});

test('an incident\'s evidence carries each result\'s excerpt, and stays JSON', () => {
  const T0 = Date.parse('2026-11-27T10:00:00Z');
  const w = policyWorld(BASE, T0);
  const excerpt = ['2026/11/27 10:00:01 [crit] 12#12: *1 connect() failed', '2026/11/27 10:00:02 [emerg] 12#12: bind() failed'];
  w.feed('api', [Status.Critical, Status.Critical, Status.Critical], 30_000, { excerpt });
  const evidence = w.incident('api')!.evidence as Array<{ excerpt?: string[] }>;
  expect(evidence).toHaveLength(3);
  for (const e of evidence) expect(e.excerpt).toEqual(excerpt);
  expect(JSON.parse(JSON.stringify(evidence))).toEqual(evidence);
  // Results without one add no key.
  const w2 = policyWorld(BASE, T0);
  w2.feed('api', [Status.Critical, Status.Critical, Status.Critical], 30_000);
  for (const e of w2.incident('api')!.evidence as object[]) expect(e).not.toHaveProperty('excerpt');
});
