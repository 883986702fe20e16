/**
 * The generated methods (src/command_methods.ts) against a real server: they send their command (subcommands
 * included) and return the reply as `send` would, `*Buffer` variants as bytes, on the client, pipelines, the pool
 * and acquired connections; commands that block or change a connection are routed as `send` routes them.
 */
import assert from "node:assert/strict";
import { afterAll, test } from "../harness/shim.ts";
import { startRedis } from "../harness/server.ts";
import { connect, connectPool, CpipeError } from "../../mod.ts";
import { COMMAND_METHODS } from "../../src/command_lists.ts";

const server = await startRedis();
afterAll(() => server[Symbol.asyncDispose]());

test("the client: generated methods send their command and subcommand; Buffer variants return bytes", () => {
  const r = connect(server.host, server.port);
  try {
    assert.equal(r.append("gen:s", "héllo"), 6);
    assert.equal(r.strlen("gen:s"), 6);
    assert.equal(r.getrange("gen:s", 0, 1), "h\ufffd", "a cut through UTF-8, decoded as text");
    assert.deepEqual(r.getrangeBuffer("gen:s", 0, 1), new Uint8Array([0x68, 0xc3]));
    assert.equal(r.clientId(), r.send("CLIENT", "ID"));
    r.clientSetname("gen-client");
    assert.equal(r.clientGetname(), "gen-client");
    assert.deepEqual(r.configGet("maxmemory-policy"), r.send("CONFIG", "GET", "maxmemory-policy"));
    assert.equal(r.zincrby("gen:z", 2.5, "m"), "2.5", "a double under RESP2 is its text (Double)");
    assert.equal(r.hsetnx("gen:h", "f", "1"), 1);
    assert.equal(r.publish("gen:channel", "message"), 0);
    assert.throws(() => r.lindex("gen:s", 0), /WRONGTYPE/, "an error reply is thrown as from send");
    const [n, bytes] = r.pipeline().strlen("gen:s").getrangeBuffer("gen:s", 0, 0).execute();
    assert.equal(n, 6);
    assert.deepEqual(bytes, new Uint8Array([0x68]));
  } finally {
    r.close();
  }
});

test("RESP3: the same methods return RESP3's shapes (doubles as numbers, maps as Map)", () => {
  const r = connect({ host: server.host, port: server.port, protocol: 3 });
  try {
    assert.equal(r.zincrby("gen:z3", 2.5, "m"), 2.5);
    assert.ok(r.configGet("maxmemory-policy") instanceof Map);
  } finally {
    r.close();
  }
});

test("the pool: blocking methods run on a connection of their own, state changers are refused on shared ones", async () => {
  const pool = connectPool({ host: server.host, port: server.port, size: 1 });
  try {
    const waiting = pool.blpop("gen:list", 5);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(await pool.rpush("gen:list", "x"), 1, "the shared connection is not held by BLPOP");
    assert.deepEqual(await waiting, ["gen:list", "x"]);
    await assert.rejects(pool.select(1), (e: unknown) => e instanceof CpipeError && /SELECT/.test(e.message));
    await assert.rejects(pool.clientSetname("x"), CpipeError);
    assert.throws(() => pool.pipeline().select(1), CpipeError, "a pool pipeline checks them as addCommand does");
    {
      await using c = await pool.acquire();
      assert.equal(await c.select(2), "OK");
      assert.equal(await c.set("gen:db2", "here"), "OK");
    }
    assert.equal(await pool.get("gen:db2"), null, "the connection that SELECTed 2 was not handed back");
    assert.equal(await pool.strlen("gen:s"), 6);
  } finally {
    await pool.close();
  }
});

test("every generated method exists on every executor and none shadows a hand-written one", async () => {
  const r = connect(server.host, server.port);
  const pool = connectPool({ host: server.host, port: server.port, size: 1 });
  try {
    const entries = COMMAND_METHODS.split(";").map((e) => e.split(" "));
    assert.ok(entries.length > 300);
    for (const [name, , , flags] of entries) {
      const names = [...(flags!.includes("h") ? [] : [name!]), ...(flags!.includes("b") ? [`${name}Buffer`] : [])];
      for (const method of names) {
        for (const target of [r, pool, r.pipeline(), pool.pipeline()]) {
          assert.equal(typeof (target as unknown as Record<string, unknown>)[method], "function", method);
        }
      }
    }
    // The hand-written methods keep their shaping.
    r.hset("gen:obj", { a: "1" });
    assert.deepEqual(r.hgetall("gen:obj"), { a: "1" });
    assert.deepEqual(await pool.hgetall("gen:obj"), { a: "1" });
  } finally {
    r.close();
    await pool.close();
  }
});
