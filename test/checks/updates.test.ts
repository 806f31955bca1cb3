import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  assess, parseApkVersion, parseAptSimulation, parseCheckUpdate, parseUpdateinfo, runCommand, updatesCheck, type UpdatesInput,
} from '../../checks/updates';
import { findProgram, newestIndexFile } from '../../checks/updates/managers';
import { runCheck, startRun } from '../helpers/check';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'kw-updates-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const HOUR = 3_600_000;

// Recorded from `LC_ALL=C apt-get -s dist-upgrade` on Debian 12 (the Inst lines of a real
// run), with Ubuntu lines as Ubuntu 22.04 prints them: -updates, -security and ESM pockets.
const APT = `NOTE: This is only a simulation!
      apt-get needs root privileges for real execution.
Reading package lists...
Building dependency tree...
Calculating upgrade...
The following packages will be upgraded:
  base-files bash libgcrypt20 liblzma5
Inst base-files [12.4+deb12u11] (12.4+deb12u15 Debian:12.15/oldstable [amd64])
Inst bash [5.2.15-2+b8] (5.2.15-2+b13 Debian:12.15/oldstable [amd64])
Inst libgcrypt20-dev [1.10.1-3] (1.10.1-3+deb12u1 Debian:12.15/oldstable, Debian-Security:12/oldstable-security [amd64]) []
Inst liblzma5 [5.4.1-1] (5.4.1-1+deb12u2 Debian-Security:12/oldstable-security [amd64])
Inst linux-image-6.1.0-28-amd64 (6.1.119-1 Debian-Security:12/stable-security [amd64])
Inst libssl3 [3.0.2-0ubuntu1.10] (3.0.2-0ubuntu1.12 Ubuntu:22.04/jammy-updates, Ubuntu:22.04/jammy-security [amd64])
Inst vim [2:8.2.3995-1ubuntu2.15] (2:8.2.3995-1ubuntu2.16 UbuntuESMApps:22.04/jammy-apps-security [amd64])
Inst tzdata [2024a-0ubuntu0.22.04] (2024a-0ubuntu0.22.04.1 Ubuntu:22.04/jammy-updates [all])
Conf base-files (12.4+deb12u15 Debian:12.15/oldstable [amd64])
Conf liblzma5 (5.4.1-1+deb12u2 Debian-Security:12/oldstable-security [amd64])
`;

describe('parsers', () => {
  test('apt: every Inst line is pending; security ones come from a security archive or label', () => {
    const r = parseAptSimulation(APT);
    expect(r.pending.map((p) => p.name)).toEqual(['base-files', 'bash', 'libgcrypt20-dev', 'liblzma5', 'linux-image-6.1.0-28-amd64', 'libssl3', 'vim', 'tzdata']);
    expect(r.security.map((p) => p.name)).toEqual(['libgcrypt20-dev', 'liblzma5', 'linux-image-6.1.0-28-amd64', 'libssl3', 'vim']);
    expect(r.pending[0]).toEqual({ name: 'base-files', from: '12.4+deb12u11', to: '12.4+deb12u15' });
    expect(r.security[2]).toEqual({ name: 'linux-image-6.1.0-28-amd64', to: '6.1.119-1' }); // a new package: no installed version
    expect(parseAptSimulation('Reading package lists...\n0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n')).toEqual({ pending: [], security: [] });
  });

  test('dnf/yum check-update: name.arch lines, wrapped long names, the obsoletes section left out', () => {
    const text = `
kernel.x86_64                         5.14.0-427.13.1.el9_4              baseos
openssl-libs.x86_64                   1:3.0.7-27.el9                     baseos
python3-some-very-long-package-name-here.noarch
                                      1.2.3-4.el9                        appstream
Security: kernel-core-5.14.0-362.8.1.el9_3.x86_64 is an installed security update
Obsoleting Packages
grub2-tools.x86_64                    1:2.06-77.el9                      baseos
    grub2-tools.x86_64                1:2.06-70.el9                      @baseos
`;
    expect(parseCheckUpdate(text)).toEqual([
      { name: 'kernel', to: '5.14.0-427.13.1.el9_4' },
      { name: 'openssl-libs', to: '1:3.0.7-27.el9' },
      { name: 'python3-some-very-long-package-name-here', to: '1.2.3-4.el9' },
    ]);
  });

  test('updateinfo: dnf 4 and yum lines, dnf 5 columns; one entry per package at its worst severity', () => {
    const dnf4 = `RHSA-2024:2758 Important/Sec.  kernel-5.14.0-427.13.1.el9_4.x86_64
RHSA-2024:2758 Important/Sec.  kernel-core-5.14.0-427.13.1.el9_4.x86_64
RHSA-2024:1234 Moderate/Sec.   openssl-libs-1:3.0.7-27.el9.x86_64
RHSA-2024:9999 Critical/Sec.   openssl-libs-1:3.0.7-28.el9.x86_64
ALSA-2024:0001 Low/Sec.        tzdata-2024a-1.el9.noarch
`;
    expect(parseUpdateinfo(dnf4)).toEqual([
      { name: 'kernel', to: '5.14.0-427.13.1.el9_4', severity: 'high' },
      { name: 'kernel-core', to: '5.14.0-427.13.1.el9_4', severity: 'high' },
      { name: 'openssl-libs', to: '1:3.0.7-28.el9', severity: 'critical' },
      { name: 'tzdata', to: '2024a-1.el9', severity: 'low' },
    ]);
    const dnf5 = `Name                 Type     Severity  Package                               Issued
FEDORA-2024-1a2b3c4d security Important openssl-libs-1:3.2.2-3.fc40.x86_64    2024-07-01 01:23:45
FEDORA-2024-5e6f7a8b security None      curl-8.6.0-8.fc40.x86_64              2024-07-02 02:00:00
`;
    expect(parseUpdateinfo(dnf5)).toEqual([
      { name: 'openssl-libs', to: '1:3.2.2-3.fc40', severity: 'high' },
      { name: 'curl', to: '8.6.0-8.fc40', severity: 'medium' },
    ]);
    expect(parseUpdateinfo('RHSA-2020:5566 Important/Sec. openssl-1:1.0.2k-21.el7_9.x86_64\n')).toEqual([{ name: 'openssl', to: '1:1.0.2k-21.el7_9', severity: 'high' }]);
  });

  test("apk version -l '<'", () => {
    const text = `Installed:                                Available:
busybox-1.36.1-r2                       < 1.36.1-r5
libcrypto3-3.1.4-r1                     < 3.1.4-r5
py3-cffi-1.16.0-r0                      < 1.16.0-r1
`;
    expect(parseApkVersion(text)).toEqual([
      { name: 'busybox', from: '1.36.1-r2', to: '1.36.1-r5' },
      { name: 'libcrypto3', from: '3.1.4-r1', to: '3.1.4-r5' },
      { name: 'py3-cffi', from: '1.16.0-r0', to: '1.16.0-r1' },
    ]);
  });
});

