/**
 * A pool nobody can reach any more is closed: its thread, its sockets and
 * its server connections go, although the user never called close().
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, runtime, test } from "../harness/shim.ts";
import { startRedis } from "../harness/server.ts";

const server = await startRedis();
afterAll(() => server[Symbol.asyncDispose]());

interface Counts {
  threads: number;
  clients: number;
  fds?: number;
}

/** Runs a child script of this folder in this runtime; returns what it counted before, while used, and after. */
function runChild(name: string, flags: string[] = []): { before: Counts; used: Counts; after: Counts } {
  const child = fileURLToPath(new URL(name, import.meta.url));
  const exe = runtime === "deno"
    ? Deno.execPath()
    : (globalThis as unknown as { process: { execPath: string } }).process.execPath;
  const args = runtime === "deno" ? ["run", "-A", ...flags, child, String(server.port)] : [child, String(server.port)];
  const r = spawnSync(exe, args, { encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").pop()!);
}

test("20 forgotten pools are freed by the garbage collector: threads, descriptors, server connections", () => {
  const { before, used, after } = runChild("./forgotten_pool_child.ts", ["--v8-flags=--expose-gc"]);
  assert.ok(used.threads >= before.threads + 20, JSON.stringify(used)); // the pools were alive…
  assert.ok(used.clients >= before.clients + 40, JSON.stringify(used));
  assert.equal(after.threads, before.threads); // …and are gone
  assert.equal(after.clients, before.clients);
  assert.ok(after.fds! <= before.fds! + 2, `fds ${before.fds} -> ${after.fds}`);
});

// Deno's terminate() leaves open what a worker's node:net adopted (a bare socket pair wrapped by `new net.Socket({ fd })`
// in a worker stays open after terminate()), so the pool never learns that its owner is gone: runtime behaviour,
// reported upstream; the pool's thread and connections stay until the process ends.
test("a terminated worker's pool closes its connections and ends its thread (Bun)", () => {
  if (runtime === "deno") return;
  const { before, used, after } = runChild("./terminated_worker_child.ts");
  assert.ok(used.threads === before.threads + 1 && used.clients >= before.clients + 2, JSON.stringify(used));
  assert.deepEqual(after, before);
});
