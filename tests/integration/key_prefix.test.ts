/**
 * The `keyPrefix` option against a real server: every path (typed methods, generated ones, send, pipelines,
 * scripts, blocking commands on the pool) prefixes exactly the key positions of the command table, and what
 * ioredis leaves alone (KEYS and SCAN patterns, keys in replies) stays as given. A second client without the
 * prefix looks at what was really stored.
 */
import assert from "node:assert/strict";
import { afterAll, test } from "../harness/shim.ts";
import { startRedis } from "../harness/server.ts";
import { type Arg, connect, connectPool, defineScript } from "../../mod.ts";

const server = await startRedis();
const raw = connect(server.host, server.port);
afterAll(async () => {
  raw.close();
  await server[Symbol.asyncDispose]();
});

const keys = (): string[] => raw.send<string[]>("KEYS", "*").sort();
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

test("the client: typed, generated and send commands, pipelines and scripts prefix their keys only", () => {
  raw.send("FLUSHALL");
  const r = connect({ host: server.host, port: server.port, keyPrefix: "app:" });
  try {
    r.set("a", "1");
    assert.equal(r.get("a"), "1");
    assert.equal(raw.get("app:a"), "1");
    r.send("MSET", "b", "value-b", "c", "value-c"); // values at odd positions stay as they are
    assert.deepEqual(raw.mget("app:b", "app:c"), ["value-b", "value-c"]);
    r.hset("h", { field: "a" }); // a field named like a key is not a key
    assert.deepEqual(raw.hgetall("app:h"), { field: "a" });
    assert.equal(r.append(bytes("bin"), "x"), 1, "a generated method; a key given as bytes");
    assert.equal(raw.get("app:bin"), "x");
    r.lmove("list-missing", "dest", "LEFT", "RIGHT"); // two keys in one command
    const args: Arg[] = ["d", "1"];
    r.send("SET", ...args);
    assert.deepEqual(args, ["d", "1"], "the caller's arguments are not changed");
    const [ok, value] = r.pipeline().set("p", "1").get("p").execute();
    assert.deepEqual([ok, value], ["OK", "1"]);
    r.addCommand("SET", "q", "1").execute();
    r.send("EVAL", "return redis.call('SET', KEYS[1], ARGV[1])", 1, "e", "k-not-prefixed");
    const incr = defineScript("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    assert.equal(incr(r, ["counter"], ["5"]), 5);
    assert.equal(raw.get("app:counter"), "5");
    assert.equal(raw.get("app:e"), "k-not-prefixed");
    r.xadd("s", { f: "v" });
    assert.equal(r.xread({ s: "0" })?.[0]?.stream, "app:s", "keys in replies keep the prefix (as ioredis)");
    assert.deepEqual(keys(), [
      "app:a",
      "app:b",
      "app:bin",
      "app:c",
      "app:counter",
      "app:d",
      "app:e",
      "app:h",
      "app:p",
      "app:q",
      "app:s",
    ]);
    // Patterns are not keys: KEYS and SCAN's MATCH go as given (ioredis does the same).
    assert.equal(r.keys("b*").length, 0);
    assert.equal(r.keys("app:a*").length, 1);
    assert.equal([...r.scanIterator({ match: "app:c*" })].length, 2);
    assert.equal([...r.hscanIterator("h")].length, 1, "HSCAN's key is a key");
    assert.equal(r.send("PING", "a"), "a", "a command without keys is untouched");
  } finally {
    r.close();
  }
});

test("the pool: typed, send, pipelines, acquired connections and blocking commands prefix their keys", async () => {
  raw.send("FLUSHALL");
  const pool = connectPool({ host: server.host, port: server.port, keyPrefix: "p:", size: 2 });
  try {
    await pool.set("a", "1");
    await pool.send("SET", "b", "2");
    await pool.pipeline().set("c", "3").addCommand("SET", "d", "4").execute();
    await pool.strlen("a");
    {
      await using c = await pool.acquire();
      await c.set("e", "5");
      await c.send("RPUSH", "list", "x");
    }
    assert.deepEqual(await pool.blpop("list", 1), ["p:list", "x"], "BLPOP on an exclusive connection");
    const waiting = pool.xread({ s: "$" }, { block: 5000 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await pool.xadd("s", { f: "v" });
    assert.equal((await waiting)?.[0]?.stream, "p:s");
    const incr = defineScript("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    assert.equal(await incr(pool, ["n"], ["2"]), 2);
    assert.deepEqual(keys(), ["p:a", "p:b", "p:c", "p:d", "p:e", "p:n", "p:s"]);
  } finally {
    await pool.close();
  }
});

test("keyPrefix must be a string", () => {
  assert.throws(() => connect({ host: server.host, port: server.port, keyPrefix: 1 as unknown as string }), TypeError);
});

test("a key the prefix cannot join (undefined, null, an object, NaN) is refused with a TypeError, never sent", async () => {
  raw.send("FLUSHALL");
  using r = connect({ host: server.host, port: server.port, keyPrefix: "app:" });
  await using pool = connectPool({ host: server.host, port: server.port, keyPrefix: "app:" });
  const loose = (target: object, method: string, ...args: unknown[]): unknown =>
    (target as Record<string, (...a: unknown[]) => unknown>)[method]!(...args);
  for (const bad of [undefined, null, {}, NaN]) {
    assert.throws(() => loose(r, "set", bad, "v"), /argument 1 of SET must be|argument 1 of SET is NaN/);
    assert.throws(() => loose(r.pipeline(), "get", bad), TypeError);
    await assert.rejects(loose(pool, "set", bad, "v") as Promise<unknown>, TypeError);
    await assert.rejects(loose(pool, "get", bad) as Promise<unknown>, TypeError);
    await assert.rejects(pool.send("DEL", bad as never), TypeError);
  }
  assert.deepEqual(keys(), [], "before the fix: app:undefined, app:null, app:[object Object], app:NaN");
  assert.equal(await pool.set(7, "v"), "OK"); // numbers are keys as the encoder writes them
  assert.deepEqual(keys(), ["app:7"]);
});
