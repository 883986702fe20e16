/**
 * Bun's built-in `RedisClient` (auto-pipelining, promises); runs under Bun only.
 * `bun bench/clients/bun_redis.ts --workload W2 --port 6379`.
 */
import { readFileSync } from "node:fs";
import { type ClientDef, expect, main, type Params, roundRobinKinds } from "./runner.mjs";
import { field, isLatency, KEY } from "../spec.mjs";

/** The part of `Bun.RedisClient` used here (declared so that `deno check` passes). */
interface RedisClient {
  connect(): Promise<void>;
  hset(key: string, field: string, value: string): Promise<number>;
  hget(key: string, field: string): Promise<string | null>;
  get(key: string): Promise<string | null>;
  close(): void;
}
interface BunGlobal {
  version: string;
  RedisClient: new (url: string, options?: { tls?: { ca: string } }) => RedisClient;
}
const Bun = (globalThis as unknown as { Bun?: BunGlobal }).Bun;
if (!Bun) throw new Error("bun_redis.ts runs under Bun");

function fieldOf(i: number, p: Params): string {
  return field(p.fields > 0 ? i % p.fields : i);
}

const roundRobin = roundRobinKinds();

/** At least one connection: the one-connection kinds take the first. */
type Clients = [RedisClient, ...RedisClient[]];

const def: ClientDef<Clients> = {
  name: "Bun RedisClient",
  version: Bun.version,
  async open(p) {
    // The latency kinds make their calls on one connection.
    const count = isLatency(p.kind) ? 1 : p.size;
    const url = `${p.tlsCa === undefined ? "redis" : "rediss"}://${p.host}:${p.port}`;
    const options = p.tlsCa === undefined ? {} : { tls: { ca: readFileSync(p.tlsCa, "utf8") } };
    const clients: Clients = [
      new Bun.RedisClient(url, options),
      ...Array.from({ length: count - 1 }, () => new Bun.RedisClient(url, options)),
    ];
    await Promise.all(clients.map((c) => c.connect()));
    return clients;
  },
  close(clients) {
    for (const c of clients) c.close();
  },
  kinds: {
    async seq([r], n, p) {
      for (let i = 0; i < n; i++) await r.hset(KEY, fieldOf(i, p), "1");
    },
    // A pipeline workload opens one connection: its rounds of `batch` commands are the pool kind's.
    pipe: roundRobin.pool,
    async hget([r], n, p) {
      for (let i = 0; i < n;) {
        const end = Math.min(n, i + p.batch), pending: Promise<string | null>[] = [];
        for (; i < end; i++) pending.push(r.hget(KEY, fieldOf(i, p)));
        const replies = await Promise.all(pending);
        expect(replies[replies.length - 1] === "1", "HGET");
      }
    },
    ...roundRobin,
  },
  missing: { latencySync: "no synchronous client", latencyIdleSync: "no synchronous client" },
};

await main(def);
