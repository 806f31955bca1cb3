import { stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { defineCheck, findingFields, findingValues, type FieldSpec, type Finding } from '../types';
import { ConfigReadError, parseSshdConfig, underRoot, type ParsedConfig } from './config-file';
import { findSshd, runSshdT, SshdTError, settingsFromDump, settingsFromFiles, type SshdSettings } from './effective';
import { countWeak, invalidConfigFinding, judgeFileMode, judgeMatchBlocks, judgeSettings, policySchema } from './policy';

const HOUR = 3_600_000;

const absolute = (example: string) =>
  z.string().refine((p) => path.isAbsolute(p), { message: `expected an absolute path such as ${example}` });

const schema = z
  .strictObject({
    method: z
      .enum(['auto', 'sshd', 'file'])
      .default('auto')
      .describe('How to learn the effective config: sshd (run `sshd -T`, needs root), file (read sshd_config and its Includes), auto (sshd -T, else the files).'),
    configFile: absolute('/etc/ssh/sshd_config').default('/etc/ssh/sshd_config').describe('The sshd_config to judge (passed to sshd -T as -f).'),
    root: absolute('/host')
      .default('/')
      .describe('Where the host filesystem is mounted (a container with the host / at /host): configFile and its Includes are read under it, and sshd -T is not run.'),
    sshdPath: absolute('/usr/sbin/sshd').optional().describe('The sshd binary (default: the first of /usr/sbin/sshd, /usr/local/sbin/sshd, /sbin/sshd found).'),
    policy: policySchema.describe('What the site accepts: permitRootLogin, allowPasswordAuthentication, allowX11Forwarding, maxAuthTries, weak algorithm patterns, finding ids to ignore.'),
  })
  .refine((s) => !(s.method === 'sshd' && s.root !== '/'), {
    message: 'sshd -T reads the Includes from this machine, not from root: use method auto or file with root',
    path: ['method'],
  });

const fields: Record<string, FieldSpec> = {
  ...findingFields({
    critical: 'Critical findings (PermitEmptyPasswords yes)',
    high: 'High findings (PermitRootLogin yes, a config file others can write)',
    medium: 'Medium findings (PasswordAuthentication yes, weak ciphers or key exchange)',
    low: 'Low findings (X11Forwarding, MaxAuthTries, weak MACs, Match blocks changing judged settings)',
    info: 'Info findings (Match blocks changing no judged setting, a config file readable by group or others)',
  }),
  permitRootLogin: { type: 'string', help: 'Effective PermitRootLogin: yes, no, prohibit-password or forced-commands-only' },
  passwordAuthentication: { type: 'boolean', help: 'Effective PasswordAuthentication' },
  permitEmptyPasswords: { type: 'boolean', help: 'Effective PermitEmptyPasswords' },
  x11Forwarding: { type: 'boolean', help: 'Effective X11Forwarding' },
  maxAuthTries: { type: 'number', unit: 'count', help: 'Effective MaxAuthTries' },
  weakAlgorithms: { type: 'number', unit: 'count', help: 'Ciphers, MACs and key exchange algorithms offered that the policy calls weak' },
  matchBlocks: { type: 'number', unit: 'count', help: 'Match blocks in the files read (not evaluated)' },
  source: { type: 'string', help: 'Where the settings came from: `sshd -T` or `file`' },
};

/** Judges the effective sshd configuration against a hardening policy (CIS 5.2, Lynis SSH-7408). */
export const sshdCheck = defineCheck({
  type: 'sshd',
  category: 'security',
  schedule: { every: HOUR },
  summary: 'Judges the effective sshd configuration (sshd -T, else sshd_config with its Includes): root login, passwords, forwarding, weak algorithms, file modes.',
  schema,
  fields,
  defaults: { warn: ['high > 0'], crit: ['critical > 0'] },
  async run({ spec, signal }) {
    let settings: SshdSettings | undefined;
    let source: 'sshd -T' | 'file' = 'sshd -T';
    let fallback = '';
    let rejected: string | undefined;
    if (spec.method !== 'file' && spec.root === '/') {
      const sshd = await findSshd(spec.sshdPath);
      if (!sshd) fallback = spec.sshdPath ? `${spec.sshdPath} is not executable` : 'no sshd binary found';
      else {
        try {
          settings = settingsFromDump(await runSshdT(sshd, spec.configFile, signal));
        } catch (err) {
          if (signal.aborted) throw err;
          fallback = (err as Error).message;
          if (err instanceof SshdTError && err.configProblem) rejected = err.configProblem;
        }
      }
      if (!settings && spec.method === 'sshd') {
        throw new Error(`sshd check: ${fallback} (sshd -T needs root to read the host keys, or method: file)`);
      }
    }

    // The files are read in every mode: for the Match blocks and the modes of every file
    // sshd reads. When sshd -T answered, a file the agent cannot read only loses those.
    let parsed: ParsedConfig | undefined;
    let unread = '';
    try {
      parsed = await parseSshdConfig(spec.configFile, spec.root);
    } catch (err) {
      if (!(err instanceof ConfigReadError)) throw err;
      if (!settings) {
        const sshdWhy = fallback ? `; sshd -T did not help either (${fallback})` : '';
        throw new Error(`sshd check: cannot read ${err.message}${sshdWhy}`, { cause: err });
      }
      unread = err.message;
    }
    if (!settings) {
      settings = settingsFromFiles(parsed as ParsedConfig);
      source = 'file';
    }

    let findings: Finding[] = [...judgeSettings(settings, spec.policy, spec.configFile), ...judgeMatchBlocks(parsed?.matchBlocks ?? [])];
    if (rejected) findings.push(invalidConfigFinding(spec.configFile, rejected));
    for (const file of parsed?.files ?? [spec.configFile]) {
      const st = await stat(underRoot(spec.root, file)).catch(() => undefined);
      if (st) findings.push(...judgeFileMode(file, st));
    }
    const ignored = (id: string) => spec.policy.ignore.some((i) => id === i || id.startsWith(`${i}.`));
    findings = findings.filter((f) => !ignored(f.id));

    const counts = findingValues(findings);
    const weakAlgorithms = countWeak(settings, spec.policy, ignored);
    const values = {
      ...counts,
      permitRootLogin: settings.permitRootLogin,
      passwordAuthentication: settings.passwordAuthentication,
      permitEmptyPasswords: settings.permitEmptyPasswords,
      x11Forwarding: settings.x11Forwarding,
      maxAuthTries: settings.maxAuthTries,
      weakAlgorithms,
      matchBlocks: parsed?.matchBlocks.length ?? 0,
      source,
    };
    const worst = (['critical', 'high', 'medium', 'low'] as const).filter((s) => counts[s] > 0).map((s) => `${counts[s]} ${s}`);
    let message = `${spec.configFile} (${source}): PermitRootLogin ${settings.permitRootLogin}, PasswordAuthentication ${settings.passwordAuthentication ? 'yes' : 'no'}; ` +
      (worst.length ? `findings: ${worst.join(', ')}` : 'no findings above info');
    if (source === 'file' && fallback) message += ` (sshd -T unavailable: ${fallback})`;
    if (unread) message += ` (Match blocks and file modes unknown: cannot read ${unread})`;
    return { values, message, findings };
  },
});
