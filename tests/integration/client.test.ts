/** The synchronous client against a real redis-server: replies, typed commands, errors, options. */
import assert from "node:assert/strict";
import { afterAll, test } from "../harness/shim.ts";
import { freePort, startRedis } from "../harness/server.ts";
import {
  type Client,
  ClosedError,
  connect,
  ConnectionError,
  connectPool,
  CpipeError,
  ReplyError,
  TimeoutError,
} from "../../mod.ts";
import { VERSION } from "../../src/version.ts";

const server = await startRedis();
afterAll(() => server[Symbol.asyncDispose]());

let n = 0;
/** A connected client and a fresh key prefix, so tests do not see each other's keys. */
function fresh(): [Client, string] {
  return [connect(server.host, server.port), `t${n++}:`];
}

test("status, integer, bulk, nil and array replies", () => {
  const [r, k] = fresh();
  assert.equal(r.send("SET", `${k}s`, "v"), "OK");
  assert.equal(r.send("PING"), "PONG");
  assert.equal(r.send("INCR", `${k}n`), 1);
  assert.equal(r.send("GET", `${k}s`), "v");
  assert.equal(r.send("GET", `${k}missing`), null);
  assert.deepEqual(r.send("MGET", `${k}s`, `${k}missing`), ["v", null]);
  assert.deepEqual(r.send("LRANGE", `${k}nolist`, 0, -1), []);
  assert.equal(r.send("BLPOP", `${k}nolist`, "0.01"), null); // nil array
  assert.equal(r.send("GET", `${k}empty`), null);
  r.set(`${k}empty`, "");
  assert.equal(r.get(`${k}empty`), "");
  r.close();
});

test("nested arrays and errors inside arrays", () => {
  const [r] = fresh();
  assert.deepEqual(r.send("EVAL", "return {1, {2, {3, 'x'}}, 'y', {}}", 0), [1, [2, [3, "x"]], "y", []]);
  const reply = r.send("EVAL", "return {1, redis.error_reply('ERR inner'), 3}", 0) as unknown[];
  assert.equal(reply[0], 1);
  assert.ok(reply[1] instanceof ReplyError);
  assert.equal((reply[1] as ReplyError).message, "ERR inner");
  assert.equal(reply[2], 3);
  r.close();
});

test("integers beyond 2^53 come back exact, as bigint", () => {
  const [r, k] = fresh();
  r.set(`${k}big`, "9007199254740993");
  assert.equal(r.send("INCRBY", `${k}big`, 0), 9007199254740993n);
  assert.equal(r.send("INCRBY", `${k}big`, -9007199254740993n), 0);
  assert.equal(r.send("DECRBY", `${k}big`, "9223372036854775807"), -9223372036854775807n);
  r.close();
});

test("RESP3 replies after HELLO 3: maps, doubles, booleans, sets", () => {
  const [r, k] = fresh();
  const hello = r.send("HELLO", "3") as Map<string, unknown>;
  assert.ok(hello instanceof Map);
  assert.equal(hello.get("proto"), 3);
  r.hset(`${k}h`, { a: "1", b: "2" });
  assert.deepEqual(r.hgetall(`${k}h`), { a: "1", b: "2" });
  r.zadd(`${k}z`, 1.5, "m");
  assert.equal(r.send("ZSCORE", `${k}z`, "m"), 1.5);
  assert.equal(r.zscore(`${k}z`, "m"), 1.5);
  assert.deepEqual(r.zrangeWithScores(`${k}z`, 0, -1), [{ member: "m", score: 1.5 }]);
  assert.equal(r.send("EVAL", "redis.setresp(3); return true", 0), true);
  r.sadd(`${k}s`, "x");
  assert.deepEqual(r.send("SMEMBERS", `${k}s`), ["x"]);
  r.close();
});