describe('assess', () => {
  const base: UpdatesInput = { manager: 'apt', pending: [], security: [], indexAgeMs: 5 * HOUR, staleAfterMs: 168 * HOUR, reboot: { required: false, packages: [] } };

  test('a clean machine: no findings, every value there', () => {
    expect(assess(base)).toEqual({
      values: { pending: 0, security: 0, indexAgeHours: 5, indexStale: false, rebootRequired: false, findings: 0, critical: 0, high: 0, medium: 0, low: 0, info: 0 },
      message: 'apt: 0 pending, 0 security, index 5h old',
      findings: [],
    });
  });

  test('security updates are one finding each; the others one low finding', () => {
    const r = parseAptSimulation(APT);
    const o = assess({ ...base, ...r });
    expect(o.values).toMatchObject({ pending: 8, security: 5, high: 5, low: 1 });
    expect(o.findings[0]).toEqual({
      id: 'updates.security.libgcrypt20-dev',
      severity: 'high',
      title: 'Security update pending for libgcrypt20-dev (1.10.1-3 → 1.10.1-3+deb12u1)',
      subject: 'libgcrypt20-dev',
      fix: 'Upgrade it: apt-get update && apt-get upgrade (or let unattended-upgrades do it).',
      refs: ['CIS 1.9', 'Lynis PKGS-7392'],
    });
    expect(o.findings.find((f) => f.id === 'updates.pending')).toMatchObject({ severity: 'low', title: '3 other updates pending', subject: 'base-files, bash, tzdata' });
  });

  test('dnf advisories keep their severity', () => {
    const o = assess({ ...base, manager: 'dnf', pending: [{ name: 'openssl-libs' }], security: [{ name: 'openssl-libs', to: '1:3.0.7-28.el9', severity: 'critical' }] });
    expect(o.findings).toEqual([expect.objectContaining({ id: 'updates.security.openssl-libs', severity: 'critical', refs: ['CIS 1.9'] })]);
  });

  test('a stale index is a finding and says the counts cannot be trusted; a missing one too, without an age', () => {
    const stale = assess({ ...base, indexAgeMs: 240 * HOUR + 20 * 60_000 });
    expect(stale.values).toMatchObject({ indexAgeHours: 240.3, indexStale: true, medium: 1 });
    expect(stale.findings).toEqual([expect.objectContaining({ id: 'updates.index-stale', severity: 'medium', title: 'The package index is 10d old: the counts may miss updates published since' })]);
    expect(stale.message).toBe('apt: 0 pending, 0 security, index 240.3h old, stale: counts cannot be trusted');
    const missing = assess({ ...base, indexAgeMs: undefined });
    expect(missing.values.indexAgeHours).toBeUndefined();
    expect(missing.values.indexStale).toBe(true);
    expect(missing.findings).toEqual([expect.objectContaining({ id: 'updates.index-missing', fix: expect.stringContaining('never does it itself') })]);
  });

  test('apk: no security value, and its pending updates cannot be ranked routine', () => {
    const o = assess({ manager: 'apk', pending: parseApkVersion('busybox-1.36.1-r2 < 1.36.1-r5\n'), indexAgeMs: HOUR, staleAfterMs: 168 * HOUR });
    expect(o.values.security).toBeUndefined();
    expect(o.values.rebootRequired).toBeUndefined();
    expect(o.findings).toEqual([expect.objectContaining({ id: 'updates.pending', severity: 'medium', title: '1 update pending', refs: ['CIS 1.9', 'Lynis PKGS-7395'] })]);
    expect(o.message).toContain('security unknown (apk has no security data)');
  });

  test('a reboot required names the packages that asked for it', () => {
    const o = assess({ ...base, reboot: { required: true, packages: ['linux-image-6.1.0-28-amd64', 'libc6'] } });
    expect(o.values.rebootRequired).toBe(true);
    expect(o.findings).toEqual([{
      id: 'updates.reboot-required', severity: 'medium', title: expect.stringContaining('A reboot is required'),
      subject: 'linux-image-6.1.0-28-amd64, libc6', fix: 'Reboot in the next maintenance window.', refs: ['Lynis KRNL-5830'],
    }]);
  });

  test('every security update is a finding, so the severity counts are true (the runner keeps the worst 100)', () => {
    const many = Array.from({ length: 170 }, (_, i) => ({ name: `p${i}` }));
    const o = assess({ ...base, pending: many, security: many });
    expect(o.values).toMatchObject({ pending: 170, security: 170, high: 170, findings: 170 });
    expect(o.message).toContain('p9, … (170 in all)');
  });
});

