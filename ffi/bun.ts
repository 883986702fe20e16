/**
 * The package's entry under Bun: the public API of `mod.ts`, after
 * `ffi/lib/embedded.js` has recorded where each library is. The npm package
 * ships it bundled, with all it imports, as `ffi/bun.bundle.js` (package.json's
 * "bun" export condition; scripts/bundle-bun.ts, run by `npm pack`). That module imports every shipped library `with { type: "file" }`,
 * which is what makes `bun build --compile` embed them; it is kept out of
 * `mod.ts`'s graph because Deno would fetch each library as a module.
 */
// Evaluated before mod.ts (imports run in order), so the loader finds the table filled.
import "./lib/embedded.js";
export * from "../mod.ts";
