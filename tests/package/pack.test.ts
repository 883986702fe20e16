/**
 * The npm package as a user gets it: `npm pack` the checkout, install the
 * tarball into an empty project (offline: the package has no dependencies),
 * and run a smoke script under Bun (`import "@x/cpipe"`) and under Deno
 * against a real server. Deno refuses TypeScript inside an npm package
 * (`npm:@x/cpipe` fails with ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING;
 * Deno users take the JSR package), so Deno imports the installed `mod.ts` by
 * path, with `--node-modules-dir=none` so that it is an ordinary local module
 * rather than part of an npm package. The package carries whatever
 * ffi/lib/ holds: the host library after `make`, every target after
 * `make cross`.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, test } from "../harness/shim.ts";
import { startRedis } from "../harness/server.ts";
import { BUN, check, checksums, DENO, hostLibrary, pack as packInto, type Packed, run, unpack } from "./tools.ts";

/** JSR refuses packages above 20 MB; npm has no such cap, but one package serves both. */
const SIZE_CAP = 20 * 1024 * 1024;

const server = await startRedis();
const tmp = mkdtempSync(join(tmpdir(), "cpipe-pack-"));
afterAll(async () => {
  await server[Symbol.asyncDispose]();
  rmSync(tmp, { recursive: true, force: true });
});

let packed: Promise<Packed> | null = null;
const pack = (): Promise<Packed> => packed ??= packInto(tmp);

const SMOKE = (specifier: string) => `
import * as cpipe from ${JSON.stringify(specifier)};
const r = cpipe.connect("127.0.0.1", ${server.port});
r.set("pack:smoke", "works");
const value = r.get("pack:smoke");
r.close();
console.log(value === "works" ? "ok" : "bad reply: " + value);
console.log(import.meta.resolve(${JSON.stringify(specifier)}));
`;

let project: string | null = null;
/** An empty project with the packed tarball installed, as `npm install <tgz>` leaves it. */
async function install(): Promise<string> {
  if (project) return project;
  const { filename } = await pack();
  const dir = join(tmp, "project");
  mkdirSync(dir);
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "smoke", private: true, type: "module" }));
  check(
    "npm install",
    await run("npm", ["install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts", join(tmp, filename)], {
      cwd: dir,
    }),
  );
  project = dir;
  return dir;
}