test('the index age is the newest file there, lock files and partial downloads left out', async () => {
  const now = Date.now();
  const at = (rel: string, ageHours: number) => {
    const p = path.join(dir, rel);
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, 'x');
    const t = new Date(now - ageHours * HOUR);
    utimesSync(p, t, t);
  };
  at('deb.debian.org_debian_dists_bookworm_InRelease', 500);
  at('security_InRelease', 30);
  at('lock', 0);
  at('partial/half-downloaded', 0);
  const newest = await newestIndexFile(dir);
  expect(Math.round((now - newest!) / HOUR)).toBe(30);
  expect(await newestIndexFile(path.join(dir, 'none'))).toBeUndefined();
});

describe('commands', () => {
  test('runCommand collects output and the exit code, in the C locale', async () => {
    const r = await runCommand('/bin/sh', ['-c', 'echo "$LC_ALL"; echo oops >&2; exit 3'], new AbortController().signal);
    expect(r).toEqual({ code: 3, stdout: 'C\n', stderr: 'oops\n' });
  });

  test('a manager that is not installed makes the run unknown, naming what was looked for', async () => {
    const missing = (await findProgram('apk')) === undefined ? 'apk' : (await findProgram('dnf')) === undefined ? 'dnf' : undefined;
    if (!missing) return; // both installed: nothing to prove here
    await expect(runCheck(updatesCheck, { manager: missing })).rejects.toThrow(`no package manager found: looked for ${missing} in PATH and the sbin/bin directories`);
  });
});

// This machine and CI are Debian: apt-get missing fails here rather than skipping.
const hasApt = readdirSync('/usr/bin').includes('apt-get');

describe('this Debian machine (apt)', () => {
  test('has apt-get', () => expect(hasApt).toBe(true));

  test('the real apt simulation gives sane numbers; a reboot flag file is read with its packages', async () => {
    const flag = path.join(dir, 'reboot-required');
    writeFileSync(flag, '*** System restart required ***\n');
    writeFileSync(`${flag}.pkgs`, 'linux-base\nlibc6\nlinux-base\n');
    const indexBefore = await newestIndexFile('/var/lib/apt/lists');
    const o = await runCheck(updatesCheck, { rebootFile: flag }, { timeoutMs: 120_000 });
    const v = o.values as Record<string, number | boolean>;
    expect(v.pending).toBeGreaterThanOrEqual(v.security as number);
    expect(v.security).toBeGreaterThanOrEqual(0);
    expect(v.indexAgeHours).toBeGreaterThanOrEqual(0);
    expect(typeof v.indexStale).toBe('boolean');
    expect(v.rebootRequired).toBe(true);
    expect(o.findings!.find((f) => f.id === 'updates.reboot-required')?.subject).toBe('linux-base, libc6');
    expect(o.message).toMatch(/^apt: \d+ pending, \d+ security/);
    // A simulation from the local index: nothing was fetched.
    expect(await newestIndexFile('/var/lib/apt/lists')).toBe(indexBefore);
  }, 120_000);

  test('a run aborted while apt-get simulates kills apt-get', async () => {
    const { run, abort } = startRun(updatesCheck, {}, { timeoutMs: 120_000 });
    const pid = await waitFor(() => childNamed('apt-get'), 30_000);
    abort(new Error('timeout'));
    await expect(run).rejects.toThrow('timeout');
    await waitFor(() => (gone(pid) ? true : undefined), 10_000);
    expect(gone(pid)).toBe(true);
  }, 60_000);
});

/** A child of this process running `comm`, by pid. */
function childNamed(comm: string): number | undefined {
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && stat.includes(`(${comm})`)) return Number(e);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

function gone(pid: number): boolean {
  try {
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return state.slice(state.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

async function waitFor<T>(probe: () => T | undefined, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
