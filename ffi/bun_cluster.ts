/**
 * The package's `./cluster` entry under Bun (package.json's "bun" export condition): the public API of `cluster.ts`, after
 * `ffi/lib/embedded.js` has recorded where each library is, as in `ffi/bun.ts`. Bundled by scripts/bundle-bun.ts
 * with that entry, so the modules both import are one copy in a shared chunk: one library, one `ReplyError`.
 */
import "./lib/embedded.js";
export * from "../cluster.ts";
