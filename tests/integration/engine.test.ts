/**
 * What the connection engine guarantees, tried as a user would, each a bug
 * of the engine before it: state replayed after a reconnect (HELLO 3), leases
 * that keep the commands issued on them, a pool closed during a blocking
 * command, a bounded wait for an exclusive connection.
 */
import assert from "node:assert/strict";
import { afterAll, test } from "../harness/shim.ts";
import { startRedis } from "../harness/server.ts";
import { ClosedError, connect, connectPool, type PoolOptions, TimeoutError } from "../../mod.ts";
import { clientSettings, poolSettings } from "../../src/options.ts";
import { PoolCore } from "../../src/pool_core.ts";
import { encodeConnectionSettings } from "../../src/settings.ts";

const server = await startRedis();
afterAll(() => server[Symbol.asyncDispose]());

let n = 0;
const key = () => `engine:${n++}`;
const pool = (options: PoolOptions = {}) => connectPool({ host: server.host, port: server.port, ...options });
const protocolOf = (info: unknown) => String(info).match(/resp=(\d)/)?.[1];

test("protocol: 3 on the client is replayed after CLIENT KILL", () => {
  const r = connect(server.host, server.port, { protocol: 3, name: "resp3-sync" });
  assert.equal(protocolOf(r.send("CLIENT", "INFO")), "3");
  assert.ok(r.hgetall(key()) !== null);
  server.cli("CLIENT", "KILL", "TYPE", "normal");
  try {
    r.ping(); // sent on the dead connection, or on a new one
  } catch {
    // the call that saw the drop
  }
  const info = String(r.send("CLIENT", "INFO"));
  assert.equal(protocolOf(info), "3");
  assert.match(info, /name=resp3-sync/);
  r.close();
});

