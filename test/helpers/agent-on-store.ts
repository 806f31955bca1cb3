import fs from 'node:fs';
import { Writable } from 'node:stream';
import { Agent } from '../../agent/agent';
import { loadConfigText } from '../../agent/config/load';
import { createLogger } from '../../agent/logger';
import { Metrics } from '../../agent/metrics';
import { AgentServer } from '../../agent/server';
import { Store } from '../../agent/store/store';

/** An agent started in this process, with its API's base URL. */
export interface RunningAgent {
  agent: Agent;
  base: string;
  stop(): Promise<void>;
}

/**
 * Starts the agent of `configFile` in this process on its real store (its dataDir), with its
 * API on a free port, as `keepwatch run` does; no check runs on its own for an hour.
 */
export async function startAgentOnStore(configFile: string): Promise<RunningAgent> {
  const config = loadConfigText(fs.readFileSync(configFile, 'utf8'), configFile, { env: {} });
  const store = Store.open(config.agent.dataDir);
  const log = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) as never });
  const agent = await Agent.create(config, { log, metrics: new Metrics({ version: 't', defaultMetrics: false }), store, initialSpreadMs: 3_600_000 });
  const server = new AgentServer(agent, log);
  const base = `http://127.0.0.1:${(await server.listen('127.0.0.1', 0)).port}`;
  agent.start();
  return {
    agent,
    base,
    stop: async () => {
      await server.close();
      await agent.stop();
      store.close();
    },
  };
}
