/**
 * Dotted version comparison, for lib/prebuilds.ts (glibc of a prebuild against
 * this machine's) and scripts/elf-needs.js (the highest GLIBC_ symbol version,
 * run before any build): plain CommonJS, so both load this one file as it is
 * (tsc copies it to dist/ with allowJs).
 */
"use strict";

/**
 * Compares dotted versions numerically ("2.28" < "2.38", "3.4.9" < "3.4.25"; a missing part is 0).
 * @param {string} a
 * @param {string} b
 * @returns {number} -1, 0 or 1
 */
function compareVersions(a, b) {
  const x = a.split(".").map(Number);
  const y = b.split(".").map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

module.exports = { compareVersions };
