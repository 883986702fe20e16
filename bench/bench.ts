/**
 * `bun run bench/bench.ts`: mitata benchmarks of cpipe (the baseline of each
 * group) against Bun's built-in RedisClient, ioredis and node-redis, on a
 * private redis-server this file starts (pinned to CPU 0 where there are two
 * CPUs) and stops. Also runs under Deno (`deno run -A bench/bench.ts`),
 * without Bun's client. The full cross-runtime comparison is `make bench`.
 */
import { bench, group, run, summary } from "mitata";
import { KEY } from "./spec.mjs";
import { openPeers } from "./peers.ts";

interface BunRedis {
  connect(): Promise<void>;
  hset(key: string, field: string, value: string): Promise<number>;
  hget(key: string, field: string): Promise<string | null>;
  close(): void;
}
const Bun = (globalThis as unknown as { Bun?: { RedisClient: new (url: string) => BunRedis } }).Bun;

const peers = await openPeers();
const { server, r, io, nr, pool, fields } = peers;
const bun = Bun ? new Bun.RedisClient(`redis://${server.host}:${server.port}`) : null;
await bun?.connect();
const bunPool = Bun
  ? Array.from({ length: 10 }, () => new Bun.RedisClient(`redis://${server.host}:${server.port}`))
  : [];
await Promise.all(bunPool.map((c) => c.connect()));

group("W1: one HSET, answered before the next", () => {
  summary(() => {
    bench("cpipe hset", () => r.hset(KEY, "f", "1")).baseline(true);
    if (bun) bench("Bun RedisClient hset", async () => await bun.hset(KEY, "f", "1"));
    bench("ioredis hset", async () => await io.hset(KEY, "f", "1"));
    bench("node-redis hSet", async () => await nr.hSet(KEY, "f", "1"));
  });
});

group("W2: 10,000 HSET in one pipeline", () => {
  summary(() => {
    bench("cpipe addCommand + execute", () => {
      for (const f of fields) r.addCommand("hset", KEY, f, "1");
      return r.execute();
    }).baseline(true);
    if (bun) bench("Bun RedisClient Promise.all", () => Promise.all(fields.map((f) => bun.hset(KEY, f, "1"))));
    bench("ioredis pipeline + exec", () => {
      const p = io.pipeline();
      for (const f of fields) p.hset(KEY, f, "1");
      return p.exec();
    });
    bench("node-redis Promise.all", () => Promise.all(fields.map((f) => nr.hSet(KEY, f, "1"))));
  });
});

group("W4: 10,000 HGET in one pipeline, values as strings", () => {
  summary(() => {
    bench("cpipe addCommand + execute", () => {
      for (const f of fields) r.addCommand("hget", KEY, f);
      return r.execute();
    }).baseline(true);
    if (bun) bench("Bun RedisClient Promise.all", () => Promise.all(fields.map((f) => bun.hget(KEY, f))));
    bench("ioredis pipeline + exec", () => {
      const p = io.pipeline();
      for (const f of fields) p.hget(KEY, f);
      return p.exec();
    });
    bench("node-redis Promise.all", () => Promise.all(fields.map((f) => nr.hGet(KEY, f))));
  });
});

group("W3: 10,000 HSET at once over 10 connections", () => {
  summary(() => {
    bench("cpipe pool of 10", () => Promise.all(fields.map((f) => pool.hset(KEY, f, "1")))).baseline(true);
    if (bunPool.length) {
      bench(
        "Bun RedisClient × 10",
        () => Promise.all(fields.map((f, i) => bunPool[i % bunPool.length]!.hset(KEY, f, "1"))), // i % length is in range
      );
    }
  });
});

try {
  await run();
} finally {
  bun?.close();
  for (const c of bunPool) c.close();
  await peers.close();
}
