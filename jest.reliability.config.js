/**
 * Reliability suite (`npm run test:reliability`): the built daemon under faults and bad input —
 * SIGKILLs, receivers that fail, hostile checks, full and read-only disks, mutated configs, API
 * fuzz, secrets at trace level. Real processes and files; run by .ci/run after the e2e suite.
 */
module.exports = {
  ...require('./jest.config.js'),
  testMatch: ['<rootDir>/test/reliability/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/'],
  testTimeout: 180000,
  maxWorkers: 1,
};
