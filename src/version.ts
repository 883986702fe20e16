/**
 * This package's version, as `package.json` and `deno.json` give it (tests/unit/options.test.ts fails when they
 * differ): the `lib-ver` every connection reports with CLIENT SETINFO.
 */
export const VERSION = "0.1.0";
