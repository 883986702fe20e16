/**
 * R1: riding out a one-second Redis restart. A steady load (5 GETs every millisecond, as a busy service issues them)
 * runs for 6 s; at 2 s the server is stopped, and started again 1 s later on the same port. Counts the calls that
 * failed and the latency of all calls (a call waiting in an offline queue counts from its issue to its answer), for
 * each client with its default options, one client at a time against the same server.
 * R2 (`--keys 2000000`): the same with data, as a server with persistence restarts: the server holds that many keys
 * (DEBUG POPULATE, 64-byte values, saved), reads them again after each restart, and answers every command LOADING
 * meanwhile (2-3 s here); the run lasts 9 s.
 *
 *   node_modules/.bin/bun bench/restart.ts [--keys N]     cpipe's pool, Bun's RedisClient, ioredis, node-redis under Bun
 *   node_modules/.bin/deno run -A bench/restart.ts [--keys N]   cpipe's pool, ioredis, node-redis under Deno
 */
import process from "node:process";
import { Redis } from "ioredis";
import { createClient } from "redis";
import { connectPool } from "../mod.ts";
import { startRedis } from "../tests/harness/server.ts";

const args = process.argv.slice(2);
const keysAt = args.indexOf("--keys");
const KEYS = keysAt >= 0 ? Number(args[keysAt + 1]) : 0;
const RUN_MS = KEYS > 0 ? 9000 : 6000;
const DOWN_AT_MS = 2000;
const DOWN_FOR_MS = 1000;
const PER_TICK = 5;

interface Subject {
  name: string;
  get(key: string): Promise<unknown>;
  close(): Promise<unknown> | unknown;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const isBun = "Bun" in globalThis;
const server = await startRedis();
const url = `redis://${server.host}:${server.port}`;
if (KEYS > 0) {
  server.cli("DEBUG", "POPULATE", String(KEYS), "restart", "64");
  server.cli("SAVE");
}

const subjects: (() => Promise<Subject>)[] = [
  async () => {
    const pool = connectPool(url);
    await pool.ping();
    return { name: `cpipe pool (${isBun ? "Bun" : "Deno"})`, get: (k) => pool.get(k), close: () => pool.close() };
  },
  ...(isBun
    ? [async (): Promise<Subject> => {
      const { RedisClient } = (globalThis as unknown as {
        Bun: {
          RedisClient: new (
            url: string,
          ) => { get(k: string): Promise<unknown>; connect(): Promise<void>; close(): void };
        };
      }).Bun;
      const client = new RedisClient(url);
      await client.connect();
      return { name: "Bun RedisClient", get: (k) => client.get(k), close: () => client.close() };
    }]
    : []),
  async () => {
    const client = new Redis(server.port, server.host);
    client.on("error", () => {}); // reported by the calls themselves
    await client.ping();
    return { name: `ioredis (${isBun ? "Bun" : "Deno"})`, get: (k) => client.get(k), close: () => client.disconnect() };
  },
  async () => {
    const client = createClient({ url });
    client.on("error", () => {});
    await client.connect();
    return { name: `node-redis (${isBun ? "Bun" : "Deno"})`, get: (k) => client.get(k), close: () => client.destroy() };
  },
];

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

console.log(
  `${KEYS > 0 ? "R2" : "R1"}: ${PER_TICK} GETs every ms for ${RUN_MS / 1000} s; the server stopped at ` +
    `${DOWN_AT_MS / 1000} s and started again ${DOWN_FOR_MS / 1000} s later (redis-server on ${server.port})` +
    (KEYS > 0 ? `, reading ${KEYS.toLocaleString("en-US")} keys again` : ""),
);
console.log("| client | calls | failed | p50 ms | p99 ms | max ms | unsettled 5 s after the end |");
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
/** How long each restart took to answer PING (reading the data, with --keys). */
const loading: number[] = [];
for (const make of subjects) {
  const subject = await make();
  const latencies: number[] = [];
  let failed = 0, issued = 0, settled = 0;
  const started = performance.now();
  const restart = (async () => {
    await sleep(DOWN_AT_MS);
    await server.stop();
    await sleep(DOWN_FOR_MS);
    const back = performance.now();
    await server.restart();
    loading.push(performance.now() - back);
  })();
  while (performance.now() - started < RUN_MS) {
    for (let i = 0; i < PER_TICK; i++) {
      const issuedAt = performance.now();
      issued++;
      subject.get(`restart:${i}`).then(
        () => latencies.push(performance.now() - issuedAt),
        () => {
          failed++;
          latencies.push(performance.now() - issuedAt);
        },
      ).finally(() => settled++);
    }
    await sleep(1);
  }
  await restart;
  const deadline = performance.now() + 5000;
  while (settled < issued && performance.now() < deadline) await sleep(10);
  const sorted = latencies.sort((a, b) => a - b);
  console.log(
    `| ${subject.name} | ${issued} | ${failed} | ${percentile(sorted, 0.5).toFixed(2)} | ` +
      `${percentile(sorted, 0.99).toFixed(1)} | ${sorted.at(-1)!.toFixed(0)} | ${issued - settled} |`,
  );
  await subject.close();
}
console.log(
  `The server answered PING ${loading.map((ms) => `${(ms / 1000).toFixed(1)} s`).join(", ")} after each start.`,
);
await server[Symbol.asyncDispose]();
