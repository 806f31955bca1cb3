import os from 'node:os';
import { z } from 'zod';
import { registry } from '../../checks';
import { duration, percent } from '../../checks/units';
import { coverageSchema } from '../incidents/coverage-schema';
import { maintenanceSchema } from '../incidents/maintenance-schema';
import { remediateSchema } from '../responders/remediate';
import { logsSchema } from '../responders/snapshot';
import { notifierRegistry } from '../notifiers';
import { templateProblem } from '../notifiers/render';
import { httpUrl } from '../../checks/types';

/** Check names: letters, digits and `_ . -`, so they are safe in URLs, metric labels and file names. */
export const CHECK_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** Label names our own metrics use; a check label may not take them. */
export const RESERVED_LABELS = ['check', 'type', 'category', 'field', 'status', 'reason', 'le', 'quantile', 'instance', 'job'];

const labelName = z
  .string()
  .regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, { message: 'label names are letters, digits and _, not starting with a digit' })
  .refine((k) => !k.startsWith('__') && !RESERVED_LABELS.includes(k), {
    message: `reserved label name (reserved: ${RESERVED_LABELS.join(', ')}, and names starting with __)`,
  });

/** A level's condition with options: `for:` (N of M runs, or a duration) and `clear:` (hysteresis). */
const levelRule = z
  .strictObject({
    when: z.string().describe('The condition that sets this level, e.g. "usedPercent > 90" or "p95(latencyMs, 15m) > 800".'),
    for: z
      .string()
      .optional()
      .describe('Set the level only when the condition held in N of the last M runs ("3 of 5"), or on every run for a duration ("2m").'),
    clear: z.string().optional().describe('Hysteresis: once set, the level stays until this condition holds (e.g. "usedPercent < 85").'),
  });

export type LevelRule = z.output<typeof levelRule>;

const conditions = z
  .union([z.string(), levelRule, z.array(z.union([z.string(), levelRule]))], {
    error: 'expected a condition such as "latencyMs > 300", a list of them, or { when: …, for: …, clear: … }',
  })
  .transform((v): Array<string | LevelRule> => (Array.isArray(v) ? v : [v]))
  .describe(
    'Condition(s); any that holds sets this level. A condition compares a field or a window function of the check\'s history ("avg(latencyMs, 5m) > 300") and may join others with and, or, not and parentheses. An entry may be { when, for, clear }. Setting a level replaces the check type\'s default for it.',
  );

/** Host and port to listen on: `0.0.0.0:9470`, `127.0.0.1:0`, `[::1]:9470`, `:9470`, or a bare port `9470`. */
export const LISTEN_RE = /^(?:(?:\[([0-9a-fA-F:.]+)\]|([^:\s]*)):)?(\d{1,5})$/;

/**
 * Splits a listen address. No host (`:9470`, or a bare port as Prometheus exporters take it)
 * means all interfaces.
 */
export function parseListen(listen: string): { host: string; port: number } {
  const m = LISTEN_RE.exec(listen);
  if (!m || Number(m[3]) > 65_535) throw new Error(`not a listen address: ${listen}`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port: Number(m[3]) };
}

const LISTEN_MESSAGE = 'expected a port (0 to 65535) or host:port, e.g. 9470, "0.0.0.0:9470" or "127.0.0.1:9470"';

