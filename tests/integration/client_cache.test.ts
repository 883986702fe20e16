/**
 * Client-side caching against a real server: reads served from the process, invalidated when another client
 * writes (within one round trip on the connection that read), flushed on FLUSHALL and when a connection drops, and
 * never older than an invalidation already received, with writers running all along.
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
  const p = connectPool({ host: server.host, port: server.port, size, clientCache: cache });
  pools.push(p);
  return p;
}
const address = { host: server.host, port: server.port };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("reads come from the cache until another client writes; one round trip later the new value is read", async () => {
  await using pool = connectPool({ ...address, size: 1, clientCache: true });
  using writer = connect(server.host, server.port);
  writer.set("cache:k", "v1");
  writer.hset("cache:h", "a", "1");
  assert.equal(await pool.get("cache:k"), "v1");
  assert.deepEqual(await pool.hgetall("cache:h"), { a: "1" });
  for (let i = 0; i < 10; i++) assert.equal(await pool.get("cache:k"), "v1");
  const { entries, hits, misses } = pool.cacheStats!;
  assert.deepEqual({ entries, hits, misses }, { entries: 2, hits: 10, misses: 2 });
  writer.set("cache:k", "v2");
  writer.hset("cache:h", "b", "2");
  await pool.ping(); // one round trip on the connection that read: the invalidations came before its reply
  assert.equal(await pool.get("cache:k"), "v2");
  assert.deepEqual(await pool.hgetall("cache:h"), { a: "1", b: "2" });
  assert.equal(pool.cacheStats!.misses, 4);
});

test("FLUSHALL and a dropped connection empty the cache", async () => {
  await using pool = connectPool({ ...address, size: 2, clientCache: { maxEntries: 100 } });
  using admin = connect(server.host, server.port);
  admin.set("cache:a", "1");
  await pool.get("cache:a");
  await pool.send("STRLEN", "cache:a"); // after: of two reads of one key in flight only the first is cached
  assert.equal(pool.cacheStats!.entries, 2);
  admin.send("FLUSHALL");
  await Promise.all([pool.ping(), pool.ping()]);
  assert.equal(pool.cacheStats!.entries, 0);
  assert.equal(await pool.get("cache:a"), null);
  admin.set("cache:a", "2");
  await pool.ping();
  assert.equal(await pool.get("cache:a"), "2");
  assert.equal(pool.cacheStats!.entries, 1);
  admin.send("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes");
  for (let i = 0; i < 200 && pool.cacheStats!.entries > 0; i++) await sleep(5);
  assert.equal(pool.cacheStats!.entries, 0);
  assert.equal(await pool.get("cache:a"), "2");
});

test("with writers running, no read is older than an invalidation received, and the last write is seen", async () => {
  await using pool = connectPool({ ...address, size: 4, clientCache: true });
  await using writers = connectPool({ ...address, size: 2 });
  await writers.set("cache:n", 0);
  let running = true;
  const writing = (async () => {
    while (running) await Promise.all(Array.from({ length: 20 }, () => writers.incr("cache:n")));
  })();
  // Each reader's values never go back: a stale entry served after a newer one was read would.
  const readers = Array.from({ length: 8 }, async () => {
    let last = -1, reads = 0;
    const until = Date.now() + 1500;
    while (Date.now() < until) {
      const n = Number(await pool.get("cache:n"));
      assert.ok(n >= last, `read ${n} after ${last}`);
      last = n;
      reads++;
    }
    return reads;
  });
  const reads = (await Promise.all(readers)).reduce((a, b) => a + b, 0);
  running = false;
  await writing;
  const final = await writers.get("cache:n");
  await Promise.all(Array.from({ length: 8 }, () => pool.ping())); // a round trip on every connection
  assert.equal(await pool.get("cache:n"), final);
  const { hits, misses } = pool.cacheStats!;
  assert.ok(hits + misses >= reads && hits > 0 && misses > 1, JSON.stringify({ reads, hits, misses }));
});

test("clientCache needs RESP3: protocol: 2 beside it is a TypeError; bad bounds too", () => {
  assert.throws(() => connectPool({ ...address, protocol: 2, clientCache: true }), /clientCache needs protocol: 3/);
  assert.throws(() => connectPool({ ...address, clientCache: { maxEntrys: 5 } as never }), /did you mean maxEntries/);
  assert.throws(() => connectPool({ ...address, clientCache: { ttl: -1 } }), /clientCache.ttl/);
});

test("with keyPrefix, the cache is invalidated by writes to the prefixed key", async () => {
  await using pool = connectPool({ ...address, size: 1, keyPrefix: "app:", clientCache: true });
  using writer = connect(server.host, server.port);
  writer.set("app:cache:p", "1");
  assert.equal(await pool.get("cache:p"), "1");
  writer.set("app:cache:p", "2");
  await pool.ping();
  assert.equal(await pool.get("cache:p"), "2");
});

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
      // A pause now and then: on a busy machine a writer that never stops invalidates every read in flight, and no
      // read would come from the cache (0 hits in 4,500 reads, once, in a full test run).
      if (i % 10 === 0) await sleep(5);
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

test("the pool's own write (a call or a pipeline) is never followed by the old value from the cache, across its connections", async () => {
  const pool = cached({ size: 4 });
  const stale: string[] = [];
  for (let i = 0; i < 2000; i++) {
    await pool.get("cache:own");
    await pool.set("cache:own", String(i));
    // The server's invalidation comes on the connection that read, maybe after the SET's reply on another one.
    const read = await pool.get("cache:own");
    if (read !== String(i)) stale.push(`${i}: ${read}`);
    await pool.pipeline().set("cache:own", `p${i}`).execute();
    const piped = await pool.get("cache:own");
    if (piped !== `p${i}`) stale.push(`pipeline ${i}: ${piped}`);
  }
  assert.deepEqual(stale.slice(0, 3), []);
});
