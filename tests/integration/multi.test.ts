/**
 * Transactions as ioredis and node-redis users write them: `multi()`, typed methods, `exec()` returning the
 * commands' results alone; EXECABORT thrown, a WATCHed key's change answered null; on the client, the pool and an
 * acquired connection.
 */
import assert from "node:assert/strict";
import { afterAll, test } from "../harness/shim.ts";
import { startRedis } from "../harness/server.ts";
import { connect, connectPool, ReplyError } from "../../mod.ts";

const server = await startRedis();
const pool = connectPool({ host: server.host, port: server.port, size: 2, exclusiveConnections: 1 });
afterAll(async () => {
  await pool.close();
  await server[Symbol.asyncDispose]();
});

test("client: exec() returns the transaction's results, shaped and in order, errors in place", () => {
  using r = connect(server.host, server.port);
  r.del("tx:n", "tx:h", "tx:loop");
  r.set("tx:s", "text");
  r.hset("tx:h", "a", "1");
  assert.deepEqual(r.multi().incr("tx:n").get("tx:s").hgetall("tx:h").exec(), [1, "text", { a: "1" }]);
  const [n, wrong] = r.multi().incr("tx:n").incr("tx:s").exec() ?? [];
  assert.equal(n, 2);
  assert.ok(wrong instanceof ReplyError && wrong.code === "ERR", String(wrong));
  assert.deepEqual(r.multi().exec(), []);
  const raw = new Uint8Array([0xff, 0, 13, 10]);
  r.set("tx:raw", raw);
  assert.deepEqual(r.multi().getBuffer("tx:raw").get("tx:s").exec(), [raw, "text"]);
  assert.deepEqual(r.multi().get("tx:raw").get("tx:s").execBuffer(), [raw, new TextEncoder().encode("text")]);
  // A statement at a time (the variable keeps multi()'s type).
  const tx = r.multi();
  for (let i = 0; i < 3; i++) tx.incr("tx:loop");
  assert.deepEqual(tx.exec(), [1, 2, 3]);
});

test("client and pool: keyPrefix applies inside a transaction as in any pipeline", async () => {
  using r = connect({ host: server.host, port: server.port, keyPrefix: "kp:" }),
    plain = connect(server.host, server.port);
  assert.deepEqual(r.multi().set("a", "1").incr("a").get("a").exec(), ["OK", 2, "2"]);
  await using prefixed = connectPool({ host: server.host, port: server.port, keyPrefix: "kp:", size: 1 });
  assert.deepEqual(await prefixed.multi().incr("a").exec(), [3]);
  assert.equal(plain.get("kp:a"), "3");
  assert.equal(plain.get("a"), null);
});

test("client: a command refused as it is queued aborts the transaction: EXECABORT thrown, naming it, nothing ran", () => {
  using r = connect(server.host, server.port);
  r.set("tx:a", "0");
  let error: unknown = null;
  try {
    r.multi().incr("tx:a").addCommand("SET", "tx:only-key").exec();
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof ReplyError && error.code === "EXECABORT", String(error));
  assert.match(error.message, /wrong number of arguments for 'set'/);
  assert.ok(error.cause instanceof ReplyError && error.cause.code === "ERR");
  assert.equal(r.get("tx:a"), "0");
  // A refusal before MULTI is not the transaction's: EXECABORT names the one inside it.
  error = null;
  try {
    r.pipeline().addCommand("NOSUCH").addCommand("MULTI").incr("tx:a").addCommand("GET").exec();
  } catch (e) {
    error = e;
  }
  assert.ok(
    error instanceof ReplyError && /'get'/.test(error.message) && !/NOSUCH/i.test(error.message),
    String(error),
  );
  assert.equal(r.send("PING"), "PONG"); // the connection is out of the transaction
});

test("client: WATCH, then a change by another client: exec() answers null and nothing ran", () => {
  using r = connect(server.host, server.port), other = connect(server.host, server.port);
  r.set("tx:w", "1");
  r.watch("tx:w");
  other.set("tx:w", "changed");
  assert.equal(r.multi().set("tx:w", "mine").exec(), null);
  assert.equal(r.get("tx:w"), "changed");
  r.watch("tx:w");
  assert.deepEqual(r.multi().set("tx:w", "mine").exec(), ["OK"]);
  assert.equal(r.get("tx:w"), "mine");
});

test("client: exec() on a pipeline with no MULTI open is a TypeError, and nothing is sent", () => {
  using r = connect(server.host, server.port);
  r.del("tx:none");
  const p = r.pipeline().incr("tx:none");
  // @ts-expect-error: the types refuse it too (no MULTI open)
  assert.throws(() => p.exec(), TypeError);
  const closed = r.multi().incr("tx:none").addCommand("EXEC");
  // @ts-expect-error: EXEC closed the transaction
  assert.throws(() => closed.exec(), TypeError);
  assert.equal(r.get("tx:none"), null);
  assert.deepEqual(p.execute(), [1]); // the queue was kept
});

test("pool: exec() resolves with the results; WATCH on an acquired connection; EXECABORT and misuse reject", async () => {
  await pool.del("tp:n", "tp:c");
  await pool.set("tp:s", "text");
  assert.deepEqual(await pool.multi().incr("tp:n").get("tp:s").zscore("tp:none", "m").exec(), [1, "text", null]);
  assert.deepEqual(await pool.multi().get("tp:s").execBuffer(), [new TextEncoder().encode("text")]);
  // Transactions from many callers at once stay whole, each on one connection.
  const all = await Promise.all(Array.from({ length: 200 }, () => pool.multi().incr("tp:c").incr("tp:c").exec()));
  for (const results of all) {
    const [a, b] = results!;
    assert.equal(b, (a as number) + 1);
  }
  await assert.rejects(pool.multi().incr("tp:n").addCommand("SET", "tp:x").exec(), (e: unknown) => {
    return e instanceof ReplyError && e.code === "EXECABORT" && e.cause instanceof ReplyError;
  });
  // @ts-expect-error: no MULTI open
  await assert.rejects(pool.pipeline().incr("tp:n").exec(), TypeError);
  assert.equal(await pool.get("tp:n"), "1");
  {
    await using c = await pool.acquire();
    await c.watch("tp:n");
    await pool.incr("tp:n");
    assert.equal(await c.multi().incr("tp:n").exec(), null);
    await c.watch("tp:n");
    assert.deepEqual(await c.multi().incr("tp:n").exec(), [3]);
  }
  // WATCH inside the transaction is refused before anything is sent (the server would refuse it too).
  assert.throws(() => pool.multi().addCommand("WATCH", "tp:n"), /WATCH inside MULTI/);
});
