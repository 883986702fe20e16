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

test("20 forgotten pools are freed by the garbage collector: threads, descriptors, server connections", () => {
  const child = fileURLToPath(new URL("./forgotten_pool_child.ts", import.meta.url));
  const exe = runtime === "deno"
    ? Deno.execPath()
    : (globalThis as unknown as { process: { execPath: string } }).process.execPath;
  const args = runtime === "deno"
    ? ["run", "-A", "--v8-flags=--expose-gc", child, String(server.port)]
    : [child, String(server.port)];
  const r = spawnSync(exe, args, { encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const { before, used, after } = JSON.parse(r.stdout.trim().split("\n").pop()!);
  assert.ok(used.threads >= before.threads + 20, JSON.stringify(used)); // the pools were alive…
  assert.ok(used.clients >= before.clients + 40, JSON.stringify(used));
  assert.equal(after.threads, before.threads); // …and are gone
  assert.equal(after.clients, before.clients);
  assert.ok(after.fds <= before.fds + 2, `fds ${before.fds} -> ${after.fds}`);
});
