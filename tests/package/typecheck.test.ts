/**
 * The packed package type-checks where users put it, with zero errors inside
 * cpipe (its `.ts` files are shipped as they are, so `skipLibCheck` does not
 * cover them):
 * - a default `bun init` project (strict, noUncheckedIndexedAccess,
 *   `types: ["bun"]`, bundler resolution), checked with `tsc`;
 * - a bare tsconfig: `strict` and `@types/bun`, plus what any project needs
 *   to import a package of TypeScript sources with `.ts` specifiers
 *   (`allowImportingTsExtensions`, hence `noEmit`); every other option at
 *   tsc's defaults (module, resolution, lib with the DOM);
 * - `deno check` of a program importing the installed `mod.ts`.
 * Offline: `bun init` is run with its install pointed at a closed port (it
 * writes its files first), the tarball is unpacked as `bun add` would, and
 * TypeScript and `@types/bun` are the checkout's pinned copies (package.json).
 */
import assert from "node:assert/strict";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, test } from "../harness/shim.ts";
import { BUN, check, DENO, pack, ROOT, run, TSC, unpack, userEnv } from "./tools.ts";

const tmp = mkdtempSync(join(tmpdir(), "cpipe-typecheck-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let tarball: Promise<string> | null = null;
const packed = (): Promise<string> => tarball ??= pack(tmp).then((p) => join(tmp, p.filename));

/**
 * A program that uses the client, the pool, pipelines, the errors and the cluster and Sentinel entries (`root` is
 * where the entries are: the package's name, or a path to its directory), so their types are all checked.
 */
const PROGRAM = (root: string, ext = "") => `
import * as cpipe from ${JSON.stringify(`${root}${ext && "/mod"}${ext}`)};
import { type ClusterPool, connectClusterPool, slotOf } from ${JSON.stringify(`${root}/cluster${ext}`)};
import { connectSentinelPool, type SentinelPool } from ${JSON.stringify(`${root}/sentinel${ext}`)};

export async function clusterAndSentinel(): Promise<[ClusterPool, SentinelPool, number]> {
  const cluster = await connectClusterPool(["redis://127.0.0.1:7000"]);
  const sentinel = await connectSentinelPool({ sentinels: ["redis://127.0.0.1:26379"], name: "mymaster" });
  const hits: number = await cluster.incr("n");
  return [cluster, sentinel, hits + slotOf("n")];
}

const r = cpipe.connect("127.0.0.1", 6379);
r.set("k", "v", { ex: 10 });
const v: string | null = r.get("k");
// Generated methods (src/command_methods.ts), plain and Buffer, on the client, a pipeline and the pool.
const id: number = r.clientId();
const range: string = r.getrange("k", 0, -1);
const bytes: Uint8Array = r.getrangeBuffer("k", 0, -1);
const [appended, length] = r.pipeline().append("k", "w").strlen("k").execute();
console.log(id, range, bytes, appended, length);
r.addCommand("hset", "h", "f", "1");
const replies = r.execute();
console.log(v, replies.length);
r.close();

const pool = cpipe.connectPool({ host: "127.0.0.1", port: 6379, size: 2 });
const n: number = await pool.incr("n");
const popped: [string, string] | null = await pool.blpop("list", 1);
const size: number = await pool.xlen("stream");
console.log(popped, size);
try {
  await pool.send("NOPE");
} catch (e) {
  if (e instanceof cpipe.ReplyError) console.log(e.message, n);
}
await pool.close();
`;

/**
 * Gives `project` the type packages `bun add -d @types/bun` installs, as
 * copies of the checkout's pinned ones: @types/bun, bun-types, and the
 * @types/node (with its undici-types) bun-types is written against — newer
 * than the checkout's own @types/node, hence its alias `types-node-26`.
 */
function installBunTypes(project: string): void {
  const modules = join(project, "node_modules");
  const copies: [string, string][] = [
    ["@types/bun", "@types/bun"],
    ["bun-types", "bun-types"],
    ["types-node-26", "@types/node"],
    ["types-node-26/node_modules/undici-types", "undici-types"],
  ];
  for (const [from, to] of copies) {
    rmSync(join(modules, to), { recursive: true, force: true });
    cpSync(join(ROOT, "node_modules", from), join(modules, to), { recursive: true, dereference: true });
  }
}

/** tsc's diagnostics, one a line, for a failure message; the count of errors. */
function errors(output: string): { count: number; text: string } {
  const lines = output.split("\n").filter((l) => /error TS\d+/.test(l));
  return { count: lines.length, text: output };
}

test("a default `bun init` project type-checks cpipe with zero errors (tsc, noUncheckedIndexedAccess)", async () => {
  const dir = join(tmp, "bun-init");
  mkdirSync(dir);
  // bun init installs @types/bun and typescript after writing its files; offline, that step fails harmlessly.
  const offline = userEnv({ BUN_CONFIG_REGISTRY: "http://127.0.0.1:9/", NPM_CONFIG_REGISTRY: "http://127.0.0.1:9/" });
  await run(BUN, ["init", "-y"], { cwd: dir, env: offline });
  const tsconfig = readFileSync(join(dir, "tsconfig.json"), "utf8");
  for (const option of ['"strict": true', '"noUncheckedIndexedAccess": true', '"types": ["bun"]']) {
    assert.ok(tsconfig.includes(option), `bun init's tsconfig.json no longer has ${option}:\n${tsconfig}`);
  }
  rmSync(join(dir, "node_modules"), { recursive: true, force: true });
  await unpack(await packed(), dir);
  installBunTypes(dir);
  writeFileSync(join(dir, "index.ts"), PROGRAM("@x/cpipe"));
  const r = await run(TSC, ["--noEmit", "-p", "."], { cwd: dir });
  const found = errors(r.stdout + r.stderr);
  assert.equal(found.count, 0, `tsc found ${found.count} errors:\n${found.text}`);
  assert.equal(r.code, 0, found.text);
});

test("a bare strict tsconfig with @types/bun type-checks cpipe with zero errors", async () => {
  const dir = join(tmp, "bare");
  mkdirSync(dir);
  await unpack(await packed(), dir);
  installBunTypes(dir);
  writeFileSync(join(dir, "index.ts"), PROGRAM("@x/cpipe"));
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: { strict: true, types: ["bun"], allowImportingTsExtensions: true, noEmit: true },
      files: ["index.ts"],
    }),
  );
  const r = await run(TSC, ["-p", "."], { cwd: dir });
  const found = errors(r.stdout + r.stderr);
  assert.equal(found.count, 0, `tsc found ${found.count} errors:\n${found.text}`);
  assert.equal(r.code, 0, found.text);
});

test("deno check accepts a program importing the installed mod.ts", async () => {
  const dir = join(tmp, "deno");
  mkdirSync(dir);
  await unpack(await packed(), dir);
  writeFileSync(join(dir, "main.ts"), PROGRAM("./node_modules/@x/cpipe", ".ts"));
  const r = await run(DENO, ["check", "--quiet", "--no-lock", "--node-modules-dir=none", "main.ts"], { cwd: dir });
  check("deno check main.ts", r);
});