/** A listen address as `agent.listen` takes it (a bare port may be a YAML number), written out as host:port. */
const listenAddress = z
  .union([z.number().int(LISTEN_MESSAGE).min(0, LISTEN_MESSAGE).max(65_535, LISTEN_MESSAGE), z.string().regex(LISTEN_RE, LISTEN_MESSAGE)], { error: LISTEN_MESSAGE })
  .transform((v, ctx) => {
    let addr: { host: string; port: number };
    try {
      addr = parseListen(String(v));
    } catch {
      ctx.addIssue({ code: 'custom', message: LISTEN_MESSAGE });
      return z.NEVER;
    }
    return `${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}`;
  });

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** Keys every check has, whatever its type. The engine reads them; the check type never sees them. */
export const commonCheckShape = {
  name: z.string().regex(CHECK_NAME_RE, { message: 'check names are letters, digits and _ . -, starting with a letter or digit' })
    .describe('Unique name; the `check` label of every metric and the key of its incidents.'),
  type: z.string().describe('The check type.'),
  description: z.string().optional().describe('What this check is for, shown in the API.'),
  enabled: z.boolean().default(true).describe('Set false to keep the entry but not run it.'),
  every: duration({ min: 1000 }).optional().describe('Run interval (default `defaults.every`). Exclusive with `cron`.'),
  cron: z.string().optional().describe('Cron schedule with optional seconds field, e.g. "0 */5 * * * *". Exclusive with `every`.'),
  timezone: z.string().optional().describe('IANA time zone for `cron` (default: the host\'s).'),
  timeout: duration({ min: 1, max: 86_400_000 }).optional().describe('Abort a run after this long (default `defaults.timeout`, capped at `every`; at most 1d).'),
  retryEvery: duration({ min: 1000 }).optional().describe('Re-check a failing check this often until the failure is confirmed (`incidents.openAfter` results).'),
  warn: conditions.optional(),
  crit: conditions.optional(),
  labels: z.record(labelName, z.string()).optional().describe('Extra labels on `keepwatch_check_status` (bounded values only: no ids or URLs).'),
  openAfter: z.number().int().min(1).max(100).optional().describe('Override incidents.openAfter for this check.'),
  resolveAfter: z.number().int().min(1).max(100).optional().describe('Override incidents.resolveAfter for this check.'),
  dependsOn: z.array(z.string()).optional().describe('Checks this one depends on: while one fails, this one opens no incident of its own.'),
  coverage: z.string().optional().describe('The service timeframe whose hours SLA clocks count (default `defaults.coverage`, else 24x7).'),
  slo: percent()
    .refine((n) => n > 0 && n < 100, { message: 'an objective between 0% and 100%, e.g. 99.9%' })
    .optional()
    .describe('Availability objective (share of runs not critical), e.g. 99.9%: exported as keepwatch_check_slo_objective for the shipped burn-rate rules.'),
  remediate: remediateSchema.optional().describe('L1 automatic remediation run when an incident opens.'),
  logs: logsSchema.optional().describe('Log files whose last matching lines go into the diagnostic snapshot.'),
};

/**
 * Limits of the HTTP listener. Defaults keep a flood of idle or slow clients well below a
 * typical `nofile` of 1024, so the agent's own checks never run out of file descriptors.
 */
export const httpLimitsSchema = z
  .strictObject({
    maxConnections: z.number().int().min(1).max(100_000).default(256)
      .describe('Most client connections open at once. At the cap, the connection idle longest is closed for the new one; with none idle, the new one is closed.'),
    maxConnectionsPerAddress: z.number().int().min(1).max(100_000).default(32)
      .describe('Most connections from one client address; at the cap, that address\'s connection idle longest makes room, or the new one is closed.'),
    headersTimeout: duration({ min: 100, max: 3_600_000 }).default(10_000)
      .describe('Close a connection that has not sent complete request headers within this long (silent and slow clients).'),
    requestTimeout: duration({ min: 100, max: 3_600_000 }).default(30_000)
      .describe('Close a connection whose whole request (headers and body) has not arrived within this long.'),
    keepAliveTimeout: duration({ min: 100, max: 3_600_000 }).default(5_000)
      .describe('Close a kept-alive connection idle this long after its last answer (scrapers reconnect; a GET on a just-closed connection is retried).'),
  })
  .superRefine((h, ctx) => {
    if (h.maxConnectionsPerAddress > h.maxConnections) {
      ctx.addIssue({ code: 'custom', path: ['maxConnectionsPerAddress'], message: 'must not exceed maxConnections' });
    }
    if (h.headersTimeout > h.requestTimeout) {
      ctx.addIssue({ code: 'custom', path: ['headersTimeout'], message: 'must not exceed requestTimeout (the headers are part of the request)' });
    }
  });

