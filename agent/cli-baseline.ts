import type { Argv, CommandModule } from 'yargs';
import { api, when, whoami } from './cli-api';
import { usageError } from './cli-errors';
import { formatColumns } from './cli-table';

interface BaselineArgs {
  action: 'accept' | 'show';
  check: string;
  url: string;
  by?: string;
  reason?: string;
  json: boolean;
}

const print = (json: boolean, text: string, data: unknown) => void process.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : `${text}\n`);

/**
 * `keepwatch baseline accept CHECK --by NAME --reason TEXT`: after a planned change, a check
 * that compares files with a baseline (integrity) takes a new one, recorded with who and why;
 * `keepwatch baseline show CHECK` lists who accepted its baselines. Talks to a running agent.
 */
export function baselineCommand(url: object): CommandModule<object, BaselineArgs> {
  return {
    command: 'baseline <action> <check>',
    describe: 'Accept the present files as the new baseline of an integrity check after a planned change (recorded with who and why), or show who accepted its baselines; on a running agent.',
    builder: (y: Argv) =>
      y
        .positional('action', { choices: ['accept', 'show'] as const, describe: 'accept: take a new baseline now; show: the acceptances, newest first' })
        .positional('check', { type: 'string', describe: 'The check (its name in the config)' })
        .option('url', url)
        .option('by', { type: 'string', describe: 'accept: who accepts (default: your user name)' })
        .option('reason', { type: 'string', describe: 'accept: why the files changed, e.g. a change ticket (required)' })
        .option('json', { type: 'boolean', default: false, describe: 'Print the API answer as JSON' }) as unknown as Argv<BaselineArgs>,
    handler: (argv) => (argv.action === 'accept' ? accept(argv) : show(argv)),
  };
}

async function accept(argv: BaselineArgs): Promise<void> {
  if (!argv.reason?.trim()) usageError('baseline accept needs --reason saying why the files changed (e.g. a change ticket)');
  const path = `/api/v1/checks/${encodeURIComponent(argv.check)}/baseline`;
  const r = await api(argv.url, 'POST', path, { by: argv.by ?? whoami(), reason: argv.reason });
  const outcome = r.result ? `${r.result.statusText}: ${r.result.message}` : r.note;
  print(argv.json, `baseline of ${r.check} accepted by ${r.acceptance.by} at ${when(r.acceptance.at)}: ${r.acceptance.reason}\n${outcome}`, r);
}

async function show(argv: BaselineArgs): Promise<void> {
  const r = await api(argv.url, 'GET', `/api/v1/checks/${encodeURIComponent(argv.check)}/baseline`);
  const held = r.held.map((h: { key: string; bytes: number; updatedAt: string }) => `${h.key} of ${when(h.updatedAt)} (${h.bytes} bytes)`);
  const kept = held.length ? `keeps ${held.join(', ')}` : 'no baseline yet (its next run records one)';
  const rows = [['ACCEPTED', 'BY', 'REASON'], ...r.acceptances.map((a: { at: string; by: string; reason: string }) => [when(a.at), a.by, a.reason])];
  const lines = [`${r.check}: ${kept}${r.persistent ? '' : ' in memory (the agent has no store)'}`, r.acceptances.length ? formatColumns(rows) : 'no baseline accepted yet'];
  print(argv.json, lines.join('\n'), r);
}
