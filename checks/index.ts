import type { CheckDefinition } from './types';
import { authFailuresCheck } from './auth-failures';
import { costAnomalyCheck } from './cost-anomaly';
import { costBudgetCheck } from './cost-budget';
import { cpuCheck } from './cpu';
import { diskCheck } from './disk';
import { diskioCheck } from './diskio';
import { dnsCheck } from './dns';
import { dockerCheck } from './docker';
import { execCheck } from './exec';
import { fileCheck } from './file';
import { gpuCheck } from './gpu';
import { grpcCheck } from './grpc';
import { httpCheck } from './http';
import { httpHeadersCheck } from './http-headers';
import { idleCapacityCheck } from './idle-capacity';
import { integrityCheck } from './integrity';
import { loadCheck } from './load';
import { logCheck } from './log';
import { memoryCheck } from './memory';
import { mqttCheck } from './mqtt';
import { mysqlCheck } from './mysql';
import { natsCheck } from './nats';
import { networkCheck } from './network';
import { permissionsCheck } from './permissions';
import { pingCheck } from './ping';
import { portsCheck } from './ports';
import { postgresCheck } from './postgres';
import { processCheck } from './process';
import { pushCheck } from './push';
import { rabbitmqCheck } from './rabbitmq';
import { redisCheck } from './redis';
import { sshdCheck } from './sshd';
import { systemdCheck } from './systemd';
import { tcpCheck } from './tcp';
import { tlsCertCheck } from './tls-cert';
import { updatesCheck } from './updates';
import { usersCheck } from './users';

/** Every check type, one line each; the engine finds checks here and nowhere else. */
export const checkTypes: readonly CheckDefinition<any>[] = [
  authFailuresCheck,
  costAnomalyCheck,
  costBudgetCheck,
  cpuCheck,
  diskCheck,
  diskioCheck,
  dnsCheck,
  dockerCheck,
  execCheck,
  fileCheck,
  gpuCheck,
  grpcCheck,
  httpCheck,
  httpHeadersCheck,
  idleCapacityCheck,
  integrityCheck,
  loadCheck,
  logCheck,
  memoryCheck,
  mqttCheck,
  mysqlCheck,
  natsCheck,
  networkCheck,
  permissionsCheck,
  pingCheck,
  portsCheck,
  postgresCheck,
  processCheck,
  pushCheck,
  rabbitmqCheck,
  redisCheck,
  sshdCheck,
  systemdCheck,
  tcpCheck,
  tlsCertCheck,
  updatesCheck,
  usersCheck,
];

/** Check types by their YAML `type:` name. */
export const registry: ReadonlyMap<string, CheckDefinition<any>> = new Map(checkTypes.map((c) => [c.type, c]));
