import { alertmanagerNotifier } from './alertmanager';
import { emailNotifier } from './email';
import { opsgenieNotifier } from './opsgenie';
import { pagerdutyNotifier } from './pagerduty';
import { slackNotifier } from './slack';
import { teamsNotifier } from './teams';
import type { NotifierDefinition } from './types';
import { webhookNotifier } from './webhook';

/** Every notifier type, one line each; the engine finds notifiers here and nowhere else. */
export const notifierTypes: readonly NotifierDefinition<any>[] = [
  alertmanagerNotifier,
  emailNotifier,
  opsgenieNotifier,
  pagerdutyNotifier,
  slackNotifier,
  teamsNotifier,
  webhookNotifier,
];

/** Notifier types by their YAML `type:` name. */
export const notifierRegistry: ReadonlyMap<string, NotifierDefinition<any>> = new Map(notifierTypes.map((n) => [n.type, n]));
