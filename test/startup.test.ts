import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { runCli, startDaemon, tempDir, type Daemon } from './helpers/daemon';

jest.setTimeout(30_000);

let dir: ReturnType<typeof tempDir>;
beforeAll(() => {
  dir = tempDir();
});
afterAll(() => dir.cleanup());

function config(name: string, dataDir: string): string {
  const file = path.join(dir.dir, name);
  fs.writeFileSync(file, `agent: { listen: "127.0.0.1:0", dataDir: ${JSON.stringify(dataDir)} }\nchecks: [{ name: l, type: load }]\n`);
  return file;
}

/** The JSON log lines of a run (stdout), for the fatal record. */
const records = (stdout: string) => stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

describe('start-up failures that are not config errors: one plain line on stderr, exit 1', () => {
  test('the port is taken', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      const r = await runCli(['run', '--config', config('port.yaml', path.join(dir.dir, 'port-data')), '--listen', `127.0.0.1:${port}`]);
      expect(r.stderr).toBe(`keepwatch: cannot listen on 127.0.0.1:${port}: address already in use (is another agent running? set agent.listen or --listen)\n`);
      expect(r.code).toBe(1);
      expect(records(r.stdout).at(-1)).toMatchObject({ level: 'fatal', msg: 'cannot start', code: 'EADDRINUSE', listen: `127.0.0.1:${port}` });
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  test('another agent holds the store', async () => {
    const file = config('locked.yaml', path.join(dir.dir, 'shared-data'));
    let first: Daemon | undefined;
    try {
      first = await startDaemon(['--config', file]);
      const r = await runCli(['run', '--config', file]);
      expect(r.stderr).toBe(`keepwatch: the store ${path.join(dir.dir, 'shared-data', 'keepwatch.db')} is in use by another keepwatch agent (one agent per agent.dataDir)\n`);
      expect(r.code).toBe(1);
      expect(records(r.stdout).at(-1)).toMatchObject({ level: 'fatal', msg: 'cannot start', dataDir: path.join(dir.dir, 'shared-data') });
    } finally {
      await first?.stop();
    }
  });

  test('the data directory cannot be made (a file stands where it should be)', async () => {
    // Tests run as root, for whom a read-only mode is no obstacle: a file in the way is.
    const blocker = path.join(dir.dir, 'a-file');
    fs.writeFileSync(blocker, '');
    const r = await runCli(['run', '--config', config('nodir.yaml', path.join(blocker, 'data'))]);
    expect(r.stderr).toMatch(new RegExp(`^keepwatch: cannot create the data directory ${blocker}/data: ENOTDIR: not a directory, mkdir '${blocker}/data' \\(set agent\\.dataDir to a writable directory\\)\n$`));
    expect(r.code).toBe(1);
  });
});
