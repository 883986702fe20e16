/** The client-side cache's own rules, without a server: what is cached, what an invalidation does, the bounds. */
import assert from "node:assert/strict";
import { test } from "../harness/shim.ts";
import { ClientCache } from "../../src/client_cache.ts";
import type { Reply } from "../../src/types.ts";

const settings = { maxEntries: 100, maxBytes: 1 << 20, ttl: 0 };

/** A fetch whose reply the test gives later. */
function deferred(): { fetch: <T>(fill: (r: Reply) => T) => Promise<T>; answer(reply: Reply): void } {
  let answer: (reply: Reply) => void = () => {};
  return {
    fetch: <T>(fill: (r: Reply) => T) => new Promise<T>((resolve) => (answer = (reply) => resolve(fill(reply)))),
    answer: (reply) => answer(reply),
  };
}

async function readThrough(cache: ClientCache, command: string, args: string[], reply: Reply): Promise<unknown> {
  const d = deferred();
  const got = cache.read(command, args, null, false, d.fetch) ?? assert.fail("not cacheable");
  d.answer(reply);
  return await got;
}

test("a read is cached per command and arguments, and served from the cache after", async () => {
  const cache = new ClientCache(settings);
  assert.equal(await readThrough(cache, "GET", ["k"], "v"), "v");
  assert.equal(await cache.read("GET", ["k"], null, false, () => assert.fail("sent")), "v");
  assert.equal(await cache.read("get", ["k"], (r) => `${r}!`, false, () => assert.fail("sent")), "v!");
  assert.equal(cache.read("HGET", ["k", "f"], null, false, () => Promise.resolve("x")) !== undefined, true);
  assert.equal(cache.read("SET", ["k", "v"], null, false, () => Promise.resolve("OK")), undefined); // a write
  assert.equal(cache.read("GET", [new Uint8Array([1])], null, false, () => Promise.resolve(null)), undefined);
  assert.deepEqual([cache.stats.hits, cache.stats.misses], [2, 2]);
});

test("argument lists that would join to the same text are different entries", async () => {
  const cache = new ClientCache(settings);
  await readThrough(cache, "HGET", ["a\u0000b", "c"], "1");
  assert.equal(await readThrough(cache, "HGET", ["a", "b\u0000c"], "2"), "2");
});

test("an invalidation forgets the key's entries, and a read in flight meanwhile is not cached", async () => {
  const cache = new ClientCache(settings);
  await readThrough(cache, "HGET", ["h", "a"], "1");
  await readThrough(cache, "HGET", ["h", "b"], "2");
  assert.equal(cache.push(["invalidate", ["h"]]), true);
  assert.equal(cache.stats.entries, 0);
  const d = deferred();
  const got = cache.read("GET", ["k"], null, false, d.fetch)!;
  cache.push(["invalidate", ["k"]]); // the write came after the read was sent: its reply may be the old value
  d.answer("old");
  assert.equal(await got, "old");
  assert.equal(cache.stats.entries, 0);
  assert.equal(cache.push(["message", "ch", "x"]), false); // not ours
});

test("an invalidation with no keys (FLUSHALL) and flush() forget everything, reads in flight too", async () => {
  const cache = new ClientCache(settings);
  await readThrough(cache, "GET", ["a"], "1");
  const d = deferred();
  const got = cache.read("GET", ["b"], null, false, d.fetch)!;
  cache.push(["invalidate", null]);
  d.answer("2");
  await got;
  assert.equal(cache.stats.entries, 0);
});

test("bounds: the least recently used entry goes first; ttl stops serving old entries", async () => {
  const cache = new ClientCache({ maxEntries: 2, maxBytes: 10, ttl: 0 });
  await readThrough(cache, "GET", ["a"], "1");
  await readThrough(cache, "GET", ["b"], "2");
  await cache.read("GET", ["a"], null, false, () => assert.fail("sent")); // a is now the most recently used
  await readThrough(cache, "GET", ["c"], "3");
  assert.equal(cache.stats.entries, 2);
  assert.equal(cache.read("GET", ["a"], null, false, () => assert.fail("sent")) !== undefined, true);
  await readThrough(cache, "GET", ["big"], "x".repeat(11)); // larger than maxBytes: not kept
  assert.equal(cache.stats.entries, 2);
  await readThrough(cache, "GET", ["d"], "x".repeat(10)); // fits only alone
  assert.equal(cache.stats.entries, 1);

  const aging = new ClientCache({ maxEntries: 10, maxBytes: 100, ttl: 30 });
  await readThrough(aging, "GET", ["a"], "1");
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(await readThrough(aging, "GET", ["a"], "2"), "2");
});

test("a cached byte string is the caller's own copy", async () => {
  const cache = new ClientCache(settings);
  const d = deferred();
  const first = cache.read("GET", ["k"], null, true, d.fetch)!;
  d.answer(new Uint8Array([1, 2, 3]));
  (await first as Uint8Array)[0] = 9;
  assert.deepEqual(await cache.read("GET", ["k"], null, true, () => assert.fail("sent")), new Uint8Array([1, 2, 3]));
});

test("of two reads of a key in flight, only the first reply is cached (the second may be older)", async () => {
  const cache = new ClientCache(settings);
  const first = deferred(), second = deferred();
  const a = cache.read("GET", ["k"], null, false, first.fetch)!;
  const b = cache.read("GET", ["k"], null, false, second.fetch)!;
  second.answer("15"); // sent second, executed on another connection after the writes
  first.answer("12");
  assert.deepEqual([await a, await b], ["12", "15"]);
  assert.equal(await cache.read("GET", ["k"], null, false, () => assert.fail("sent")), "15");
});
