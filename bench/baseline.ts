import http from 'node:http';
import axios from 'axios';

/**
 * The bare baselines, run in their own process: N sequential GETs to the target on fresh
 * connections, with Node's http.get (`agent: false`) or axios (a keepAlive:false agent).
 * Prints {mode, requests, cpuMsPerRequest, wallMsPerRequest} as JSON.
 */
async function main(): Promise<void> {
  const [mode, url, n = '3000'] = process.argv.slice(2);
  const count = Number(n);
  const plainAgent = new http.Agent({ keepAlive: false });
  const once = mode === 'axios' ? () => viaAxios(url, plainAgent) : () => viaHttp(url);
  for (let i = 0; i < Math.min(500, count); i++) await once(); // JIT warm-up
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < count; i++) await once();
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  process.stdout.write(`${JSON.stringify({ mode, requests: count, cpuMsPerRequest: cpuMs / count, wallMsPerRequest: wall / count })}\n`);
}

function viaHttp(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
        res.resume();
        res.on('end', resolve);
      })
      .on('error', reject);
  });
}

async function viaAxios(url: string, agent: http.Agent): Promise<void> {
  const res = await axios.get<string>(url, { httpAgent: agent, proxy: false, responseType: 'text' });
  if (res.status !== 200) throw new Error(`status ${res.status}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`baseline failed: ${String(err)}\n`);
  process.exit(1);
});
