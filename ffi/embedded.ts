/**
 * The native libraries a bundler embedded, by `<target>/<file>`: paths inside
 * a `bun build --compile` executable, beside a `bun build` bundle, or on disk
 * when nothing was bundled. Filled by `ffi/lib/embedded.js` (which `ffi/bun.ts`
 * imports first, under Bun only) before `ffi/load.ts` opens a library; empty
 * under Deno, which never sees that file's `with { type: "file" }` imports.
 */
export const embeddedLibraries: Map<string, string> = new Map();

/**
 * The same for `deno compile`: each library's bytes by `<target>/<file>`, read by an import `with { type: "bytes" }`
 * that `deno compile --unstable-raw-imports` embeds in the executable. Filled by `ffi/lib/embedded_deno.js`, which
 * `ffi/load.ts` imports only inside such an executable (the Deno counterpart of `ffi/lib/embedded.js`).
 */
export const embeddedBytes: Map<string, () => Promise<Uint8Array>> = new Map();