test("typed string and key commands", () => {
  const [r, k] = fresh();
  assert.equal(r.set(`${k}a`, "1"), "OK");
  assert.equal(r.set(`${k}a`, "2", { nx: true }), null);
  assert.equal(r.set(`${k}a`, "3", { xx: true, get: true }), "1");
  assert.equal(r.get(`${k}a`), "3");
  assert.equal(r.set(`${k}e`, "x", { ex: 100 }), "OK");
  assert.ok(r.ttl(`${k}e`) > 90);
  assert.equal(r.set(`${k}p`, "x", { px: 100_000 }), "OK");
  assert.equal(r.ttl(`${k}a`), -1);
  assert.equal(r.ttl(`${k}none`), -2);
  assert.equal(r.expire(`${k}a`, 50), 1);
  assert.equal(r.expire(`${k}a`, 10, "GT"), 0);
  assert.equal(r.exists(`${k}a`, `${k}e`, `${k}none`), 2);
  assert.equal(r.incr(`${k}n`), 1);
  assert.equal(r.incrby(`${k}n`, 10), 11);
  assert.equal(r.decr(`${k}n`), 10);
  assert.equal(r.mset({ [`${k}m1`]: "x", [`${k}m2`]: 2 }), "OK");
  assert.equal(r.mset(`${k}m3`, "z", `${k}m4`, "w"), "OK");
  assert.deepEqual(r.mget(`${k}m1`, `${k}m2`, `${k}m3`, `${k}none`), ["x", "2", "z", null]);
  assert.equal(r.del(`${k}m1`, `${k}m2`, `${k}none`), 2);
  assert.equal(r.ping(), "PONG");
  assert.equal(r.ping("echo"), "echo");
  r.close();
});

test("typed hash, list, set and sorted-set commands", () => {
  const [r, k] = fresh();
  assert.equal(r.hset(`${k}h`, "f1", "v1"), 1);
  assert.equal(r.hset(`${k}h`, "f2", "v2", "f3", "v3"), 2);
  assert.equal(r.hset(`${k}h`, new Map([["f4", 4]])), 1);
  assert.equal(r.hget(`${k}h`, "f1"), "v1");
  assert.equal(r.hget(`${k}h`, "none"), null);
  assert.deepEqual(r.hgetall(`${k}h`), { f1: "v1", f2: "v2", f3: "v3", f4: "4" });
  assert.deepEqual(r.hgetall(`${k}none`), {});
  assert.equal(r.hlen(`${k}h`), 4);
  assert.equal(r.hdel(`${k}h`, "f1", "f2", "none"), 2);
  assert.equal(r.hincrby(`${k}h`, "f4", 6), 10);

  assert.equal(r.rpush(`${k}l`, "b", "c"), 2);
  assert.equal(r.lpush(`${k}l`, "a"), 3);
  assert.deepEqual(r.lrange(`${k}l`, 0, -1), ["a", "b", "c"]);
  assert.equal(r.llen(`${k}l`), 3);
  assert.equal(r.lpop(`${k}l`), "a");
  assert.equal(r.rpop(`${k}l`), "c");
  assert.deepEqual(r.lpop(`${k}l`, 5), ["b"]);
  assert.equal(r.lpop(`${k}l`), null);
  assert.equal(r.rpop(`${k}l`, 2), null);

  assert.equal(r.sadd(`${k}s`, "x", "y", "x"), 2);
  assert.equal(r.srem(`${k}s`, "y", "none"), 1);
  assert.deepEqual(r.smembers(`${k}s`), ["x"]);
  assert.equal(r.scard(`${k}s`), 1);

  assert.equal(r.zadd(`${k}z`, 2, "two", 1, "one", "+inf", "top"), 3);
  assert.deepEqual(r.zrange(`${k}z`, 0, -1), ["one", "two", "top"]);
  assert.deepEqual(r.zrange(`${k}z`, 0, 0, { rev: true }), ["top"]);
  assert.deepEqual(r.zrange(`${k}z`, "(1", "2", { by: "score" }), ["two"]);
  assert.deepEqual(r.zrange(`${k}z`, "-inf", "+inf", { by: "score", limit: { offset: 1, count: 1 } }), ["two"]);
  assert.deepEqual(r.zrangeWithScores(`${k}z`, 0, -1), [
    { member: "one", score: 1 },
    { member: "two", score: 2 },
    { member: "top", score: Infinity },
  ]);
  assert.equal(r.zscore(`${k}z`, "two"), 2);
  assert.equal(r.zscore(`${k}z`, "top"), Infinity);
  assert.equal(r.zscore(`${k}z`, "none"), null);
  r.close();
});

