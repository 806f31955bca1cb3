import { z } from 'zod';
import { duration } from '../../checks/types';
import { httpRequestSchema, type HttpRequest } from '../notifiers/outbound-http';

/*
 * The `remediate:` key of a check, parsed into the actions remediate.ts runs: a command (an
 * argv, never a shell string), an HTTP call or a systemd unit to restart.
 */

const SYSTEMD_ACTIONS = ['restart', 'reload', 'start'] as const;

/** Unit names as systemd spells them; never starting with `-`, so a unit can't pass as an option to systemctl. */
const UNIT_RE = /^[A-Za-z0-9@_.:\\][A-Za-z0-9@_.:\\-]*$/;
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

const argvSchema = z
  .array(z.string().refine((a) => !a.includes('\0'), { message: 'arguments cannot contain NUL characters' }), {
    error: (iss) =>
      typeof iss.input === 'string'
        ? `command is an argv list, not a shell string: write ${JSON.stringify(iss.input.trim().split(/\s+/))}. ` +
          'No shell runs it, so quotes, pipes, redirections and $VARS would not work; wrap a script if you need them'
        : undefined,
  })
  .min(1, { message: 'command must name a program: an argv list such as ["/usr/local/bin/restart-app", "--fast"]' })
  .refine((a) => a.length === 0 || a[0].trim() !== '', { message: 'the program (first element) must not be empty' });

const systemdSchema = z
  .union(
    [
      z.string().regex(UNIT_RE),
      z.strictObject({
        unit: z.string().regex(UNIT_RE, { message: 'expected a unit name such as nginx or nginx.service' }).describe('The unit to act on.'),
        action: z.enum(SYSTEMD_ACTIONS).default('restart').describe('What systemctl does to it.'),
      }),
    ],
    { error: 'expected a unit name such as nginx or nginx.service, or {unit, action: restart|reload|start}' },
  )
  .transform((v) => (typeof v === 'string' ? { unit: v, action: 'restart' as const } : v));

/** One remediation step as the config writes it, before it is turned into a {@link RemediationAction}. */
const actionSchema = z
  .strictObject({
    command: argvSchema
      .optional()
      .describe('Program and arguments to run, as a list (never a shell string): ["/usr/local/bin/restart-app", "--fast"]. Success is exit code 0.'),
    http: httpRequestSchema.optional().describe('HTTP call to make; success is a 2xx status. Redirects are not followed.'),
    systemd: systemdSchema
      .optional()
      .describe('Unit to restart (`nginx`), or {unit, action: restart|reload|start}; runs `systemctl <action> <unit>`.'),
    timeout: duration({ min: 100, max: 3_600_000 })
      .default(30_000)
      .describe('Give up on this action after this long (default 30s); a command\'s whole process group is killed.'),
    env: z
      .record(z.string().regex(ENV_NAME_RE, { message: 'environment names are letters, digits and _' }), z.string())
      .optional()
      .describe('Extra environment for a command, added to the agent\'s own. Values are never shown; those of secret-looking names (API_TOKEN, DB_PASSWORD) are scrubbed from its output.'),
  })
  .superRefine((a, ctx) => {
    const set = (['command', 'http', 'systemd'] as const).filter((k) => a[k] !== undefined);
    if (set.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'say what to do: set one of command, http or systemd' });
    } else if (set.length > 1) {
      ctx.addIssue({
        code: 'custom',
        path: [set[1]],
        message: `set only one of command, http or systemd per action (this one sets ${set.join(' and ')}); list several actions to do several things`,
      });
    }
    if (a.env !== undefined && a.command === undefined) {
      ctx.addIssue({ code: 'custom', path: ['env'], message: 'env applies to command actions only' });
    }
  })
  .transform((a): RemediationAction => {
    if (a.http) return { kind: 'http', ...a.http, timeout: a.timeout };
    if (a.systemd) return { kind: 'systemd', unit: a.systemd.unit, action: a.systemd.action, timeout: a.timeout };
    return { kind: 'command', argv: a.command ?? [], env: a.env ?? {}, timeout: a.timeout };
  });

/**
 * The `remediate:` key of a check: L1 of escalation, actions run automatically when an
 * incident opens, at most `limit.max` times per `limit.within` and never closer than `cooldown`.
 */
export const remediateSchema = z
  .strictObject({
    actions: z
      .array(actionSchema)
      .min(1, { message: 'list at least one action' })
      .describe('What to do, in order; the first action that fails stops the rest.'),
    limit: z
      .strictObject({
        max: z.number().int().min(1).max(100).default(3).describe('Most runs in any `within` window.'),
        within: duration({ min: 1000 }).default(3_600_000).describe('The sliding window `max` counts runs in.'),
      })
      .prefault({})
      .describe('Rate limit, so a remediation that does not help cannot loop (default 3 within 1h).'),
    cooldown: duration().default(300_000).describe('Least time between two runs (default 5m), so a fix gets time to work.'),
  })
  .describe('L1: automatic remediation run when an incident opens, before anyone is paged (Monit-style).');

/** The parsed `remediate:` config. */
export type RemediateConfig = z.output<typeof remediateSchema>;

/** Run a program directly, without a shell. */
export interface CommandAction {
  kind: 'command';
  argv: string[];
  /** Added to the agent's environment. */
  env?: Record<string, string>;
  /** Milliseconds. */
  timeout: number;
}

/** Call an HTTP endpoint; a 2xx status is success. */
export type HttpAction = HttpRequest & {
  kind: 'http';
  /** Milliseconds. */
  timeout: number;
};

/** `systemctl <action> <unit>`. */
export interface SystemdAction {
  kind: 'systemd';
  unit: string;
  action: (typeof SYSTEMD_ACTIONS)[number];
  /** Milliseconds. */
  timeout: number;
}

/** One remediation step, as `remediateSchema` parses it. */
export type RemediationAction = CommandAction | HttpAction | SystemdAction;