/** The listener limits of a config that sets none. */
export const HTTP_DEFAULTS: Readonly<z.output<typeof httpLimitsSchema>> = Object.freeze(httpLimitsSchema.parse({}));

const agentSchema = z
  .strictObject({
    name: z.string().min(1).max(128).default(os.hostname()).describe('This agent\'s name (default: the host name).'),
    listen: listenAddress.prefault('0.0.0.0:9470')
      .describe('Address of the HTTP listener (metrics, health, API): host:port, or a bare port (e.g. 9470) for every interface.'),
    dataDir: z.string().min(1).default('./data').describe('Where the agent keeps its state.'),
    concurrency: z.number().int().min(1).max(10_000).default(32).describe('Most check runs in flight at once.'),
    logLevel: z.enum(LOG_LEVELS).default('info').describe('Log level (KEEPWATCH_LOG_LEVEL or --log-level override it).'),
    http: httpLimitsSchema.optional().describe('Connection limits and timeouts of the HTTP listener (defaults: 256 connections, 32 per address, headers 10s, request 30s, keep-alive 5s).'),
  })
  .prefault({})
  .describe('The agent itself.');

const apiSchema = z
  .strictObject({
    token: z.string().optional().describe('Admin bearer token for every POST/DELETE. Unset or empty: the mutating API is disabled (403).'),
    readToken: z.string().optional().describe('Read-only bearer token. When set, GET /api/v1/* needs it or the admin token.'),
    metrics: z
      .strictObject({
        auth: z.enum(['none', 'bearer', 'basic']).default('none').describe('Protect /metrics: bearer accepts readToken or token; basic uses username/password.'),
        username: z.string().optional().describe('Basic-auth user for /metrics.'),
        password: z.string().optional().describe('Basic-auth password for /metrics.'),
      })
      .default({ auth: 'none' })
      .superRefine((m, ctx) => {
        if (m.auth === 'basic' && (!m.username || !m.password)) {
          ctx.addIssue({ code: 'custom', message: 'auth: basic needs username and password' });
        }
      }),
  })
  .prefault({})
  .superRefine((a, ctx) => {
    if (a.metrics.auth === 'bearer' && !a.token && !a.readToken) {
      ctx.addIssue({ code: 'custom', path: ['metrics', 'auth'], message: 'auth: bearer needs api.readToken or api.token' });
    }
  })
  .describe('The HTTP API and who may use it.');

const defaultsSchema = z
  .strictObject({
    every: duration({ min: 1000 }).default(30_000).describe('Run interval for checks that set neither `every` nor `cron`.'),
    timeout: duration({ min: 1, max: 86_400_000 }).default(10_000).describe('Run timeout for checks that set none (at most 1d).'),
    retryEvery: duration({ min: 1000 }).optional().describe('Default `retryEvery` for every check.'),
    coverage: z.string().optional().describe('Default service timeframe of every check (for SLA clocks).'),
  })
  .prefault({})
  .describe('Defaults for every check.');

const severity = z.enum(['warning', 'critical']);

