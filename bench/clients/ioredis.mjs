/**
 * ioredis' side of the benchmark; runs under Node and Bun.
 * `node bench/clients/ioredis.mjs --workload W2 --port 6379 [--tls-ca ca.crt]`.
 * Pipelines use `redis.pipeline()`; the pool is 10 connections used round-robin;
 * the latency kinds use one connection.
 */
import { readFileSync } from "node:fs";
import { Redis } from "ioredis";
import { expect, main, packageVersion, roundRobinKinds } from "./runner.mjs";
import { field, isLatency, KEY } from "../spec.mjs";

/** @param {number} i @param {import("./runner.mjs").Params} p */
const fieldOf = (i, p) => field(p.fields > 0 ? i % p.fields : i);

/** @type {import("./runner.mjs").ClientDef<Redis[]>} */
const def = {
  name: "ioredis",
  version: packageVersion("ioredis"),
  async open(p) {
    const count = isLatency(p.kind) ? 1 : p.size;
    // The TLS workloads (W2t, W3t, W6t): verified against the harness' CA, as node-redis' side does.
    const tls = p.tlsCa === undefined ? {} : { tls: { ca: readFileSync(p.tlsCa, "utf8") } };
    const clients = Array.from({ length: count }, () => new Redis(p.port, p.host, { lazyConnect: true, ...tls }));
    await Promise.all(clients.map((c) => c.connect()));
    return clients;
  },
  close(clients) {
    for (const c of clients) c.disconnect();
  },
  kinds: {
    async seq([r], n, p) {
      for (let i = 0; i < n; i++) await r.hset(KEY, fieldOf(i, p), "1");
    },
    async pipe([r], n, p) {
      for (let i = 0; i < n;) {
        const end = Math.min(n, i + p.batch), pipeline = r.pipeline();
        for (; i < end; i++) pipeline.hset(KEY, fieldOf(i, p), "1");
        const replies = await pipeline.exec();
        expect(replies !== null && replies[replies.length - 1][0] === null, "HSET");
      }
    },
    async hget([r], n, p) {
      for (let i = 0; i < n;) {
        const end = Math.min(n, i + p.batch), pipeline = r.pipeline();
        for (; i < end; i++) pipeline.hget(KEY, fieldOf(i, p));
        const replies = await pipeline.exec();
        expect(replies !== null && replies[replies.length - 1][1] === "1", "HGET");
      }
    },
    ...roundRobinKinds(),
  },
  missing: { latencySync: "no synchronous client", latencyIdleSync: "no synchronous client" },
};

await main(def);