test("unicode keys and values round-trip", () => {
  const [r, k] = fresh();
  const values = ["héllo", "日本語のテキスト", "emoji 😀👍🏽", "ü".repeat(10_000), "mixed ascii and ✓"];
  for (const [i, v] of values.entries()) {
    r.set(`${k}ключ${i}`, v);
    assert.equal(r.get(`${k}ключ${i}`), v);
  }
  r.hset(`${k}h`, "поле", "значение");
  assert.deepEqual(r.hgetall(`${k}h`), { "поле": "значение" });
  r.close();
});

test("binary values round-trip: NUL, CRLF, invalid UTF-8", () => {
  const [r, k] = fresh();
  const all = new Uint8Array(256).map((_, i) => i);
  const tricky = new Uint8Array([0, 13, 10, 0, 0xff, 0xfe, 0xc3, 0x28, 13, 10, 36, 45, 42]);
  r.set(`${k}all`, all);
  r.set(`${k}tricky`, tricky);
  assert.deepEqual(r.getBuffer(`${k}all`), all);
  assert.deepEqual(r.getBuffer(`${k}tricky`), tricky);
  assert.deepEqual(r.sendBuffer("GET", `${k}tricky`), tricky);
  assert.equal(r.getBuffer(`${k}none`), null);
  r.hset(`${k}h`, tricky, tricky);
  assert.deepEqual(r.hgetBuffer(`${k}h`, tricky), tricky);
  assert.deepEqual(r.sendBuffer("HGETALL", `${k}h`), [tricky, tricky]);
  assert.equal(r.get(`${k}tricky`), new TextDecoder().decode(tricky)); // as text: lossy by design
  assert.equal(r.send("STRLEN", `${k}tricky`), tricky.length);
  r.close();
});

test("a 64 MB value round-trips as bytes and as text", () => {
  const [r, k] = fresh();
  const bytes = new Uint8Array(64 * 1024 * 1024);
  for (let i = 0; i < bytes.length; i += 4096) bytes[i] = i & 0xff;
  bytes[bytes.length - 1] = 0xff;
  r.set(`${k}b`, bytes);
  assert.equal(r.send("STRLEN", `${k}b`), bytes.length);
  const back = r.getBuffer(`${k}b`);
  assert.ok(back !== null && back.length === bytes.length);
  assert.ok(Buffer.compare(back, bytes) === 0);
  const text = "0123456789abcdef".repeat(4 * 1024 * 1024);
  r.set(`${k}t`, text);
  assert.equal(r.get(`${k}t`), text);
  r.del(`${k}b`, `${k}t`);
  assert.equal(r.ping(), "PONG"); // the client stays usable after a huge reply
  r.close();
});

test("an error reply throws ReplyError with the server's code and the client stays usable", () => {
  const [r, k] = fresh();
  r.set(`${k}s`, "text");
  assert.throws(() => r.send("HGET", `${k}s`, "f"), (e: unknown) => {
    assert.ok(e instanceof ReplyError && e instanceof CpipeError);
    assert.equal(e.name, "ReplyError");
    assert.equal(e.code, "WRONGTYPE");
    assert.match(e.message, /^WRONGTYPE /);
    return true;
  });
  assert.throws(() => r.incr(`${k}s`), (e: unknown) => e instanceof ReplyError && e.code === "ERR");
  assert.throws(() => r.send("NOSUCHCOMMAND"), ReplyError);
  assert.equal(r.get(`${k}s`), "text");
  r.close();
});

test("bad arguments are a TypeError before anything is sent", () => {
  const [r, k] = fresh();
  const bad = [undefined, null, true, { a: 1 }, [1], Symbol("s"), NaN, new Float64Array(1)];
  for (const value of bad) {
    assert.throws(() => r.set(`${k}x`, value as never), TypeError);
    assert.throws(() => r.send("SET", `${k}x`, value as never), TypeError);
  }
  assert.throws(() => r.send(42 as never), TypeError);
  assert.throws(() => r.send(""), TypeError);
  assert.equal(r.exists(`${k}x`), 0); // nothing was sent
  assert.equal(r.ping(), "PONG");
  r.close();
});