test("npm pack ships the sources, the libraries and their checksums; not tests, bench or C", async () => {
  const { files, size } = await pack();
  const paths = files.map((f) => f.path);
  const expected = ["mod.ts", "ffi/load.ts", "ffi/symbols.ts", "ffi/lib/checksums.json", "README.md", "LICENSE"];
  // Bun's entry (scripts/bundle-bun.ts, run by npm pack), and what Bun's bundler follows from it to embed the
  // libraries (bun build --compile).
  expected.push("ffi/bun.bundle.js", "ffi/embedded.ts", "ffi/lib/embedded.js");
  // The cluster and Sentinel entries, and their bundles under Bun.
  expected.push("cluster.ts", "sentinel.ts", "ffi/bun_cluster.bundle.js", "ffi/bun_sentinel.bundle.js");
  // What `deno compile --unstable-raw-imports` follows to embed them, and its types for tsc.
  expected.push("ffi/lib/embedded_deno.js", "ffi/lib/embedded_deno.d.ts");
  for (const path of expected) {
    assert.ok(paths.includes(path), `${path} is missing from the package`);
  }
  // The bundles import what they share from chunks, which ship beside them.
  const chunks = paths.filter((p) => /^ffi\/bun\.chunk-.*\.js$/.test(p));
  assert.ok(chunks.length > 0, "no shared chunk in the package");
  assert.ok(paths.some((p) => p.startsWith("src/")), "src/ is missing from the package");
  const libraries = Object.keys(checksums().files);
  assert.ok(libraries.includes(hostLibrary()), `${hostLibrary()} is not in ffi/lib/checksums.json`);
  for (const lib of libraries) assert.ok(paths.includes(`ffi/lib/${lib}`), `ffi/lib/${lib} is missing`);
  const stray = paths.filter((p) => /^(tests|bench|csrc|build|scripts|node_modules|\.ci)\//.test(p));
  assert.deepEqual(stray, []);
  assert.ok(size < SIZE_CAP, `the package is ${size} bytes`);
});

test("the installed package works under Bun from an empty project", async () => {
  const dir = await install();
  writeFileSync(join(dir, "smoke.ts"), SMOKE("@x/cpipe"));
  const r = check("bun smoke.ts", await run(BUN, ["smoke.ts"], { cwd: dir }));
  const [verdict, resolved] = r.stdout.trim().split("\n");
  assert.equal(verdict, "ok");
  // The bundle, which finds the library beside it as ffi/load.ts does in a checkout.
  assert.equal(resolved, `file://${dir}/node_modules/@x/cpipe/ffi/bun.bundle.js`);
});

/**
 * The `./cluster` entry beside the main one: a cluster client pointed at a plain server fails with the main entry's
 * own ConnectionError class (one shared chunk, so one copy of the errors and one library).
 */
const CLUSTER_SMOKE = (main: string, cluster: string) => `
import * as cpipe from ${JSON.stringify(main)};
import { connectCluster } from ${JSON.stringify(cluster)};
let verdict = "no error";
try {
  connectCluster(["redis://127.0.0.1:${server.port}"]);
} catch (e) {
  verdict = e instanceof cpipe.ConnectionError && /cluster support disabled/.test(String(e)) ? "ok" : String(e);
}
console.log(verdict);
console.log(import.meta.resolve(${JSON.stringify(cluster)}));
console.log([cpipe.Pool, cpipe.Client, cpipe.ConnectionError].map((c) => c.name).join(" "));
`;

test("the installed package's cluster entry shares the main entry's classes under Bun", async () => {
  const dir = await install();
  writeFileSync(join(dir, "cluster_smoke.ts"), CLUSTER_SMOKE("@x/cpipe", "@x/cpipe/cluster"));
  const r = check("bun cluster_smoke.ts", await run(BUN, ["cluster_smoke.ts"], { cwd: dir }));
  const [verdict, resolved, names] = r.stdout.trim().split("\n");
  assert.equal(verdict, "ok");
  assert.equal(resolved, `file://${dir}/node_modules/@x/cpipe/ffi/bun_cluster.bundle.js`);
  // The bundles keep the classes' names (what console.log and constructor.name show).
  assert.equal(names, "Pool Client ConnectionError");
});

test("the installed package's cluster entry works under Deno", async () => {
  const dir = await install();
  const base = "./node_modules/@x/cpipe";
  writeFileSync(join(dir, "cluster_smoke_deno.ts"), CLUSTER_SMOKE(`${base}/mod.ts`, `${base}/cluster.ts`));
  const r = check(
    "deno run cluster_smoke_deno.ts",
    await run(DENO, ["run", "--quiet", "--no-lock", "--node-modules-dir=none", "-A", "cluster_smoke_deno.ts"], {
      cwd: dir,
    }),
  );
  assert.equal(r.stdout.trim().split("\n")[0], "ok");
});

test("the installed package works under Deno from an empty project", async () => {
  const dir = await install();
  writeFileSync(join(dir, "smoke_deno.ts"), SMOKE("./node_modules/@x/cpipe/mod.ts"));
  const r = check(
    "deno run smoke_deno.ts",
    await run(DENO, ["run", "--quiet", "--no-lock", "--node-modules-dir=none", "-A", "smoke_deno.ts"], { cwd: dir }),
  );
  const [verdict, resolved] = r.stdout.trim().split("\n");
  assert.equal(verdict, "ok");
  assert.ok(resolved?.includes(`${dir}/node_modules/@x/cpipe/`), `resolved to ${resolved}`);
});

/** A project with the tarball unpacked into its node_modules; returns the installed package's directory. */
async function unpacked(name: string, main: string, source: string): Promise<{ dir: string; installed: string }> {
  const { filename } = await pack();
  const dir = join(tmp, name);
  mkdirSync(dir);
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name, private: true, type: "module" }));
  const installed = await unpack(join(tmp, filename), dir);
  writeFileSync(join(dir, main), source);
  return { dir, installed };
}

test("a package whose library is gone tells the user to reinstall it, not to run make", async () => {
  const { dir, installed } = await unpacked("damaged", "main.ts", SMOKE("./node_modules/@x/cpipe/mod.ts"));
  rmSync(join(installed, "ffi", "lib", hostLibrary()));
  const r = await run(DENO, ["run", "--quiet", "--no-lock", "--node-modules-dir=none", "-A", "main.ts"], { cwd: dir });
  assert.notEqual(r.code, 0);
  const target = hostLibrary().split("/")[0];
  assert.match(r.stderr, /CpipeError: cpipe: cannot load the native library/);
  assert.ok(r.stderr.includes(`package ships a library for ${target}: Reinstall the package`), r.stderr);
  assert.ok(!r.stderr.includes("in the cpipe checkout"), r.stderr);
});

test("a package without this platform's library says which platforms it ships", async () => {
  const { dir, installed } = await unpacked("other-platform", "smoke.ts", SMOKE("@x/cpipe"));
  const lib = join(installed, "ffi", "lib");
  // As `make cross` would have left a package built for one other target only.
  rmSync(join(lib, hostLibrary()));
  const { version } = checksums();
  const other = "aarch64-macos/libcpipe.dylib";
  writeFileSync(join(lib, "checksums.json"), JSON.stringify({ version, files: { [other]: "0".repeat(64) } }));
  writeFileSync(join(lib, "embedded.js"), 'import { embeddedLibraries } from "../embedded.ts";\n');
  const r = await run(BUN, ["smoke.ts"], { cwd: dir });
  assert.notEqual(r.code, 0);
  const target = hostLibrary().split("/")[0];
  assert.ok(r.stderr.includes(`package ships no library for ${target} (only for: aarch64-macos)`), r.stderr);
  assert.ok(!r.stderr.includes("in the cpipe checkout"), r.stderr);
});
