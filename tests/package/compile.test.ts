/**
 * Single-file executables of a program that imports the packed package:
 * `bun build --compile` embeds the libraries ffi/lib/embedded.js imports,
 * and the loader copies the one for this machine to the user's cache
 * directory (checked by sha256) on the first start. The executable is built
 * from a project that is deleted before it runs, alone in an empty
 * directory, with HOME and XDG_CACHE_HOME in another empty one and no
 * CPIPE_LIB, against a real server. `deno compile` needs `denort`, which
 * Deno downloads from a host these machines cannot reach: its test runs only
 * where DENORT_BIN points at a denort binary.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { afterAll, test } from "../harness/shim.ts";
import { startRedis } from "../harness/server.ts";
import { BUN, check, checksums, DENO, flipMiddleByte, hostLibrary, pack, run, unpack, userEnv } from "./tools.ts";

const server = await startRedis();
const tmp = mkdtempSync(join(tmpdir(), "cpipe-compile-"));
afterAll(async () => {
  await server[Symbol.asyncDispose]();
  rmSync(tmp, { recursive: true, force: true });
});

const APP = (specifier: string) => `
import * as cpipe from ${JSON.stringify(specifier)};
const r = cpipe.connect("127.0.0.1", Number(process.env.REDIS_PORT));
r.set("compile:smoke", "works");
const value = r.get("compile:smoke");
r.close();
const pool = cpipe.connectPool({ host: "127.0.0.1", port: Number(process.env.REDIS_PORT), size: 1 });
const n = await pool.incr("compile:n");
await pool.close();
console.log(value === "works" && typeof n === "number" ? "ok" : "bad reply: " + value + " " + n);
`;

let tarball: Promise<string> | null = null;
const packed = (): Promise<string> => tarball ??= pack(tmp).then((p) => join(tmp, p.filename));

/**
 * A project with the tarball installed and `app.ts` importing it (`APP`, or `source` when given); deleted by the
 * caller once built.
 */
async function project(name: string, specifier: string, source = APP(specifier)): Promise<string> {
  const dir = join(tmp, name);
  mkdirSync(dir);
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name, private: true, type: "module" }));
  await unpack(await packed(), dir);
  writeFileSync(join(dir, "app.ts"), `import process from "node:process";\n${source}`);
  return dir;
}

/** An empty directory holding only the executable, and an empty home for its cache. */
function emptyMachine(name: string): { bin: string; home: string; cache: string } {
  const bin = join(tmp, `${name}-bin`), home = join(tmp, `${name}-home`);
  mkdirSync(bin);
  mkdirSync(home);
  return { bin, home, cache: join(home, ".cache") };
}

/** Runs the executable as a user of that machine would: from its own directory, its own HOME. */
async function runApp(exe: string, cwd: string, home: string, cache: string): Promise<string> {
  const env = userEnv({ HOME: home, XDG_CACHE_HOME: cache, REDIS_PORT: String(server.port) });
  const r = check(exe, await run(exe, [], { cwd, env }));
  return r.stdout.trim();
}

/** The copy the loader keeps: `<cache>/cpipe/<version>/<target>/<file>`. */
function cachedCopy(cache: string): string {
  return join(cache, "cpipe", checksums().version, hostLibrary());
}

test("bun build --compile: the executable runs alone, extracting the library to the cache once", async () => {
  const dir = await project("bun-app", "@x/cpipe");
  const { bin, home, cache } = emptyMachine("bun");
  const exe = join(bin, "app");
  check("bun build --compile", await run(BUN, ["build", "--compile", "app.ts", "--outfile", exe], { cwd: dir }));
  rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(readdirSync(bin), ["app"]);

  assert.equal(await runApp(exe, bin, home, cache), "ok");
  const copy = cachedCopy(cache);
  assert.ok(existsSync(copy), `no library at ${copy}`);
  const first = statSync(copy);

  // A second start finds the verified copy and leaves it as it is.
  assert.equal(await runApp(exe, bin, home, cache), "ok");
  const second = statSync(copy);
  assert.equal(second.ino, first.ino);
  assert.equal(second.mtimeMs, first.mtimeMs);
  assert.deepEqual(readdirSync(join(copy, "..")), [copy.split("/").pop()], "temporary files left beside the copy");

  // A copy that no longer matches is replaced from the executable, not loaded.
  const bytes = readFileSync(copy);
  flipMiddleByte(bytes);
  writeFileSync(copy, bytes);
  assert.equal(await runApp(exe, bin, home, cache), "ok");
  assert.equal(createHash("sha256").update(readFileSync(copy)).digest("hex"), checksums().files[hostLibrary()]);
});