test("commands that change the reply stream are refused", () => {
  const [r] = fresh();
  for (const cmd of ["SUBSCRIBE", "psubscribe", "MONITOR", "ssubscribe"]) {
    assert.throws(() => r.send(cmd, "ch"), CpipeError);
  }
  assert.throws(() => r.send("CLIENT", "REPLY", "OFF"), CpipeError);
  assert.equal(r.ping(), "PONG");
  r.close();
});

test("use after close throws ClosedError; close twice is fine; dispose closes", () => {
  const [r] = fresh();
  r.close();
  r.close();
  assert.equal(r.closed, true);
  assert.throws(() => r.get("k"), ClosedError);
  assert.throws(() => r.send("PING"), ClosedError);
  assert.throws(() => r.execute(), ClosedError);
  assert.throws(() => r.addCommand("PING"), ClosedError);
  let held: Client;
  {
    using d = connect(server.host, server.port);
    held = d;
    assert.equal(d.ping(), "PONG");
  }
  assert.equal(held.closed, true);
});

test("an unreachable server is a ConnectionError naming host and port", async () => {
  const port = await freePort();
  assert.throws(() => connect("127.0.0.1", port), (e: unknown) => {
    assert.ok(e instanceof ConnectionError);
    assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    assert.match(e.message, /refused/i);
    return true;
  });
  assert.throws(() => connect("no-such-host.invalid", 6379), ConnectionError);
  assert.throws(() => connect("127.0.0.1", 70000), TypeError);
  assert.throws(() => connect("127.0.0.1", port, { connectTimeout: -1 }), TypeError);
});

test("a ConnectionError says whether its command may have run (unsent)", async () => {
  await using server = await startRedis();
  using r = connect("127.0.0.1", server.port);
  r.set("k", "1");
  await server.stop();
  // The connection is found closed before sending, and the new one cannot be made: the command never left.
  assert.throws(() => r.get("k"), (e: unknown) => e instanceof ConnectionError && e.unsent);
  await server.restart();
  await using pool = connectPool({ port: server.port, size: 1, offlineQueue: false });
  await pool.set("k", "1");
  // In flight when the server goes: it may have run.
  const sleeping = pool.send("DEBUG", "SLEEP", "2").catch((e: unknown) => e);
  await new Promise((r) => setTimeout(r, 100));
  await server.stop();
  const inFlight = await sleeping;
  assert(inFlight instanceof ConnectionError && !inFlight.unsent, String(inFlight));
  // Refused while no connection is up (no offline queue): never sent.
  const refused = await pool.get("k").catch((e: unknown) => e);
  assert(refused instanceof ConnectionError && refused.unsent, String(refused));
});

test("a command that outlasts commandTimeout is a TimeoutError; the next call reconnects", () => {
  const r = connect(server.host, server.port, { commandTimeout: 100 });
  assert.throws(
    () => r.send("DEBUG", "SLEEP", "0.4"),
    (e: unknown) => e instanceof TimeoutError && /100 ms/.test(e.message),
  );
  const until = Date.now() + 500;
  while (Date.now() < until) { /* the sleeping server answers nobody meanwhile */ }
  assert.equal(r.ping(), "PONG");
  r.close();
});

test("commandTimeout does not cut a blocking command short (BLPOP by name or typed), as on a pool", () => {
  const r = connect(server.host, server.port, { commandTimeout: 100 });
  let started = Date.now();
  assert.equal(r.send("BLPOP", "client:nothing", "0.4"), null, "its own timeout ends it");
  assert(Date.now() - started >= 350, `answered after ${Date.now() - started} ms`);
  started = Date.now();
  assert.equal(r.blpop("client:nothing", 0.3), null);
  assert(Date.now() - started >= 250, `answered after ${Date.now() - started} ms`);
  assert.throws(() => r.send("DEBUG", "SLEEP", "0.4"), (e: unknown) => e instanceof TimeoutError);
  r.close();
});

