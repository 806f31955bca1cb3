/** Unit and integration tests; the e2e (test/e2e) and reliability (test/reliability) suites run with their own scripts. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/e2e/', '<rootDir>/test/reliability/'],
  transform: { '^.+\\.ts$': 'ts-jest' },
  globalSetup: '<rootDir>/test/helpers/build.js',
  testTimeout: 20000,
  // A driver that keeps a socket or timer after its test (seen since the service checks: jest
  // ran to the end, all green, then waited forever) must not hang CI: exit once the run is done.
  forceExit: true,
};