const incidentsSchema = z
  .strictObject({
    openAfter: z.number().int().min(1).max(100).default(3).describe('Consecutive non-ok results that open an incident (and confirm a failure for retryEvery).'),
    resolveAfter: z.number().int().min(1).max(100).default(2).describe('Consecutive ok results that resolve it.'),
    unknownIs: z.enum(['ignore', 'warning', 'critical']).default('warning').describe('What an unknown result (a check that could not run) counts as.'),
    flapping: z
      .strictObject({
        enabled: z.boolean().default(true).describe('Detect flapping checks (Nagios\' weighted state-change percentage over 21 results).'),
        low: z.number().min(0).max(100).default(5).describe('Settled at or below this percentage.'),
        high: z.number().min(0).max(100).default(20).describe('Flapping at or above this percentage.'),
      })
      .prefault({})
      .refine((f) => f.low < f.high, { message: 'low must be below high' }),
    snapshots: z.boolean().default(true).describe('Take a diagnostic snapshot (top processes, disks, memory, load, log lines) when an incident opens.'),
    retention: duration({ min: 86_400_000 }).default(90 * 86_400_000).describe('Keep resolved incidents (with timelines) this long; older ones are pruned.'),
  })
  .prefault({})
  .describe('How check results become incidents.');

const tierSchema = z.strictObject({
  name: z.string().min(1).describe('Tier name, e.g. L1 … L4 (the `tier` label of keepwatch_incidents_open).'),
  after: duration().default(0).describe('Reached this long after the incident opened, unless acknowledged.'),
  notify: z.array(z.string()).default([]).describe('Notifiers to call when this tier is reached.'),
  match: z
    .record(z.string(), z.union([z.string(), z.array(z.string())]))
    .default({})
    .transform((m) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, typeof v === 'string' ? [v] : v])))
    .describe('Only incidents whose labels (check labels plus check, type, severity) equal these (a list means any of them).'),
  coverage: z.string().optional().describe('Pages from this tier wait while this coverage timeframe is closed.'),
  pageAnyway: z.array(severity).default([]).describe('Severities that page outside the coverage anyway.'),
  repeat: z
    .strictObject({
      every: duration({ min: 60_000 }).describe('Re-notify this tier this often until acknowledged.'),
      max: z.number().int().min(1).max(100).default(3).describe('At most this many times.'),
    })
    .optional(),
});

const slaTarget = z.strictObject({
  respond: duration({ min: 1000 }).optional().describe('Time to acknowledge, counted inside the incident\'s coverage.'),
  resolve: duration({ min: 1000 }).optional().describe('Time to resolve, counted inside the incident\'s coverage.'),
});

const slaSchema = z
  .strictObject({ warning: slaTarget.optional(), critical: slaTarget.optional() })
  .prefault({})
  .describe('SLA targets per severity; clocks run only inside the check\'s coverage timeframe.');

