/**
 * node-redis' side of the benchmark; runs under Node and Bun.
 * `node bench/clients/node_redis.mjs --workload W2 --port 6379`.
 * Pipelines are its automatic pipelining (commands issued in one tick, awaited
 * together); the pool is its `createClientPool`; the latency kinds use one
 * client. The per-command timeout is switched off (`commandOptions.timeout =
 * 0`): its 5 s default fails the 1M-command pipeline, and arming a timer per
 * command would only slow it. So is the pool's wait for a free client
 * (`acquireTimeout: 0`): the pool lends each command a client of its own until
 * the reply, so the others queue, and with the 3 s default W6's 100,000 GET
 * fail.
 */
import { readFileSync } from "node:fs";
import { createClient, createClientPool } from "redis";
import { expect, main, packageVersion, timeCalls } from "./runner.mjs";
import { field, KEY } from "../spec.mjs";

/** @param {number} i @param {import("./runner.mjs").Params} p */
const fieldOf = (i, p) => field(p.fields > 0 ? i % p.fields : i);

/**
 * @typedef {object} Conn
 * @property {any} client a client, or the pool for pool workloads
 * @property {boolean} pooled
 */

/**
 * Rounds of `batch` HSET issued at once and awaited together: a pipeline on one client, a burst on the pool.
 * @param {{ client: { hSet(key: string, field: string, value: string): Promise<unknown> } }} c
 * @param {number} n
 * @param {import("./runner.mjs").Params} p
 */
async function hsetRounds({ client }, n, p) {
  for (let i = 0; i < n;) {
    const end = Math.min(n, i + p.batch), pending = [];
    for (; i < end; i++) pending.push(client.hSet(KEY, fieldOf(i, p), "1"));
    const replies = await Promise.all(pending);
    expect(typeof replies[replies.length - 1] === "number", "HSET");
  }
}

/** @type {import("./runner.mjs").ClientDef<Conn>} */
const def = {
  name: "node-redis",
  version: packageVersion("redis"),
  async open(p) {
    const tls = p.tlsCa === undefined ? {} : { tls: true, ca: readFileSync(p.tlsCa, "utf8") };
    const options = { socket: { host: p.host, port: p.port, ...tls }, commandOptions: { timeout: 0 } };
    if (p.kind === "pool" || p.kind === "poolSeq" || p.kind === "poolGet") {
      const pool = createClientPool(options, { minimum: p.size, maximum: p.size, acquireTimeout: 0 });
      await pool.connect();
      return { client: pool, pooled: true };
    }
    return { client: await createClient(options).connect(), pooled: false };
  },
  close(c) {
    c.client.destroy();
  },
  kinds: {
    async seq({ client }, n, p) {
      for (let i = 0; i < n; i++) await client.hSet(KEY, fieldOf(i, p), "1");
    },
    pipe: hsetRounds,
    async hget({ client }, n, p) {
      for (let i = 0; i < n;) {
        const end = Math.min(n, i + p.batch), pending = [];
        for (; i < end; i++) pending.push(client.hGet(KEY, fieldOf(i, p)));
        const replies = await Promise.all(pending);
        expect(replies[replies.length - 1] === "1", "HGET");
      }
    },
    pool: hsetRounds,
    async poolSeq({ client }, n, p) {
      /** @param {number} w */
      const worker = async (w) => {
        for (let i = w; i < n; i += p.size) await client.hSet(KEY, fieldOf(i, p), "1");
      };
      await Promise.all(Array.from({ length: p.size }, (_, w) => worker(w)));
    },
    async poolGet({ client }, n, p) {
      const pending = new Array(n);
      for (let i = 0; i < n; i++) pending[i] = client.get(fieldOf(i, p));
      const replies = await Promise.all(pending);
      expect(replies.every((v) => v === "1"), "GET");
    },
    latency: ({ client }, n, p) => timeCalls(n, false, (i) => client.get(fieldOf(i, p))),
    latencyIdle: ({ client }, n, p) => timeCalls(n, true, (i) => client.get(fieldOf(i, p))),
  },
  missing: { latencySync: "no synchronous client", latencyIdleSync: "no synchronous client" },
};

await main(def);
