/** Unit and integration tests; the e2e (test/e2e) and reliability (test/reliability) suites run with their own scripts. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/e2e/', '<rootDir>/test/reliability/'],
  transform: { '^.+\\.ts$': 'ts-jest' },
  globalSetup: '<rootDir>/test/helpers/build.js',
  globalTeardown: '<rootDir>/test/helpers/teardown.js',
  testTimeout: 20000,
  // A handle left open after the last test (seen once: a socket to RabbitMQ; its test now destroys its admin connection's) must
  // not hang CI: exit once the run is done. The teardown names any such handle, loudly.
  forceExit: true,
};