test("bun build --compile: a program importing only the cluster entry embeds the library too", async () => {
  // A plain server refuses to describe a cluster: the answer proves the library was found, extracted and opened.
  const dir = await project(
    "bun-cluster-app",
    "@x/cpipe/cluster",
    `import { connectCluster } from "@x/cpipe/cluster";
try {
  connectCluster([\`redis://127.0.0.1:\${process.env.REDIS_PORT}\`]);
  console.log("no error");
} catch (e) {
  console.log(/cluster support disabled/.test(String(e)) ? "ok" : String(e));
}
`,
  );
  const { bin, home, cache } = emptyMachine("bun-cluster");
  const exe = join(bin, "app");
  check("bun build --compile", await run(BUN, ["build", "--compile", "app.ts", "--outfile", exe], { cwd: dir }));
  rmSync(dir, { recursive: true, force: true });
  assert.equal(await runApp(exe, bin, home, cache), "ok");
  assert.ok(existsSync(cachedCopy(cache)), "the library was not copied to the cache");
});

test("bun build: a bundle finds the library it copied beside itself, from any directory", async () => {
  const dir = await project("bundle-app", "@x/cpipe");
  const out = join(tmp, "bundle-out");
  check("bun build", await run(BUN, ["build", "--target", "bun", "app.ts", "--outdir", out], { cwd: dir }));
  rmSync(dir, { recursive: true, force: true });
  assert.ok(readdirSync(out).some((f) => f.endsWith(".so") || f.endsWith(".dylib") || f.endsWith(".dll")));
  const home = join(tmp, "bundle-home");
  mkdirSync(home);
  const env = userEnv({ HOME: home, XDG_CACHE_HOME: join(home, ".cache"), REDIS_PORT: String(server.port) });
  const r = check("bun app.js", await run(BUN, [join(out, "app.js")], { cwd: tmp, env }));
  assert.equal(r.stdout.trim(), "ok");
});

/**
 * Builds the app with `deno compile` and runs it alone twice (the second start reuses the cached copy). Skipped with
 * a message where DENORT_BIN does not point at a denort binary: `deno compile` downloads it from dl.deno.land.
 */
async function denoCompiled(name: string, flags: string[]): Promise<void> {
  const denort = process.env.DENORT_BIN;
  if (!denort) {
    console.log("skipped: deno compile needs denort from dl.deno.land; set DENORT_BIN to a denort binary to run it");
    return;
  }
  const dir = await project(name, "./node_modules/@x/cpipe/mod.ts");
  const { bin, home, cache } = emptyMachine(name);
  const exe = join(bin, "app");
  check(
    "deno compile",
    await run(DENO, ["compile", "-A", "--no-lock", "--node-modules-dir=none", ...flags, "--output", exe, "app.ts"], {
      cwd: dir,
      env: userEnv({ DENORT_BIN: denort }),
    }),
  );
  rmSync(dir, { recursive: true, force: true });
  assert.equal(await runApp(exe, bin, home, cache), "ok");
  assert.ok(existsSync(cachedCopy(cache)));
  assert.equal(await runApp(exe, bin, home, cache), "ok");
}

test("deno compile --unstable-raw-imports embeds the library as bun build --compile does (DENORT_BIN)", async () => {
  await denoCompiled("deno-raw", ["--unstable-raw-imports"]);
});

test("deno compile --include of the package's ffi/lib still works (DENORT_BIN)", async () => {
  await denoCompiled("deno-include", ["--include", "node_modules/@x/cpipe/ffi/lib"]);
});

/**
 * What runs here without denort: the module graph `deno compile --unstable-raw-imports` embeds (as `deno info`
 * shows it) holds the host's library, reached through ffi/lib/embedded_deno.js; without the flag the graph still
 * builds; and the bytes that module reads are the library `make` recorded in checksums.json.
 */
test("deno: the graph deno compile embeds holds the library, whose embedded bytes match checksums.json", async () => {
  const dir = await project("deno-graph", "./node_modules/@x/cpipe/mod.ts");
  const library = join(dir, "node_modules", "@x", "cpipe", "ffi", "lib", hostLibrary());
  const graph = (flags: string[]) =>
    run(DENO, ["info", "--json", "--no-lock", "--node-modules-dir=none", ...flags, "app.ts"], { cwd: dir });
  const raw = JSON.parse(check("deno info", await graph(["--unstable-raw-imports"])).stdout) as {
    modules: { specifier: string; error?: string }[];
  };
  const entry = raw.modules.find((m) => m.specifier === `file://${library}`);
  assert.ok(entry, `the library is not in the graph: ${raw.modules.map((m) => m.specifier).join(", ")}`);
  assert.equal(entry.error, undefined);
  check("deno info without the flag", await graph([]));
  const probe = join(dir, "probe.ts");
  writeFileSync(
    probe,
    `import { embeddedBytes } from "./node_modules/@x/cpipe/ffi/embedded.ts";
await import("./node_modules/@x/cpipe/ffi/lib/embedded_deno.js");
const bytes = await embeddedBytes.get(${JSON.stringify(hostLibrary())})!();
const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
console.log(Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join(""));
`,
  );
  const r = check(
    "deno run",
    await run(DENO, ["run", "--no-lock", "--node-modules-dir=none", "--unstable-raw-imports", "-A", "probe.ts"], {
      cwd: dir,
    }),
  );
  assert.equal(r.stdout.trim(), checksums().files[hostLibrary()]);
});
