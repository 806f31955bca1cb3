import { isSecretName } from '../../checks/types';

// Values under secret names are scrubbed from logs, messages and findings everywhere; a key that
// names where a file is (the users check's passwdFile) must not turn its path into "[REDACTED]".
test.each([
  ['password', true],
  ['api_key', true],
  ['X-Auth-Token', true],
  ['routingKey', true],
  ['webhook_url', true],
  ['passwdFile', false],
  ['shadowFile', false],
  ['tokenPath', false],
  ['privateKeyFile', false],
  ['sudoersDir', false],
  ['caFile', false],
  ['url', false],
])('%s is a secret name: %s', (name, secret) => {
  expect(isSecretName(name)).toBe(secret);
});
