import { loadConfigText, type Config } from '../../agent/config/load';
import { ConfigError, formatProblem } from '../../agent/errors';
import { judge, Status } from '../../agent/evaluate';
import { History } from '../../agent/conditions/history';
import { historySpec } from '../../agent/conditions/rules';

function problems(yaml: string): string[] {
  try {
    loadConfigText(yaml, 'kw.yaml', { env: {} });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map(formatProblem);
    throw err;
  }
  throw new Error('expected the config to be refused');
}

const load = (yaml: string): Config => loadConfigText(yaml, 'kw.yaml', { env: {} });

describe('warn/crit with for: and clear:', () => {
  test('a string, a list, an object and a list with objects all load; their sources name for and clear', () => {
    const cfg = load(`
checks:
  - name: root
    type: disk
    mount: /
    warn: { when: "usedPercent > 90", clear: "usedPercent < 85" }
    crit:
      - "usedPercent > 98"
      - { when: "predict(freeBytes, 6h, 24h) < 0", for: 3 of 5 }
  - name: api
    type: http
    url: "http://127.0.0.1:1/"
    every: 30s
    warn: "p95(latencyMs, 15m) > 800"
    crit: [{ when: "status != 200", for: 2m }]
`);
    const [root, api] = cfg.checks;
    expect(root.rules.warn.map((c) => c.source)).toEqual(['usedPercent > 90 clear usedPercent < 85']);
    expect(root.rules.crit.map((c) => c.source)).toEqual(['usedPercent > 98', 'predict(freeBytes, 6h, 24h) < 0 for 3 of 5']);
    expect(api.rules.crit[0].for).toEqual({ ms: 120_000, text: '2m' });
    expect(historySpec(api.rules)).toMatchObject({ keepMs: 15 * 60_000, series: ['?status != 200 for 2m', 'latencyMs'] });
  });

  test('the compiled rules judge with hysteresis', () => {
    const cfg = load(`
checks:
  - { name: root, type: disk, mount: /, warn: { when: "usedPercent > 90", clear: "usedPercent < 85" }, crit: [] }
`);
    const rules = cfg.checks[0].rules;
    const h = new History(historySpec(rules)!);
    const st = [80, 91, 87, 84].map((usedPercent, i) => judge({ values: { usedPercent }, message: '' }, rules, { history: h, now: 1000 * i }).status);
    expect(st).toEqual([Status.Ok, Status.Warning, Status.Warning, Status.Ok]);
  });

  test('errors point at their character, in strings, in when/clear and at for', () => {
    expect(problems(`
checks:
  - name: api
    type: http
    url: "http://127.0.0.1:1/"
    warn: "avgg(latencyMs, 5m) > 3"
    crit:
      - { when: "avg(latencyMs, 5m) > 3 and (status != 200", for: 3 of 5 }
      - { when: "status != 200", for: 6 of 5, clear: "status == 200" }
      - { when: "status != 200", clear: "statuss == 200" }
  - name: every-minute
    type: http
    url: "http://127.0.0.1:1/"
    every: 10s
    warn: "max(latencyMs, 2d) > 1s"
`)).toEqual([
      'kw.yaml:6:12: checks[0].warn: invalid condition: unknown function "avgg"; did you mean "avg"? (functions: avg, min, max, sum, rate, increase, delta, deriv, predict, count_over, ratio_over, p1 … p99)',
      'kw.yaml:8:45: checks[0].crit[0].when: invalid condition: unbalanced "(": no ")" closes it',
      'kw.yaml:9:39: checks[0].crit[1].for: N of "N of M" is 1 to M (5)',
      expect.stringMatching(/^kw\.yaml:10:42: checks\[0\]\.crit\[2\]\.clear: invalid condition: unknown field "statuss"; did you mean "status"\?/),
      'kw.yaml:15:27: checks[1].warn: invalid condition: a 2d window needs 17280 runs at every 10s; a check keeps at most 10000 (use a shorter window or a longer every)',
    ]);
  });

  test('an entry whose keys are wrong elsewhere still has its when and clear checked in the same pass', () => {
    expect(problems(`
checks:
  - { name: root, type: disk, mount: /, evry: 1m, warn: [{ when: "usedPrcent > 90", clear: "avg(usedPercent, 9d) < 85" }] }
`)).toEqual([
      expect.stringMatching(/checks\[0\]\.evry: unknown key "evry"; did you mean "every"\?/),
      expect.stringMatching(/^kw\.yaml:3:67: checks\[0\]\.warn\[0\]\.when: invalid condition: unknown field "usedPrcent"; did you mean "usedPercent"\?/),
      'kw.yaml:3:110: checks[0].warn[0].clear: invalid condition: window 9d is longer than the history kept (at most 7d)',
    ]);
  });

  test('an unknown key of a level object is refused with the valid ones', () => {
    expect(problems(`
checks:
  - { name: root, type: disk, mount: /, warn: { when: "usedPercent > 90", after: 3 } }
`)).toEqual([expect.stringMatching(/checks\[0\]\.warn.*(after|expected a condition)/)]);
  });
});
