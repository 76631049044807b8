/** @type {import('jest').Config} */
module.exports = {
  preset: "ts-jest",
  testEnvironment: "node",
  testMatch: ["<rootDir>/test/**/*.test.ts"],
  // TODO(#4): enable once TextToTextBertModel / TextToTextE5Model are merged (also remove it from tsconfig.json "exclude").
  testPathIgnorePatterns: ["/node_modules/", "<rootDir>/test/e2e/export-text-models.test.ts"],
  testTimeout: 120000,
  setupFiles: ["<rootDir>/test/helpers/setup.ts"],
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json" }] },
};
