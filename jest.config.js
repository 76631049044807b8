/** @type {import('jest').Config} */
module.exports = {
  preset: "ts-jest",
  testEnvironment: "node",
  // Only these are crawled: bench/node_modules (npm run bench:setup) and build/ never enter the module map.
  roots: ["<rootDir>/test", "<rootDir>/lib"],
  testMatch: ["<rootDir>/test/**/*.test.ts"],
  testTimeout: 120000,
  setupFiles: ["<rootDir>/test/helpers/setup.ts"],
  globalSetup: "<rootDir>/test/helpers/global-setup.ts",
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json" }] },
};
