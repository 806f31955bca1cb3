import cron from 'node-cron';
import { z } from 'zod';
import { duration } from '../../checks/units';
import { timeZoneSchema } from './zoned-time';

/*
 * The `maintenance:` section: recurring windows (cron + duration, read in a time zone) and
 * one-off ones (start, end), scoped by check-name globs and labels. This file parses them;
 * maintenance.ts compiles and evaluates them.
 */

const DAY = 86_400_000;

/**
 * Longest window. `activeRange` looks back over one duration, so this bounds its cost; a
 * maintenance longer than a month is an outage plan, better written as a one-off window.
 */
const MAX_DURATION_MS = 31 * DAY;

/** Window names: they are the `window` label of keepwatch_maintenance_active. */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** Check-name globs: check-name characters plus the wildcards `*` (any run) and `?` (one character). */
const GLOB_RE = /^[A-Za-z0-9_.*?-]+$/;

const isoTime = z.iso.datetime({
  offset: true,
  error: 'expected an ISO-8601 time with an offset or Z, e.g. 2026-12-01T22:00:00Z',
});

const glob = z.string().regex(GLOB_RE, {
  message: 'check-name globs are letters, digits, _ . - and the wildcards * and ?',
});

/** One `maintenance:` entry: exactly one of cron + duration (recurring) or start + end (one-off). */
export const maintenanceWindowSchema = z
  .strictObject({
    name: z
      .string()
      .regex(NAME_RE, { message: 'window names are letters, digits and _ . -, starting with a letter or digit' })
      .describe('Unique name; the `window` label of keepwatch_maintenance_active.'),
    cron: z.string().optional().describe('Recurring: when each window opens, node-cron syntax (5 fields, or 6 with seconds first), e.g. "0 2 * * 0". Needs `duration`.'),
    duration: duration({ min: 1000, max: MAX_DURATION_MS }).optional().describe('Recurring: how long each window stays open, e.g. 2h.'),
    timezone: timeZoneSchema.optional().describe('Recurring: IANA time zone the cron is read in (default: the host\'s).'),
    start: isoTime.optional().describe('One-off: when the window opens, ISO-8601 with an offset or Z. Needs `end`.'),
    end: isoTime.optional().describe('One-off: when the window closes (exclusive).'),
    checks: z
      .union([glob, z.array(glob).min(1)], { error: 'expected a check-name glob such as "db-*", or a list of them' })
      .default(['*'])
      .transform((v) => (typeof v === 'string' ? [v] : v))
      .describe('Check-name globs (* and ?); the window applies to a check matching any. Default every check.'),
    labels: z.record(z.string(), z.string()).default({}).describe('Labels a check must all have, with these values, for the window to apply.'),
  })
  .superRefine((w, ctx) => {
    const recurring = w.cron !== undefined || w.duration !== undefined;
    const once = w.start !== undefined || w.end !== undefined;
    const issue = (message: string, path: string[] = []) => ctx.addIssue({ code: 'custom', path, message });
    if (recurring && once) {
      issue('give either cron + duration (recurring) or start + end (one-off), not both');
    } else if (!recurring && !once) {
      issue('a window needs cron + duration (recurring) or start + end (one-off)');
    } else if (recurring) {
      if (w.cron === undefined) {
        issue('duration goes with a cron schedule, e.g. cron: "0 2 * * 0"', ['cron']);
      } else {
        const v = cron.validateDetailed(w.cron);
        if (!v.valid) issue(`invalid cron "${w.cron}": ${v.errors.map((e) => e.message).join('; ')}`, ['cron']);
      }
      if (w.duration === undefined) issue('a cron window needs a duration, e.g. 2h', ['duration']);
    } else {
      if (w.start === undefined) issue('a one-off window needs a start as well as an end', ['start']);
      if (w.end === undefined) issue('a one-off window needs an end as well as a start', ['end']);
      if (w.start !== undefined && w.end !== undefined && Date.parse(w.end) <= Date.parse(w.start)) {
        issue(`end (${w.end}) must be after start (${w.start})`, ['end']);
      }
      // start and end carry their own offsets; a zone here would suggest it changes them.
      if (w.timezone !== undefined) issue('timezone applies to cron windows; start and end carry their own offset', ['timezone']);
    }
  })
  .describe('A maintenance window: checks run and export metrics, but no incident opens or pages.');

/** The `maintenance:` section: windows with unique names. */
export const maintenanceSchema = z
  .array(maintenanceWindowSchema)
  .superRefine((list, ctx) => {
    const seen = new Map<string, number>();
    list.forEach((w, i) => {
      const first = seen.get(w.name);
      if (first === undefined) seen.set(w.name, i);
      else ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate window name "${w.name}" (first used by maintenance[${first}])` });
    });
  })
  .describe('Maintenance windows: recurring (cron + duration) or one-off (start + end), scoped by check globs and labels.');

/** The parsed `maintenance:` section. */
export type MaintenanceConfig = z.output<typeof maintenanceSchema>;
