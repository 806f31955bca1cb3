/** End-to-end suite: the built daemon as a child process, promtool, real services. */
module.exports = {
  ...require('./jest.config.js'),
  testMatch: ['<rootDir>/test/e2e/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/'],
  testTimeout: 60000,
  maxWorkers: 1,
};