const template = z.string().min(1).superRefine((t, ctx) => {
  const problem = templateProblem(t);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const templatesSchema = z
  .strictObject({
    title: template.optional().describe('One line: `{{EVENT}} {{severity}}: {{check}}` by default. Fields: EVENT, event, agent, check, type, severity, state, tier, summary, openedAt, respondDue, resolveDue, acknowledgedBy, resolvedBy, values.X, labels.X, links.incident, links.grafana, snapshot; {{#field}}…{{/field}} only when the field is set.'),
    text: template.optional().describe('The body: summary, tier, respond deadline and links by default.'),
  })
  .describe('Message templates.');

const notificationsSchema = z
  .strictObject({
    maxAge: duration({ min: 60_000 }).default(86_400_000).describe('Give up on a notification this long after it could first go (counted as expired).'),
    timeout: duration({ min: 1000, max: 300_000 }).default(30_000).describe('Abandon one delivery attempt after this long (it is retried), 1s to 5m.'),
    templates: templatesSchema.optional(),
    links: z
      .strictObject({
        agent: httpUrl().optional()
          .describe('How people reach this agent\'s API (default http://<host name>:<listen port>); incidents link to <agent>/api/v1/incidents/ID.'),
        grafana: template.refine((u) => /^https?:\/\//i.test(u), { message: 'expected an http:// or https:// URL template' }).optional().describe('A Grafana URL template for the check, e.g. "https://grafana.example/d/keepwatch-check?var-check={{check}}".'),
      })
      .prefault({}),
  })
  .prefault({})
  .describe('How notifications are delivered and what they say.');

/** Keys every notifier has, whatever its type. */
export const commonNotifierShape = {
  name: z.string().regex(CHECK_NAME_RE, { message: 'notifier names are letters, digits and _ . -' }).describe('Name that escalation tiers refer to.'),
  type: z.string().describe('The notifier type.'),
  coverage: z.string().optional().describe('Deliveries wait while this coverage timeframe is closed.'),
  pageAnyway: z.array(severity).default([]).describe('Severities whose pages go outside the coverage anyway.'),
  templates: templatesSchema.optional(),
};

/** The top-level config; `checks` and `notifiers` entries are validated one by one against their type's schema. */
export const topSchema = z.strictObject({
  agent: agentSchema,
  api: apiSchema,
  defaults: defaultsSchema,
  checks: z.array(z.looseObject({})).default([]).describe('The checks to run.'),
  incidents: incidentsSchema,
  escalation: z.array(tierSchema).default([]).describe('Escalation tiers in order; none: every notifier hears every event at once.'),
  sla: slaSchema,
  coverage: coverageSchema.prefault({}).describe('Named service timeframes; presets 24x7, 24x5, 12x5 and 8x5 always exist.'),
  maintenance: maintenanceSchema.default([]).describe('Maintenance windows: checks run, but no incident opens or pages.'),
  notifiers: z.array(z.looseObject({})).default([]).describe('Where notifications go.'),
  notifications: notificationsSchema,
});

export type TopConfig = z.output<typeof topSchema>;

const schemaCache = new Map<string, z.ZodObject>();

/** The full schema of one check entry of the given type: common keys plus the type's own. */
export function checkSchema(type: string): z.ZodObject | undefined {
  const cached = schemaCache.get(type);
  if (cached) return cached;
  const def = registry.get(type);
  if (!def) return undefined;
  // safeExtend keeps the type's own refinements (e.g. "exactly one of name, match, pidfile").
  const schema = def.schema.safeExtend({ ...commonCheckShape, type: z.literal(type) });
  schemaCache.set(type, schema);
  return schema;
}

const notifierSchemaCache = new Map<string, z.ZodObject>();

/** The full schema of one notifier entry of the given type. */
export function notifierSchema(type: string): z.ZodObject | undefined {
  const cached = notifierSchemaCache.get(type);
  if (cached) return cached;
  const def = notifierRegistry.get(type);
  if (!def) return undefined;
  const schema = def.schema.safeExtend({ ...commonNotifierShape, type: z.literal(type) });
  notifierSchemaCache.set(type, schema);
  return schema;
}

/** The JSON Schema of the whole config file, generated from the same zod schemas the loader uses. */
export function configJsonSchema(): Record<string, unknown> {
  const variants = [...registry.values()].map((def) =>
    (checkSchema(def.type) as z.ZodObject).describe(`${def.type}: ${def.summary}`),
  );
  const notifierVariants = [...notifierRegistry.values()].map((def) => (notifierSchema(def.type) as z.ZodObject).describe(`${def.type}: ${def.summary}`));
  const full = topSchema.extend({
    checks: z.array(z.discriminatedUnion('type', variants as [z.ZodObject, ...z.ZodObject[]])).default([]).describe('The checks to run.'),
    notifiers: z.array(z.discriminatedUnion('type', notifierVariants as [z.ZodObject, ...z.ZodObject[]])).default([]).describe('Where notifications go.'),
  });
  const json = z.toJSONSchema(full, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }) as Record<string, unknown>;
  // The host name default is machine-specific; keep the committed schema reproducible.
  const props = (json.properties as any)?.agent?.properties;
  if (props?.name) delete props.name.default;
  return {
    $schema: json.$schema,
    $id: 'https://keepwatch.dev/schema/keepwatch.schema.json',
    title: 'keepwatch configuration',
    ...json,
  };
}