test("a command whose reconnect's AUTH is refused never ran: ConnectionError with unsent, the server's refusal as cause", () => {
  server.cli("ACL", "SETUSER", "rotated", "on", ">before", "~*", "+@all");
  try {
    const r = connect({ host: server.host, port: server.port, username: "rotated", password: "before" });
    assert.equal(r.ping(), "PONG");
    server.cli("ACL", "SETUSER", "rotated", "resetpass", ">after"); // the password rotated under the client
    server.cli("CLIENT", "KILL", "USER", "rotated");
    let error: unknown = null;
    try {
      r.set("client:rotated", "1");
    } catch (e) {
      error = e;
    }
    assert(error instanceof ConnectionError && error.unsent, `unsent: ${error}`);
    assert(error.cause instanceof ReplyError, String(error.cause));
    assert(!error.message.includes("before") && !error.message.includes("after"), error.message);
    assert.equal(server.cli("EXISTS", "client:rotated"), "0");
    r.close();
  } finally {
    server.cli("ACL", "DELUSER", "rotated");
  }
});

test("every connection names the library (CLIENT SETINFO), and a server that refuses it (before 7.2) serves all the same", async () => {
  const version = /redis_version:(\d+)\.(\d+)/.exec(server.cli("INFO", "server"))!;
  const knowsSetinfo = Number(version[1]) * 100 + Number(version[2]) >= 702;
  const refusals = () => Number(/errorstat_ERR:count=(\d+)/.exec(server.cli("INFO", "errorstats"))?.[1] ?? 0);
  // lib-name and lib-ver of every connection of this name, from CLIENT LIST.
  const named = (name: string) =>
    server.cli("CLIENT", "LIST").split("\n").filter((line) => line.includes(` name=${name} `))
      .map((line) => /lib-name=(\S*) lib-ver=(\S*)/.exec(line)?.slice(1).join(" ") ?? "");
  let before = refusals();
  const r = connect(server.host, server.port, { name: "setinfo-c", clientInfoTag: "jobs_v2" });
  const pool = connectPool({ host: server.host, port: server.port, size: 3, name: "setinfo-p" });
  assert.equal(r.ping(), "PONG");
  assert.equal(await pool.ping(), "PONG");
  while (pool.connected < 3) await new Promise((resolve) => setTimeout(resolve, 5));
  if (knowsSetinfo) {
    assert.deepEqual(named("setinfo-c"), [`cpipe(jobs_v2) ${VERSION}`]);
    assert.deepEqual(named("setinfo-p"), Array(3).fill(`cpipe ${VERSION}`));
  } else {
    assert.equal(refusals() - before, 2 * 4, "each connection's two CLIENT SETINFO refused");
  }
  r.close();
  await pool.close();
  before = refusals();
  const quiet = connect(server.host, server.port, { name: "setinfo-q", clientInfo: false });
  assert.equal(quiet.ping(), "PONG");
  if (knowsSetinfo) assert.deepEqual(named("setinfo-q"), [" "]);
  assert.equal(refusals(), before, "nothing sent that the server refused");
  quiet.close();
});

test("SELECT and CLIENT SETNAME apply, and survive a reconnect", () => {
  const r = connect(server.host, server.port, { db: 3, name: "cpipe-test" });
  const other = connect(server.host, server.port);
  r.set("select:key", "in db 3");
  assert.equal(other.get("select:key"), null);
  assert.equal(other.send("SELECT", 3), "OK");
  assert.equal(other.get("select:key"), "in db 3");
  assert.equal(r.send("CLIENT", "GETNAME"), "cpipe-test");
  const before = r.send("CLIENT", "ID");
  other.send("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes");
  // The drop is seen before the GET is sent: it goes out on a new connection.
  assert.equal(r.get("select:key"), "in db 3"); // reconnected, SELECT replayed
  assert.notEqual(r.send("CLIENT", "ID"), before);
  assert.equal(r.send("CLIENT", "GETNAME"), "cpipe-test");
  r.close();
  other.close();
});

test("a unix socket path connects too", () => {
  const r = connect(server.socket);
  assert.equal(r.address, server.socket);
  assert.equal(r.ping(), "PONG");
  r.close();
});