test("protocol: 3 on the pool is replayed after CLIENT KILL on every connection", async () => {
  const p = pool({ protocol: 3, size: 2, name: "resp3-pool" });
  const k = key();
  await p.hset(k, "f", "v");
  assert.ok((await p.send("HGETALL", k)) instanceof Map);
  server.cli("CLIENT", "KILL", "TYPE", "normal");
  for (let i = 0; i < 50; i++) {
    try {
      await p.ping();
      if (p.connected === 2) break;
    } catch {
      // rejected: it was on a killed connection
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const infos = await Promise.all([p.send("CLIENT", "INFO"), p.send("CLIENT", "INFO"), p.send("CLIENT", "INFO")]);
  for (const info of infos) assert.equal(protocolOf(info), "3");
  assert.ok((await p.send("HGETALL", k)) instanceof Map);
  await p.close();
});

test("the pool refuses HELLO and names the option that does it", async () => {
  const p = pool({ size: 1 });
  await assert.rejects(p.send("HELLO", "3"), /protocol: 3/);
  await p.close();
});

test("release() of an acquired connection keeps the commands already issued on it", async () => {
  const p = pool({ size: 1, exclusiveConnections: 1 });
  const k = key();
  const issued = async () => {
    await using c = await p.acquire();
    return c.pipeline().set(k, "v").incr(`${k}:n`).get(k).execute();
  };
  assert.deepEqual(await issued(), ["OK", 1, "v"]);
  const c = await p.acquire();
  const pending = c.send("BLPOP", `${k}:list`, "0.1");
  c.release();
  assert.equal(await pending, null); // answered after the release, not rejected by it
  const again = await p.acquire(); // the connection came back
  assert.equal(await again.ping(), "PONG");
  again.release();
  await p.close();
});

test("close() during a BLPOP rejects it with ClosedError saying the pool was closed", async () => {
  const p = pool({ size: 1 });
  const blocked = p.send("BLPOP", `${key()}:never`, "0");
  await p.ping();
  await new Promise((r) => setTimeout(r, 20));
  const started = Date.now();
  await p.close();
  await assert.rejects(blocked, (e: unknown) => {
    assert.ok(e instanceof ClosedError);
    assert.match(e.message, /pool\b.*\bclosed/);
    assert.doesNotMatch(e.message, /released/);
    return true;
  });
  assert.ok(Date.now() - started < 4000);
});

test("waiting for an exclusive connection is bounded by acquireTimeout, and says why", async () => {
  const p = pool({ size: 2, exclusiveConnections: 2, acquireTimeout: 200 });
  const k = key();
  const busy = [p.send("BLPOP", `${k}:a`, "1"), p.send("BLPOP", `${k}:b`, "1")];
  const started = Date.now();
  await assert.rejects(p.send("BLPOP", `${k}:c`, "1"), (e: unknown) => {
    assert.ok(e instanceof TimeoutError);
    assert.match(e.message, /exclusive connections/);
    assert.match(e.message, /exclusiveConnections|acquireTimeout/);
    return true;
  });
  const waited = Date.now() - started;
  assert.ok(waited >= 150 && waited < 900, `waited ${waited} ms`);
  await assert.rejects(p.acquire(), TimeoutError);
  assert.deepEqual(await Promise.all(busy), [null, null]);
  // Free again: a third blocking command gets a connection.
  assert.equal(await p.send("BLPOP", `${k}:c`, "0.05"), null);
  await p.close();
});

test("one pool thread drives connections to different servers, added and removed while it runs", async () => {
  await using second = await startRedis();
  const core = new PoolCore(poolSettings({ host: server.host, port: server.port, size: 1, exclusiveConnections: 0 }));
  const k = key();
  const elsewhere = core.addConnection(encodeConnectionSettings(clientSettings(second.host, second.port)));
  assert.ok(elsewhere >= 1);
  assert.equal(await core.call(elsewhere, "SET", [k, "on the second"], null, false), "OK");
  assert.equal(await core.call(-1, "GET", [k], null, false), null); // -1: the pool's own server
  assert.equal(second.cli("GET", k), "on the second");
  const blocked = core.call(elsewhere, "BLPOP", [`${k}:list`, "0"], null, false);
  const behind = core.call(elsewhere, "PING", [], null, false); // waits behind the BLPOP
  await new Promise((r) => setTimeout(r, 50)); // both sent
  core.removeConnection(elsewhere);
  await assert.rejects(blocked, ClosedError);
  await assert.rejects(behind, ClosedError);
  assert.equal(await core.call(-1, "PING", [], null, false), "PONG"); // the others keep serving
  await core.close();
});

test("UNSUBSCRIBE with two channels (two replies) is refused, not left to shift replies", async () => {
  const r = connect(server.host, server.port);
  assert.throws(() => r.send("UNSUBSCRIBE", "a", "b"), /UNSUBSCRIBE/);
  assert.throws(() => r.pipeline().addCommand("punsubscribe", "p", "q"), /PUNSUBSCRIBE/);
  assert.equal(r.ping(), "PONG"); // nothing was sent: the connection is as it was
  r.close();
  const p = pool({ size: 1 });
  await assert.rejects(p.send("SUNSUBSCRIBE", "a", "b"), /SUNSUBSCRIBE/);
  assert.equal(await p.ping(), "PONG");
  await p.close();
});

test("typed methods between MULTI and EXEC sent by name return QUEUED as it is (client and acquired connection)", async () => {
  const k = key();
  const r = connect(server.host, server.port);
  r.hset(k, "f", "v");
  assert.equal(r.send("MULTI"), "OK");
  assert.equal(r.hgetall(k) as unknown, "QUEUED"); // not {"Q":"U","E":"D"}
  assert.equal(r.incr(`${k}:n`) as unknown, "QUEUED");
  assert.deepEqual(r.send("EXEC"), [["f", "v"], 1]);
  assert.deepEqual(r.hgetall(k), { f: "v" }); // shaped again after EXEC
  r.close();

  const p = pool({ size: 1, exclusiveConnections: 1 });
  const c = await p.acquire();
  await c.send("MULTI");
  assert.equal(await c.hgetall(k) as unknown, "QUEUED");
  assert.deepEqual(await c.send("EXEC"), [["f", "v"]]);
  assert.deepEqual(await c.hgetall(k), { f: "v" });
  c.release();
  await p.close();
});
