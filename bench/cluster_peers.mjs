/**
 * ioredis' Cluster and node-redis' createCluster on the cluster benchmark (bench/cluster.ts), under Node:
 * `node bench/cluster_peers.mjs ioredis|node-redis <port>`. One connection per master, as both make by default.
 */
import { Cluster } from "ioredis";
import { createCluster } from "redis";
import { key, KEYS, measure } from "./cluster_spec.mjs";

const [which, port] = process.argv.slice(2);
const rootNodes = [{ host: "127.0.0.1", port: Number(port) }];
const client = which === "ioredis" ? new Cluster(rootNodes) : createCluster({
  rootNodes: rootNodes.map((n) => ({ url: `redis://${n.host}:${n.port}` })),
  // As in bench/clients/node_redis.mjs: no per-command timer (its 5 s default fails W6's 100,000 GET).
  defaults: { commandOptions: { timeout: 0 } },
});
if (which === "ioredis") await new Promise((resolve) => client.once("ready", resolve));
else await client.connect();

/** node-redis names commands in upper case (its `multi()` pipelines); ioredis in lower case. */
const pipeline = () => which === "ioredis" ? client.pipeline() : client.multi();
const execPipeline = (p) => which === "ioredis" ? p.exec() : p.execAsPipeline();
const hset = (target, i) =>
  which === "ioredis" ? target.hset("words", key(i % 10_000), "1") : target.HSET("words", key(i % 10_000), "1");

await measure(which, async (w) => {
  if (w.kind === "pipe") {
    for (let i = 0; i < w.n;) {
      const p = pipeline();
      for (const end = i + w.batch; i < end; i++) hset(p, i);
      await execPipeline(p);
    }
  } else if (w.kind === "pool") {
    for (let i = 0; i < w.n;) {
      const round = [];
      for (const end = i + w.batch; i < end; i++) round.push(hset(client, i));
      await Promise.all(round);
    }
  } else if (w.kind === "get") {
    const all = [];
    for (let i = 0; i < w.n; i++) all.push(which === "ioredis" ? client.get(key(i % KEYS)) : client.GET(key(i % KEYS)));
    const values = await Promise.all(all);
    if (values[w.n - 1] !== "1") throw new Error("GET");
  } else {
    // ioredis' cluster pipeline refuses keys served by different nodes: both peers issue the commands at once instead.
    for (let i = 0; i < w.n;) {
      const round = [];
      for (const end = i + w.batch; i < end; i++) {
        round.push(which === "ioredis" ? client.set(key(i), "1") : client.SET(key(i), "1"));
      }
      await Promise.all(round);
    }
  }
}, (process.env.CLUSTER_BENCH_ONLY ?? "").split(",").filter(Boolean));
if (which === "ioredis") client.disconnect();
else await client.close();
