/**
 * R1: riding out a one-second Redis restart. A steady load (5 GETs every millisecond, as a busy service issues them)
 * runs for 6 s; at 2 s the server is stopped, and started again 1 s later on the same port. Counts the calls that
 * failed and the latency of all calls (a call waiting in an offline queue counts from its issue to its answer), for
 * each client with its default options, one client at a time against the same server.
 *
 *   node_modules/.bin/bun bench/restart.ts     cpipe's pool, Bun's RedisClient, ioredis, node-redis under Bun
 *   node_modules/.bin/deno run -A bench/restart.ts   cpipe's pool, ioredis, node-redis under Deno
 */
import { Redis } from "ioredis";
import { createClient } from "redis";
import { connectPool } from "../mod.ts";
import { startRedis } from "../tests/harness/server.ts";

const RUN_MS = 6000;
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
  `R1: ${PER_TICK} GETs every ms for ${RUN_MS / 1000} s; the server stopped at ${DOWN_AT_MS / 1000} s ` +
    `and started again ${DOWN_FOR_MS / 1000} s later (redis-server on ${server.port})`,
);
console.log("| client | calls | failed | p50 ms | p99 ms | max ms | unsettled 5 s after the end |");
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const make of subjects) {
  const subject = await make();
  const latencies: number[] = [];
  let failed = 0, issued = 0, settled = 0;
  const started = performance.now();
  const restart = (async () => {
    await sleep(DOWN_AT_MS);
    await server.stop();
    await sleep(DOWN_FOR_MS);
    await server.restart();
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
await server[Symbol.asyncDispose]();
