/**
 * Writes the npm package's entries under Bun (package.json's "bun" export conditions): `ffi/bun.bundle.js` (mod.ts),
 * `ffi/bun_cluster.bundle.js` (cluster.ts) and `ffi/bun_sentinel.bundle.js` (sentinel.ts), bundled from `ffi/bun*.ts`
 * together, so that what they share (the loader, the clients, the errors) is one copy in a `ffi/bun.chunk-*.js` that
 * each imports: a program importing two entries opens one library and sees one `ReplyError`. Run by `npm pack` (the
 * "prepack" script), so a tarball always carries bundles of its own sources; never committed. Bun transpiles every
 * TypeScript module at every start (its transpiler cache keeps only large files), and mod.ts imports about 60 of them:
 * two files cost less to load.
 *
 *   node_modules/.bin/bun scripts/bundle-bun.ts
 *
 * The bundler is esbuild (pinned in package.json), not Bun's own: Bun 1.4's splits number every shared class that an
 * entry exports (`class ConnectionError2`, so `constructor.name` and `console.log` say `Pool2`; oven-sh/bun#42552).
 *
 * The bundles sit in ffi/, beside ffi/load.ts, so that the loader's `import.meta.url` (where it looks for `lib/`)
 * points where it did. What stays outside them, imported by the path it is written with:
 * - `./lib/*`: the libraries' checksums and `embedded.js`, written by `make` and `make cross` (a package carries
 *   whichever libraries were built when it was packed) and whose `with { type: "file" }` imports are what
 *   `bun build --compile` embeds in a user's executable;
 * - `./embedded.ts`: the table `lib/embedded.js` fills and the loader reads; one module, so one table;
 * - the runtimes' own modules (`node:*`; `bun:ffi` is imported by a computed name).
 */
import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import process from "node:process";
import { build } from "esbuild";

const root = new URL("..", import.meta.url).pathname;
const KEPT_OUT = /^\.\/(lib\/.*|embedded\.ts)$/;
const LOADER = /\/ffi\/load\.ts$/;
const result = await build({
  entryPoints: ["bun.ts", "bun_cluster.ts", "bun_sentinel.ts"].map((entry) => `${root}ffi/${entry}`),
  outdir: `${root}ffi`,
  write: false,
  entryNames: "[name].bundle",
  chunkNames: "bun.chunk-[hash]",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "neutral",
  target: "esnext",
  external: ["node:*"],
  logLevel: "warning",
  plugins: [{
    name: "keep-beside-the-loader",
    setup(bundler) {
      bundler.onResolve({ filter: KEPT_OUT }, (args) => {
        // Relative to ffi/, where the bundles are written: only modules of ffi/ may name these.
        if (!args.importer.startsWith(`${root}ffi/`)) {
          throw new Error(`${args.importer} imports ${args.path}, which the bundle resolves from ffi/`);
        }
        return { path: args.path, external: true };
      });
      // The loader opens the library while its module is evaluated, so `lib/embedded.js` must have filled the table
      // by then. Each ffi/bun*.ts imports it first, but an entry's imports of the shared chunk (which holds the
      // loader) come before its own: the chunk itself imports it, ahead of the loader's code.
      bundler.onLoad({ filter: LOADER }, (args) => ({
        contents: `import "./lib/embedded.js";\n${readFileSync(args.path, "utf8")}`,
        loader: "ts",
        resolveDir: `${root}ffi`,
      }));
    },
  }],
});
// Each file is written under a name of its own, then renamed, chunks first (so that no entry names a chunk not there
// yet): two `npm pack` at once (the Deno and the Bun test runs) must not let either tarball take a half-written bundle.
const name = (path: string): string => path.slice(path.lastIndexOf("/") + 1);
const outputs = [...result.outputFiles].sort((a, b) =>
  Number(!name(a.path).startsWith("bun.chunk-")) - Number(!name(b.path).startsWith("bun.chunk-"))
);
for (const file of outputs) {
  const partial = `${file.path}.${process.pid}.tmp`;
  writeFileSync(partial, file.contents);
  renameSync(partial, file.path);
}
// Chunks of earlier sources would otherwise ship too (package.json's "files" takes ffi/bun.chunk-*).
const made = new Set(outputs.map((file) => name(file.path)));
for (const file of readdirSync(`${root}ffi`)) {
  if (file.startsWith("bun.chunk-") && !made.has(file)) rmSync(`${root}ffi/${file}`, { force: true });
}
