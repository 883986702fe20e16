/**
 * The native libraries a bundler embedded, by `<target>/<file>`: paths inside
 * a `bun build --compile` executable, beside a `bun build` bundle, or on disk
 * when nothing was bundled. Filled by `ffi/lib/embedded.js` (which `ffi/bun.ts`
 * imports first, under Bun only) before `ffi/load.ts` opens a library; empty
 * under Deno, which never sees that file's `with { type: "file" }` imports.
 */
export const embeddedLibraries: Map<string, string> = new Map();
