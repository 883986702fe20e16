/**
 * What bench/bench.ts (mitata) and bench/pipeline.bench.ts (`deno bench`)
 * share: a private redis-server (pinned to CPU 0 where there are two CPUs),
 * cpipe's client and pool, ioredis and node-redis connected to it, and the
 * hash `words` pre-filled with the fields the groups use.
 */
import * as cpipe from "../mod.ts";
import { Redis } from "ioredis";
import { createClient } from "redis";
import { startRedis } from "../tests/harness/server.ts";
import { field, KEY } from "./spec.mjs";

/** Commands per group: one pipeline, or one burst through the pool. */
export const N = 10_000;

export async function openPeers() {
  const server = await startRedis(navigator.hardwareConcurrency >= 2 ? { cpus: "0" } : {});
  const r = cpipe.connect(server.host, server.port);
  const io = new Redis(server.port, server.host);
  const nr = await createClient({
    socket: { host: server.host, port: server.port },
    commandOptions: { timeout: 0 },
  }).connect();
  const pool = cpipe.connectPool({ host: server.host, port: server.port, size: 10 });
  const fields = Array.from({ length: N }, (_, i) => field(i));
  for (const f of fields) r.addCommand("hset", KEY, f, "1");
  r.execute();
  return {
    server,
    r,
    io,
    nr,
    pool,
    fields,
    /**
     * Closes every client and stops the server. Both start before the first
     * await, so that an `unload` listener, which cannot wait, still stops them.
     */
    async close(): Promise<void> {
      r.close();
      io.disconnect();
      nr.destroy();
      await Promise.all([pool.close(), server[Symbol.asyncDispose]()]);
    },
  };
}
