/**
 * Jest, because @backstage/plugin-scaffolder-node-test-utils'
 * createMockActionContext is built on jest.fn(). ts-jest only transpiles
 * (isolatedModules in tsconfig.jest.json); `npm test` type-checks
 * everything with `tsc --noEmit` first.
 */
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.jest.json' }],
  },
  // The live test starts a gantry binary; a run never waits on a hung one forever.
  testTimeout: 60_000,
  // The machine is shared: one worker (the suites are small).
  maxWorkers: 1,
};
