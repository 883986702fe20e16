/**
 * Client-side caching (`clientCache`, RESP3) against a real server: reads answered from memory, invalidated by
 * another client's write within one round trip (also under concurrent writers), bounds, expiry, and everything
 * forgotten after a lost connection or a FLUSHALL.
 */
import assert from "node:assert/strict";
import { afterAll, test } from "../harness/shim.ts";
import { startRedis } from "../harness/server.ts";
import { connect, connectPool, type Pool } from "../../mod.ts";

const server = await startRedis();
const pools: Pool[] = [];
afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
  await server[Symbol.asyncDispose]();
});

function cached(options: { size?: number; maxEntries?: number; maxBytes?: number; ttl?: number } = {}): Pool {
  const { size = 1, ...cache } = options;
  const p = connectPool({ host: server.host, port: server.port, size, protocol: 3, clientCache: cache });
  pools.push(p);
  return p;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("reads come from memory until another client writes; then, one round trip later, the new value", async () => {
  const p = cached();
  using w = connect(server.host, server.port);
  w.set("cc:k", "v1");
  w.hset("cc:h", { a: "1", b: "2" });
  assert.equal(await p.get("cc:k"), "v1");
  assert.equal(await p.get("cc:k"), "v1");
  assert.equal(await p.hget("cc:h", "a"), "1");
  const all = await p.hgetall("cc:h");
  all.a = "changed by the caller"; // a copy: the cache keeps its own
  assert.deepEqual(await p.hgetall("cc:h"), { a: "1", b: "2" });
  assert.equal(await p.get("cc:missing"), null);
  assert.equal(await p.get("cc:missing"), null); // a missing key is tracked, and cached, too
  assert.deepEqual(
    { hits: p.cacheStats!.hits, misses: p.cacheStats!.misses, entries: p.cacheStats!.entries },
    { hits: 3, misses: 4, entries: 4 },
  );
  w.set("cc:k", "v2");
  w.hset("cc:h", "a", "3");
  w.set("cc:missing", "here");
  await p.ping(); // one round trip on the connection that read: its invalidations came before this reply
  assert.equal(await p.get("cc:k"), "v2");
  assert.equal(await p.hget("cc:h", "a"), "3");
  assert.equal(await p.get("cc:missing"), "here");
  assert.equal(p.cacheStats!.invalidations, 4);
});

test("concurrent writers: after a write is acknowledged and one round trip, no read returns an older value", async () => {
  const p = cached();
  const writer = connectPool({ host: server.host, port: server.port, size: 2 });
  pools.push(writer);
  await writer.set("cc:n", 0);
  let acknowledged = 0, stop = false, stale = "";
  const writing = (async () => {
    for (let i = 1; !stop; i++) {
      await writer.set("cc:n", i);
      acknowledged = i;
    }
  })();
  const reading = async () => {
    for (let round = 0; round < 1500; round++) {
      const before = acknowledged;
      await p.ping();
      const value = Number(await p.get("cc:n"));
      if (value < before && stale === "") stale = `read ${value} after ${before} was acknowledged`;
    }
  };
  await Promise.all([reading(), reading(), reading()]);
  stop = true;
  await writing;
  assert.equal(stale, "");
  assert.ok(p.cacheStats!.hits > 0 && p.cacheStats!.invalidations > 0, JSON.stringify(p.cacheStats));
});

test("bounds: the least recently used go past maxEntries or maxBytes; ttl expires entries", async () => {
  const p = cached({ maxEntries: 3 });
  for (const k of ["a", "b", "c"]) await p.get(`cc:lru:${k}`);
  await p.get("cc:lru:a"); // a is now the most recent
  await p.get("cc:lru:d"); // b goes
  const misses = p.cacheStats!.misses;
  await p.get("cc:lru:a");
  await p.get("cc:lru:b");
  assert.equal(p.cacheStats!.misses, misses + 1);
  assert.equal(p.cacheStats!.entries, 3);

  const small = cached({ maxBytes: 200 });
  using w = connect(server.host, server.port);
  w.set("cc:big", "x".repeat(500));
  assert.equal((await small.get("cc:big"))!.length, 500);
  assert.equal(small.cacheStats!.entries, 0); // larger than the whole cache: not kept

  const expiring = cached({ ttl: 50 });
  await expiring.get("cc:ttl");
  await expiring.get("cc:ttl");
  await sleep(80);
  await expiring.get("cc:ttl");
  assert.deepEqual([expiring.cacheStats!.hits, expiring.cacheStats!.misses], [1, 2]);
});

test("a lost connection or a FLUSHALL empties the cache", async () => {
  const p = cached();
  using w = connect(server.host, server.port);
  w.set("cc:gone", "1");
  await p.get("cc:gone");
  assert.equal(p.cacheStats!.entries, 1);
  server.cli("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "no");
  const until = Date.now() + 5000;
  while (p.cacheStats!.entries > 0 && Date.now() < until) await sleep(5);
  assert.equal(p.cacheStats!.entries, 0);
  assert.equal(await p.get("cc:gone"), "1");
  assert.equal(p.cacheStats!.entries, 1);
  w.send("FLUSHALL");
  await p.ping();
  assert.equal(p.cacheStats!.entries, 0);
  assert.equal(await p.get("cc:gone"), null);
});

test("clientCache needs protocol: 3; its options are checked", () => {
  assert.throws(() => connectPool({ port: server.port, clientCache: true }), /protocol: 3/);
  assert.throws(() => connectPool({ port: server.port, protocol: 3, clientCache: { maxEntries: 0 } }), TypeError);
  assert.throws(() => connectPool({ port: server.port, protocol: 3, clientCache: { size: 1 } as never }), /unknown/);
  assert.throws(() => connect(server.host, server.port, { clientCache: true } as never), /connectPool/);
});
