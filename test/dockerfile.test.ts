import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../agent/paths';

// No Docker engine runs here, so the Dockerfile is checked by reading it: everything it
// copies, runs and points at must exist, and the runtime stage must match the contract.

const root = packageRoot();
const text = fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
const stages: { from: string; name?: string; lines: string[] }[] = [];
for (const l of lines) {
  const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(l);
  if (from) stages.push({ from: from[1], name: from[2], lines: [] });
  else stages[stages.length - 1].lines.push(l);
}
const build = stages[0];
const runtime = stages[stages.length - 1];
const instr = (stage: typeof build, name: string) => stage.lines.filter((l) => l.toUpperCase().startsWith(`${name} `));
const dockerignore = fs.readFileSync(path.join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);

test('is multi-stage on node:20-slim', () => {
  expect(stages.length).toBeGreaterThanOrEqual(2);
  for (const s of stages) expect(s.from).toBe('node:20-slim');
});

test('every file copied from the build context exists and is not docker-ignored', () => {
  const sources = stages.flatMap((s) => instr(s, 'COPY')).filter((l) => !/--from=/.test(l))
    .flatMap((l) => l.split(/\s+/).slice(1, -1));
  expect(sources.length).toBeGreaterThan(3);
  for (const src of sources) {
    expect([src, fs.existsSync(path.join(root, src))]).toEqual([src, true]);
    expect(dockerignore).not.toContain(src.split('/')[0]);
  }
});

test('what the runtime stage copies from the build stage is produced there', () => {
  const workdir = instr(build, 'WORKDIR')[0].split(/\s+/)[1];
  const froms = instr(runtime, 'COPY').filter((l) => l.includes(`--from=${build.name}`)).map((l) => l.split(/\s+/)[2]);
  expect(froms.map((f) => path.posix.relative(workdir, f)).sort()).toEqual(['config', 'dist', 'node_modules', 'package.json']);
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const runs = instr(build, 'RUN').join(' ');
  expect(runs).toContain('npm ci');
  expect(runs).toContain('npm run build');
  expect(pkg.scripts.build).toContain('tsconfig.build.json');
  const tsBuild = JSON.parse(fs.readFileSync(path.join(root, 'tsconfig.build.json'), 'utf8'));
  const tsBase = JSON.parse(fs.readFileSync(path.join(root, 'tsconfig.json'), 'utf8'));
  expect(tsBase.compilerOptions.outDir).toBe('dist');
  // The build stage copies every folder the build compiles.
  const copied = instr(build, 'COPY').flatMap((l) => l.split(/\s+/).slice(1, -1));
  for (const dir of tsBuild.include) expect(copied).toContain(dir);
});

test('the entrypoint is the built CLI under the runtime WORKDIR', () => {
  const workdir = instr(runtime, 'WORKDIR')[0].split(/\s+/)[1];
  const entry = JSON.parse(instr(runtime, 'ENTRYPOINT')[0].slice('ENTRYPOINT'.length));
  expect(entry[0]).toBe('node');
  expect(entry[entry.length - 1]).toBe(path.posix.join(workdir, 'dist/agent/cli.js'));
  // Node runs with the same flags as `npm start` and the CLI's shebang.
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const startFlags = pkg.scripts.start.split(' ').filter((w: string) => w.startsWith('--'));
  expect(startFlags.length).toBeGreaterThan(0);
  expect(entry.slice(1, -1)).toEqual(startFlags);
  const shebang = fs.readFileSync(path.join(root, 'agent', 'cli.ts'), 'utf8').split('\n')[0];
  expect(shebang).toBe(`#!/usr/bin/env -S node ${startFlags.join(' ')}`);
  // dist/agent/cli.js is what tsc makes of agent/cli.ts (jest's global setup has just built it).
  expect(fs.existsSync(path.join(root, 'agent', 'cli.ts'))).toBe(true);
  expect(fs.existsSync(path.join(root, 'dist', 'agent', 'cli.js'))).toBe(true);
  expect(JSON.parse(instr(runtime, 'CMD')[0].slice(3))).toEqual(['run']);
});

test('runs as a dedicated non-root user created in the image', () => {
  const user = instr(runtime, 'USER')[0].split(/\s+/)[1];
  expect(user).not.toMatch(/^(root|0)$/);
  expect(instr(runtime, 'RUN').join(' ')).toMatch(new RegExp(`useradd .*\\b${user}\\b`));
});

test('config at /etc/keepwatch/keepwatch.yaml, data at /var/lib/keepwatch owned by the user', () => {
  const env = instr(runtime, 'ENV').join(' ');
  expect(env).toContain('KEEPWATCH_CONFIG=/etc/keepwatch/keepwatch.yaml');
  expect(env).toContain('KEEPWATCH_DATA_DIR=/var/lib/keepwatch');
  expect(instr(runtime, 'COPY').some((l) => /\s\/etc\/keepwatch\/keepwatch\.yaml$/.test(l))).toBe(true);
  expect(instr(runtime, 'RUN').join(' ')).toMatch(/chown keepwatch:keepwatch \/var\/lib\/keepwatch/);
  expect(instr(runtime, 'VOLUME')[0]).toContain('/var/lib/keepwatch');
  // The default config honours both variables.
  const def = fs.readFileSync(path.join(root, 'config', 'default.yaml'), 'utf8');
  expect(def).toContain('${KEEPWATCH_DATA_DIR:-./data}');
  expect(def).toContain('${KEEPWATCH_PORT:-9470}');
});

test('HEALTHCHECK probes /healthz on the listen port, which is exposed', () => {
  const hc = instr(runtime, 'HEALTHCHECK')[0];
  expect(hc).toContain('/healthz');
  expect(hc).toContain('process.env.KEEPWATCH_PORT');
  expect(instr(runtime, 'ENV').join(' ')).toContain('KEEPWATCH_PORT=9470');
  expect(instr(runtime, 'EXPOSE')[0]).toBe('EXPOSE 9470');
});
