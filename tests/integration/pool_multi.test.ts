/** MULTI … EXEC in pool pipelines: typed methods' results shaped in EXEC's array, as on the client. */
import assert from "node:assert/strict";
import { afterAll, test } from "../harness/shim.ts";
import { startRedis } from "../harness/server.ts";
import { connectPool, ReplyError } from "../../mod.ts";

const server = await startRedis();
const pool = connectPool({ host: server.host, port: server.port, size: 2, exclusiveConnections: 1 });
afterAll(async () => {
  await pool.close();
  await server[Symbol.asyncDispose]();
});

test("pool: typed methods inside MULTI answer QUEUED; EXEC's array holds their shaped results", async () => {
  await pool.hset("qm:h", "a", "1");
  await pool.zadd("qm:z", 2.5, "m");
  await pool.set("qm:s", "text");
  const tx = await pool.pipeline().addCommand("MULTI").hgetall("qm:h").incr("qm:n").addCommand("EXEC").execute();
  assert.deepEqual(tx, ["OK", "QUEUED", "QUEUED", [{ a: "1" }, 1]]);
  const [, , , exec] = await pool.pipeline().addCommand("MULTI").zscore("qm:z", "m").incr("qm:s").addCommand("EXEC")
    .execute();
  assert.ok(Array.isArray(exec));
  assert.equal(exec[0], 2.5);
  assert.ok(exec[1] instanceof ReplyError);
  const raw = new Uint8Array([0xff, 0, 13, 10]);
  await pool.set("qm:raw", raw);
  const mixed = await pool.pipeline().addCommand("MULTI").getBuffer("qm:raw").hgetall("qm:h").addCommand("EXEC")
    .execute();
  assert.deepEqual(mixed[3], [raw, { a: "1" }]);
});

test("pool: EXECABORT, DISCARD and a WATCH that aborts leave the transaction's replies raw", async () => {
  const aborted = await pool.pipeline().addCommand("MULTI").hgetall("qa:h").addCommand("SET", "qa:k").addCommand("EXEC")
    .execute();
  assert.deepEqual(aborted.slice(0, 2), ["OK", "QUEUED"]);
  assert.ok(aborted[3] instanceof ReplyError && aborted[3].code === "EXECABORT");
  const discarded = await pool.pipeline().addCommand("MULTI").incr("qa:n").addCommand("DISCARD").hgetall("qa:h")
    .execute();
  assert.deepEqual(discarded, ["OK", "QUEUED", "OK", {}]);
  await using c = await pool.acquire();
  await c.send("WATCH", "qa:w");
  await pool.set("qa:w", "changed");
  const watched = await c.pipeline().addCommand("MULTI").hgetall("qa:h").addCommand("EXEC").execute();
  assert.deepEqual(watched, ["OK", "QUEUED", null]);
  const ok = await c.pipeline().addCommand("MULTI").hgetall("qa:h").addCommand("EXEC").execute();
  assert.deepEqual(ok, ["OK", "QUEUED", [{}]]);
});
