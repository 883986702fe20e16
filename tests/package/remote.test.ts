/**
 * The package imported from a URL, as Deno imports it from JSR: the package
 * files are served over HTTP on 127.0.0.1 and a Deno process imports
 * `http://127.0.0.1:<port>/mod.ts` with its own module cache (DENO_DIR) and
 * user cache (XDG_CACHE_HOME). The loader must download the library beside
 * the module, check it against ffi/lib/checksums.json, cache it by version,
 * start again with the server gone, refuse a tampered library, and let
 * Deno's permission errors through untouched.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join, normalize } from "node:path";
import { afterAll, test } from "../harness/shim.ts";
import { startRedis } from "../harness/server.ts";
import { checksums, DENO, flipMiddleByte, hostLibrary, ROOT, run, userEnv } from "./tools.ts";

const server = await startRedis();
const tmp = mkdtempSync(join(tmpdir(), "cpipe-remote-"));
afterAll(async () => {
  await server[Symbol.asyncDispose]();
  rmSync(tmp, { recursive: true, force: true });
});

const { version, files } = checksums();
const library = hostLibrary();

/** A copy of what the JSR package holds: mod.ts, src/, ffi/ with the libraries. */
function packageCopy(name: string): string {
  const dir = join(tmp, name);
  cpSync(join(ROOT, "mod.ts"), join(dir, "mod.ts"));
  cpSync(join(ROOT, "src"), join(dir, "src"), { recursive: true });
  cpSync(join(ROOT, "ffi"), join(dir, "ffi"), { recursive: true });
  return dir;
}

const TYPES: Record<string, string> = { ts: "application/typescript", json: "application/json" };

interface StaticServer {
  url: string;
  /** Requests for each path so far. */
  hits: Map<string, number>;
  close(): Promise<void>;
}

/** Serves `root` on a free loopback port. */
function serve(root: string): Promise<StaticServer> {
  const hits = new Map<string, number>();
  const http = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const file = normalize(join(root, path));
    if (!file.startsWith(root + "/") || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    const body = readFileSync(file);
    const type = TYPES[file.split(".").pop() ?? ""] ?? "application/octet-stream";
    res.writeHead(200, { "content-type": type, "content-length": body.length }).end(body);
  });
  return new Promise((resolve, reject) => {
    http.once("error", reject);
    http.listen(0, "127.0.0.1", () => {
      const address = http.address();
      const port = typeof address === "object" && address ? address.port : 0;
      resolve({
        url: `http://127.0.0.1:${port}`,
        hits,
        close: () =>
          new Promise<void>((done) => {
            http.close(() => done());
            (http as unknown as { closeAllConnections?(): void }).closeAllConnections?.();
          }),
      });
    });
  });
}

/** Fresh module and library caches: one "machine". */
function machine(name: string): { denoDir: string; cacheHome: string } {
  return { denoDir: join(tmp, name, "deno"), cacheHome: join(tmp, name, "cache") };
}

const MAIN = join(tmp, "main.ts");
writeFileSync(
  MAIN,
  `const cpipe = await import(Deno.args[0]);
const r = cpipe.connect("127.0.0.1", Number(Deno.args[1]));
r.set("remote:smoke", "works");
const value = r.get("remote:smoke");
r.close();
console.log(value === "works" ? "ok" : "bad reply: " + value);
`,
);

/** Starts a user's Deno process importing cpipe from `base`. */
function start(base: string, m: { denoDir: string; cacheHome: string }, permissions: string[] = ["-A"]) {
  return run(DENO, [
    "run",
    "--quiet",
    "--no-config",
    "--no-lock",
    "--no-prompt",
    ...permissions,
    MAIN,
    `${base}/mod.ts`,
    String(server.port),
  ], {
    cwd: tmp,
    env: userEnv({ DENO_DIR: m.denoDir, XDG_CACHE_HOME: m.cacheHome }),
  });
}

function sha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

const good = packageCopy("package");
const first = machine("first");
const cached = join(first.cacheHome, "cpipe", version, library);
let goodUrl = "";

test("a remote import downloads the library, checks its sha256 and caches it by version", async () => {
  const http = await serve(good);
  goodUrl = http.url;
  try {
    const r = await start(http.url, first);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "ok");
    assert.equal(http.hits.get(`/ffi/lib/${library}`), 1);
    assert.ok(existsSync(cached), `nothing cached at ${cached}`);
    assert.equal(sha256(cached), files[library]);
  } finally {
    await http.close();
  }
});

test("the second start needs no network: the server is gone", async () => {
  assert.ok(existsSync(cached), "the first test did not run");
  const r = await start(goodUrl, first);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), "ok");
});

test("a cached library that no longer matches is not loaded", async () => {
  const bytes = readFileSync(cached);
  flipMiddleByte(bytes);
  writeFileSync(cached, bytes);
  const r = await start(goodUrl, first); // the server is gone: it cannot download a good copy
  assert.notEqual(r.code, 0);
  assert.match(
    r.stderr,
    /CpipeError: cpipe: cannot download the native library from http:\/\/127\.0\.0\.1:\d+\/ffi\/lib\//,
  );
});

test("a tampered library is refused, and not cached", async () => {
  const bad = packageCopy("tampered");
  const path = join(bad, "ffi", "lib", library);
  const bytes = readFileSync(path);
  flipMiddleByte(bytes);
  writeFileSync(path, bytes);
  const http = await serve(bad);
  const m = machine("tampered");
  try {
    const r = await start(http.url, m);
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      /CpipeError: cpipe: refusing the native library downloaded from http:\/\/127\.0\.0\.1:\d+\//,
    );
    assert.ok(r.stderr.includes(`but cpipe ${version} was built with ${files[library]}`), r.stderr);
    assert.equal(existsSync(join(m.cacheHome, "cpipe", version, library)), false);
  } finally {
    await http.close();
  }
});

test("Deno's permission errors come through untouched", async () => {
  const http = await serve(good);
  try {
    const host = new URL(http.url).host;
    const r = await start(http.url, machine("no-net"), [
      `--allow-import=${host}`,
      "--allow-env",
      "--allow-read",
      "--allow-write",
      "--allow-ffi",
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /NotCapable: Requires net access to "127\.0\.0\.1:\d+"/);
    assert.ok(!r.stderr.includes("CpipeError"), r.stderr);
  } finally {
    await http.close();
  }
});
