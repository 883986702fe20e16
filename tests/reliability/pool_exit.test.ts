/**
 * A process that uses a pool ends by itself, and without a crash, however it
 * leaves the pool: closed, idle, never used, with commands in flight, or
 * inside a worker that is terminated.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, runtime, test } from "../harness/shim.ts";
import { startRedis } from "../harness/server.ts";

const server = await startRedis();
afterAll(() => server[Symbol.asyncDispose]());

const child = fileURLToPath(new URL("./pool_exit_child.ts", import.meta.url));

interface Outcome {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs the child in this runtime; kills it after `limitMs`. */
function run(mode: string, limitMs = 20_000): Promise<Outcome> {
  const exe = runtime === "deno"
    ? Deno.execPath()
    : (globalThis as unknown as { process: { execPath: string } }).process.execPath;
  const args = runtime === "deno"
    ? ["run", "-A", child, mode, String(server.port)]
    : [child, mode, String(server.port)];
  const started = Date.now();
  const proc = spawn(exe, args, { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "", stderr = "";
  proc.stdout!.on("data", (d) => (stdout += d));
  proc.stderr!.on("data", (d) => (stderr += d));
  return new Promise((resolve) => {
    const timer = setTimeout(() => proc.kill("SIGKILL"), limitMs);
    proc.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

const modes = ["close", "idle", "unused", "exit-in-flight", "close-in-flight", "pending", "worker"];
for (const mode of [...modes, "subscribed-close", "unsubscribed", "subscribed-waits"]) {
  test(`the process ends by itself: ${mode}`, async () => {
    const r = await run(mode);
    assert.equal(r.signal, null, `killed by ${r.signal} (a hang or a crash)\n${r.stderr}`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /done/);
    if (mode === "subscribed-waits") assert.match(r.stdout, /got it/);
  });
}
