/**
 * How long a burst of 100,000 failures keeps the event loop busy (issue 10's goal: under 0.5 s in both runtimes),
 * for the four bursts users meet: error replies (WRONGTYPE), a failover's READONLY replies, the server killed with
 * the calls pending, and close() with the calls in flight. Each time runs from the moment the failure starts to the
 * moment every promise has settled; every caller awaits its own promise, as an application does. Median of 5.
 *
 *   node_modules/.bin/deno run -A bench/burst.ts
 *   node_modules/.bin/bun bench/burst.ts
 */
import process from "node:process";
import { connectPool, type Pool } from "../mod.ts";
import { type RedisServer, startRedis } from "../tests/harness/server.ts";

const CALLS = 100_000;
const ROUNDS = 5;

/** Calls `issue` CALLS times, each caller handling its own outcome; resolves with the number of failures. */
function burst(issue: () => Promise<unknown>): Promise<number> {
  let failed = 0;
  const calls = new Array<Promise<void>>(CALLS);
  for (let i = 0; i < CALLS; i++) calls[i] = issue().then(() => {}, () => void failed++);
  return Promise.all(calls).then(() => failed);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1]!;
}

async function measure(name: string, round: (server: RedisServer) => Promise<[number, number]>): Promise<void> {
  const times: number[] = [];
  await using server = await startRedis();
  for (let i = 0; i < ROUNDS; i++) {
    const [ms, failed] = await round(server);
    if (failed !== CALLS) throw new Error(`${name}: ${failed} of ${CALLS} failed`);
    times.push(ms);
  }
  console.log(
    `${name.padEnd(44)} median ${median(times).toFixed(0).padStart(5)} ms  (${
      times.map((t) => t.toFixed(0)).join(", ")
    })`,
  );
}

function serverPid(server: RedisServer): number {
  return Number(/process_id:(\d+)/.exec(server.cli("INFO", "server"))![1]);
}

function open(server: RedisServer, extra: Record<string, unknown> = {}): Pool {
  return connectPool({ host: server.host, port: server.port, size: 4, ...extra });
}

const runtime = "Bun" in globalThis ? "Bun" : "Deno";
console.log(`${runtime}: ${CALLS.toLocaleString("en")} calls failing at once, ${ROUNDS} rounds`);

await measure("WRONGTYPE replies", async (server) => {
  const pool = open(server);
  await pool.lpush("burst:list", "x");
  const started = performance.now();
  const failed = await burst(() => pool.get("burst:list"));
  const ms = performance.now() - started;
  await pool.close();
  return [ms, failed];
});

await measure("READONLY replies (a replica after a failover)", async (server) => {
  const pool = open(server);
  server.cli("CONFIG", "SET", "replica-read-only", "yes");
  // A replica of a port nobody listens on: it answers writes with READONLY.
  server.cli("REPLICAOF", "127.0.0.1", "1");
  const started = performance.now();
  const failed = await burst(() => pool.set("burst:key", "v"));
  const ms = performance.now() - started;
  server.cli("REPLICAOF", "NO", "ONE");
  await pool.close();
  return [ms, failed];
});

/**
 * Issues the burst to a stopped server (so that every call is still pending), then times `fail` and the settling of
 * every call; the server is let go on again after.
 */
async function stalled(
  server: RedisServer,
  pool: Pool,
  fail: (pid: number) => unknown,
): Promise<[number, number]> {
  await pool.ping();
  const pid = serverPid(server);
  process.kill(pid, "SIGSTOP");
  const settled = burst(() => pool.get("burst:key"));
  await new Promise((resolve) => setTimeout(resolve, 200));
  const started = performance.now();
  await fail(pid);
  const failed = await settled;
  const ms = performance.now() - started;
  try {
    process.kill(pid, "SIGCONT");
  } catch {
    // killed by `fail`
  }
  return [ms, failed];
}

await measure("server killed with the calls pending", async (server) => {
  const pool = open(server, { offlineQueue: false });
  const outcome = await stalled(server, pool, (pid) => process.kill(pid, "SIGKILL"));
  await pool.close();
  await server.restart();
  return outcome;
});

await measure("close() with the calls in flight", (server) => {
  const pool = open(server, { closeTimeout: 1 });
  return stalled(server, pool, () => pool.close());
});
