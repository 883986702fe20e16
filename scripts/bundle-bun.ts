/**
 * Writes ffi/bun.bundle.js, the npm package's entry under Bun (package.json's "bun" export condition): ffi/bun.ts
 * and everything it imports, bundled into one JavaScript file. Run by `npm pack` (the "prepack" script), so a tarball
 * always carries a bundle of its own sources; never committed. Bun transpiles every TypeScript module at every start
 * (its transpiler cache keeps only large files), and mod.ts imports about 60 of them: one file costs less to load.
 * Deno, the type check and the tests read the TypeScript sources, never this file.
 *
 *   node_modules/.bin/bun scripts/bundle-bun.ts
 *
 * The bundle sits in ffi/, beside ffi/load.ts, so that the loader's `import.meta.url` (where it looks for `lib/`)
 * points where it did. What stays outside the bundle, imported by the path it is written with:
 * - `./lib/*`: the libraries' checksums and `embedded.js`, written by `make` and `make cross` (a package carries
 *   whichever libraries were built when it was packed) and whose `with { type: "file" }` imports are what
 *   `bun build --compile` embeds in a user's executable;
 * - `./embedded.ts`: the table `lib/embedded.js` fills and the loader reads; one module, so one table.
 */
import { renameSync, rmSync } from "node:fs";
import process from "node:process";

/** What this script uses of Bun's bundler (`Bun.build`), typed here so that `deno check` reads it without @types/bun. */
interface BunBundler {
  build(config: {
    entrypoints: string[];
    outdir: string;
    naming: string;
    target: "bun";
    format: "esm";
    plugins: {
      name: string;
      setup(build: {
        onResolve(
          filter: { filter: RegExp },
          resolve: (args: { path: string; importer: string }) => { path: string; external: boolean },
        ): void;
      }): void;
    }[];
  }): Promise<{ success: boolean; logs: unknown[] }>;
}
const bun = (globalThis as unknown as { Bun?: BunBundler }).Bun;
if (!bun) throw new Error("scripts/bundle-bun.ts runs under Bun: node_modules/.bin/bun scripts/bundle-bun.ts");

const root = new URL("..", import.meta.url).pathname;
const KEPT_OUT = /^\.\/(lib\/.*|embedded\.ts)$/;
// Written under a name of its own, then renamed: two `npm pack` at once (the Deno and the Bun test runs) must not
// let either tarball take a half-written bundle.
const partial = `bun.bundle.${process.pid}.tmp.js`;

const result = await bun.build({
  entrypoints: [`${root}ffi/bun.ts`],
  outdir: `${root}ffi`,
  naming: partial,
  target: "bun",
  format: "esm",
  plugins: [{
    name: "keep-beside-the-loader",
    setup(build) {
      build.onResolve({ filter: KEPT_OUT }, (args) => {
        // Relative to ffi/, where the bundle is written: only modules of ffi/ may name these.
        if (!args.importer.startsWith(`${root}ffi/`)) {
          throw new Error(`${args.importer} imports ${args.path}, which the bundle resolves from ffi/`);
        }
        return { path: args.path, external: true };
      });
    },
  }],
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  rmSync(`${root}ffi/${partial}`, { force: true });
  process.exit(1);
}
renameSync(`${root}ffi/${partial}`, `${root}ffi/bun.bundle.js`);
