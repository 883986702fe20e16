/** The pool against a real redis-server: replies matched to callers, errors, routing, pipelines, options. */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { afterAll, test } from "../harness/shim.ts";
import { freePort, startRedis } from "../harness/server.ts";
import { sleep } from "../harness/wait.ts";
import {
  ClosedError,
  ConnectionError,
  connectPool,
  CpipeError,
  defaultPool,
  phget,
  phset,
  type Pool,
  type PoolConnection,
  type PoolOptions,
  psend,
  QueueFullError,
  ReplyError,
  TimeoutError,
} from "../../mod.ts";
import { native } from "../../ffi/load.ts";
import { sleepSync } from "../../src/offline_wait.ts";

const server = await startRedis();
afterAll(() => server[Symbol.asyncDispose]());

const liveAllocations = () => Number(native.cpipe_live_allocations());
const openFds = () => readdirSync("/proc/self/fd").length;

let n = 0;
/** A pool and a fresh key prefix, so tests do not see each other's keys. */
function fresh(options: PoolOptions = {}): [Pool, string] {
  return [connectPool({ host: server.host, port: server.port, ...options }), `p${n++}:`];
}

test("typed commands and send resolve with their replies", async () => {
  const [pool, k] = fresh({ size: 3 });
  assert.equal(await pool.ping(), "PONG");
  assert.equal(await pool.set(`${k}s`, "v"), "OK");
  assert.equal(await pool.get(`${k}s`), "v");
  assert.equal(await pool.get(`${k}missing`), null);
  assert.equal(await pool.hset(`${k}h`, { a: "1", b: "2" }), 2);
  assert.deepEqual(await pool.hgetall(`${k}h`), { a: "1", b: "2" });
  assert.equal(await pool.incrby(`${k}n`, 41), 41);
  assert.equal(await pool.incr(`${k}n`), 42);
  assert.deepEqual(await pool.mget(`${k}s`, `${k}missing`), ["v", null]);
  assert.equal(await pool.rpush(`${k}l`, "a", "b", "c"), 3);
  assert.deepEqual(await pool.lrange(`${k}l`, 0, -1), ["a", "b", "c"]);
  assert.equal(await pool.zadd(`${k}z`, 1.5, "m"), 1);
  assert.deepEqual(await pool.zrangeWithScores(`${k}z`, 0, -1), [{ member: "m", score: 1.5 }]);
  assert.deepEqual(await pool.send("EVAL", "return {1, {2, 'x'}, 'y'}", 0), [1, [2, "x"], "y"]);
  assert.equal(await pool.send("INCRBY", `${k}big`, "9007199254740993"), 9007199254740993n);
  await pool.close();
});

test("100,000 concurrent calls each get their own reply", async () => {
  const [pool, k] = fresh();
  const total = 100_000;
  // Every caller writes its own value, all in one tick (spread over the connections)…
  const writes = Array.from({ length: total }, (_, i) => pool.set(`${k}${i}`, `v${i}`));
  const echoes = Array.from({ length: total }, (_, i) => pool.send("ECHO", `e${i}`));
  assert.ok((await Promise.all(writes)).every((r) => r === "OK"));
  const echoed = await Promise.all(echoes);
  for (let i = 0; i < total; i++) assert.equal(echoed[i], `e${i}`);
  // …then reads it back, again all at once.
  const got = await Promise.all(Array.from({ length: total }, (_, i) => pool.get(`${k}${i}`)));
  for (let i = 0; i < total; i++) assert.equal(got[i], `v${i}`);
  // Commands that must run in order without awaiting each other go in one pipeline.
  const ordered = await Promise.all(
    Array.from(
      { length: 1000 },
      (_, i) => pool.pipeline().set(`${k}o${i}`, i).incr(`${k}o${i}`).get(`${k}o${i}`).execute(),
    ),
  );
  for (let i = 0; i < 1000; i++) assert.deepEqual(ordered[i], ["OK", i + 1, String(i + 1)]);
  // Spread over ticks and connections: callers that each await in turn.
  const workers = Array.from({ length: 50 }, async (_, w) => {
    for (let i = 0; i < 200; i++) {
      const key = `${k}w${w}`;
      assert.equal(await pool.incr(key), i + 1);
      assert.equal(await pool.send("ECHO", `${w}:${i}`), `${w}:${i}`);
    }
  });
  await Promise.all(workers);
  assert.equal(pool.pending, 0);
  await pool.close();
});

test("an error reply rejects only its own promise", async () => {
  const [pool, k] = fresh({ size: 2 });
  await pool.set(`${k}str`, "x");
  const calls = Array.from({ length: 1000 }, (_, i) => i % 7 === 3 ? pool.incr(`${k}str`) : pool.incr(`${k}n${i}`));
  const settled = await Promise.allSettled(calls);
  for (const [i, s] of settled.entries()) {
    if (i % 7 === 3) {
      assert.equal(s.status, "rejected");
      assert.ok((s as PromiseRejectedResult).reason instanceof ReplyError);
      assert.equal(((s as PromiseRejectedResult).reason as ReplyError).code, "ERR");
    } else {
      assert.deepEqual(s, { status: "fulfilled", value: 1 });
    }
  }
  await assert.rejects(pool.send("NOSUCHCOMMAND"), ReplyError);
  await pool.set(`${k}s`, "v");
  await assert.rejects(pool.hget(`${k}s`, "f"), (e: unknown) => e instanceof ReplyError && e.code === "WRONGTYPE");
  assert.equal(await pool.get(`${k}s`), "v");
  await pool.close();
});

test("bad arguments reject, and the calls around them still run", async () => {
  const [pool, k] = fresh({ size: 1 });
  const before = pool.set(`${k}a`, "1");
  const bad = pool.set(`${k}b`, {} as unknown as string);
  const after = pool.get(`${k}a`);
  await assert.rejects(bad, TypeError);
  assert.equal(await before, "OK");
  assert.equal(await after, "1");
  await assert.rejects(pool.send(""), TypeError);
  await assert.rejects(pool.send("SUBSCRIBE", "ch"), CpipeError);
  await pool.close();
});

test("binary values round-trip, and replies larger than the drain buffer arrive whole", async () => {
  const [pool, k] = fresh({ size: 2 });
  const bytes = new Uint8Array(256).map((_, i) => i);
  await pool.set(`${k}bin`, bytes);
  assert.deepEqual(await pool.getBuffer(`${k}bin`), bytes);
  assert.deepEqual(await pool.sendBuffer("GET", `${k}bin`), bytes);
  const big = new Uint8Array(3 * 1024 * 1024 + 7).fill(0x61);
  await pool.set(`${k}big`, big);
  const [a, b, c] = await Promise.all([pool.getBuffer(`${k}big`), pool.get(`${k}bin`), pool.getBuffer(`${k}big`)]);
  assert.equal(a!.length, big.length);
  assert.ok(a!.every((x) => x === 0x61));
  assert.equal(typeof b, "string");
  assert.deepEqual(c, a);
  await pool.close();
});

test("pipelines run as one block; MULTI ... EXEC stays whole among other callers", async () => {
  const [pool, k] = fresh({ size: 2 });
  const replies = await pool.pipeline().set(`${k}a`, "1").incr(`${k}a`).get(`${k}a`).addCommand("NOPE").execute();
  assert.deepEqual(replies.slice(0, 3), ["OK", 2, "2"]);
  assert.ok(replies[3] instanceof ReplyError);
  // Transactions from many callers in the same tick, interleaved with plain calls.
  const work: Promise<unknown>[] = [];
  for (let i = 0; i < 200; i++) {
    work.push(pool.incr(`${k}plain`));
    work.push(
      pool.pipeline().addCommand("MULTI").incr(`${k}tx`).incr(`${k}tx`).addCommand("EXEC").execute(),
    );
  }
  const results = await Promise.all(work);
  for (let i = 0; i < 200; i++) {
    const tx = results[2 * i + 1] as unknown[];
    assert.equal(tx[0], "OK");
    const [x, y] = tx[3] as [number, number];
    assert.equal(y, x + 1); // nothing ran between the two INCRs
  }
  assert.equal(await pool.get(`${k}tx`), "400");
  assert.deepEqual(await pool.pipeline().executeBuffer(), []);
  await assert.rejects(pool.pipeline().addCommand("MULTI").incr(`${k}x`).execute(), /MULTI with EXEC/);
  await assert.rejects(pool.pipeline().addCommand("WATCH", `${k}x`).execute(), /WATCH/);
  assert.throws(() => pool.pipeline().addCommand("SELECT", 2), CpipeError);
  // Status replies stay strings; bulk strings come as bytes.
  assert.deepEqual(await pool.pipeline().set(`${k}b`, "x").getBuffer(`${k}b`).executeBuffer(), [
    "OK",
    new TextEncoder().encode("x"),
  ]);
  await pool.close();
});

test("commands that change a shared connection are refused with a hint", async () => {
  const [pool] = fresh({ size: 1 });
  const refused: [string, ...string[]][] = [
    ["SELECT", "1"],
    ["AUTH", "x"],
    ["MULTI"],
    ["EXEC"],
    ["WATCH", "k"],
    ["CLIENT", "SETNAME", "x"],
  ];
  for (const [command, ...args] of refused) {
    await assert.rejects(
      pool.send(command, ...args),
      (e: unknown) => e instanceof CpipeError && /share/.test(e.message),
    );
  }
  assert.ok(typeof await pool.send("CLIENT", "ID") === "number");
  await pool.close();
});

test("blocking commands run on exclusive connections and do not hold up the others", async () => {
  const [pool, k] = fresh({ size: 2, exclusiveConnections: 2 });
  const waiting = pool.send("BLPOP", `${k}q`, "5");
  // While BLPOP waits, shared connections keep serving.
  for (let i = 0; i < 50; i++) assert.equal(await pool.incr(`${k}n`), i + 1);
  // A third blocking call waits for a free exclusive connection.
  const second = pool.send("BRPOP", `${k}q2`, "5");
  const third = pool.send("BLPOP", `${k}q3`, "5");
  await pool.rpush(`${k}q3`, "c");
  await pool.rpush(`${k}q2`, "b");
  await pool.rpush(`${k}q`, "a");
  assert.deepEqual(await waiting, [`${k}q`, "a"]);
  assert.deepEqual(await second, [`${k}q2`, "b"]);
  assert.deepEqual(await third, [`${k}q3`, "c"]);
  assert.equal(await pool.send("BLPOP", `${k}empty`, "0.05"), null);
  // Without exclusive connections, blocking commands are refused rather than left waiting.
  const none = connectPool({ host: server.host, port: server.port, size: 1, exclusiveConnections: 0 });
  await assert.rejects(none.send("BLPOP", `${k}q`, "1"), /no exclusive connections/);
  await assert.rejects(none.acquire(), /no exclusive connections/);
  assert.equal(await none.ping(), "PONG");
  await none.close();
  // XREAD blocks only with BLOCK.
  await pool.send("XADD", `${k}s`, "*", "f", "v");
  const read = await pool.send("XREAD", "BLOCK", "100", "STREAMS", `${k}s`, "0") as unknown[];
  assert.equal(read.length, 1);
  await pool.close();
});

test("acquire() gives a connection of one's own: WATCH / MULTI / EXEC, SELECT", async () => {
  const [pool, k] = fresh({ size: 1, exclusiveConnections: 1 });
  await pool.set(`${k}balance`, "100");
  {
    await using c = await pool.acquire();
    assert.equal(await c.send("WATCH", `${k}balance`), "OK");
    const balance = Number(await c.get(`${k}balance`));
    const tx = await c.pipeline().addCommand("MULTI").set(`${k}balance`, balance - 10).addCommand("EXEC").execute();
    assert.deepEqual(tx[2], ["OK"]);
  }
  assert.equal(await pool.get(`${k}balance`), "90");
  // A conflicting write between WATCH and EXEC aborts the transaction.
  const c = await pool.acquire();
  await c.send("WATCH", `${k}balance`);
  await pool.set(`${k}balance`, "0");
  const aborted = await c.pipeline().addCommand("MULTI").set(`${k}balance`, "1").addCommand("EXEC").execute();
  assert.equal(aborted[2], null);
  c.release();
  await assert.rejects(c.get(`${k}balance`), ClosedError);
  // SELECT on a leased connection does not leak to the next lease.
  const d = await pool.acquire();
  await d.send("SELECT", "3");
  await d.set(`${k}db3`, "x");
  d.release();
  const e = await pool.acquire();
  assert.equal(await e.get(`${k}db3`), null);
  e.release();
  assert.equal(await pool.get(`${k}db3`), null);
  await pool.close();
});

test("a lease released with its WATCH still open is not handed on, even after a refused EXEC", async () => {
  const [pool, k] = fresh({ size: 1, exclusiveConnections: 1 });
  const c = await pool.acquire();
  await c.send("WATCH", `${k}watched`);
  // The server refuses EXEC without MULTI and keeps the WATCH.
  await assert.rejects(c.send("EXEC"), ReplyError);
  c.release();
  await pool.set(`${k}watched`, "changed");
  // Had the same connection come back, its WATCH would abort this transaction.
  const d = await pool.acquire();
  const tx = await d.pipeline().addCommand("MULTI").set(`${k}other`, "1").addCommand("EXEC").execute();
  assert.deepEqual(tx[2], ["OK"]);
  d.release();
  await pool.close();
});

test("a lease's pipeline executed after release() is refused, not sent on the connection its next holder has", async () => {
  const [pool, k] = fresh({ size: 1, exclusiveConnections: 1 });
  const c = await pool.acquire();
  const early = c.pipeline().set(`${k}stray`, "x");
  c.release();
  const d = await pool.acquire();
  await d.send("MULTI");
  await assert.rejects(early.execute(), ClosedError);
  await assert.rejects(c.pipeline().get(`${k}stray`).execute(), ClosedError);
  // Had the pipeline gone out, its SET would sit in d's transaction.
  assert.deepEqual(await d.send("EXEC"), []);
  d.release();
  assert.equal(await pool.get(`${k}stray`), null);
  await pool.close();
});

test("a lease whose connection dropped after WATCH or SELECT refuses its calls; one without state redials", async () => {
  const [pool, k] = fresh({ size: 1, exclusiveConnections: 2 });
  let errors = 0;
  pool.on("error", () => errors++);
  const kill = async (lease: PoolConnection) => {
    const before = errors;
    server.cli("CLIENT", "KILL", "ID", String(await lease.send("CLIENT", "ID")));
    for (let i = 0; i < 200 && errors === before; i++) await new Promise((r) => setTimeout(r, 10));
    assert(errors > before, "the drop was seen");
  };
  await pool.set(`${k}bal`, "100");
  const watching = await pool.acquire();
  await watching.send("WATCH", `${k}bal`);
  const balance = Number(await watching.get(`${k}bal`));
  await kill(watching);
  await pool.set(`${k}bal`, "0"); // a concurrent write the WATCH was there to catch
  // The new session has no WATCH: its EXEC would succeed and lose that write.
  const lost = await watching.pipeline().addCommand("MULTI").set(`${k}bal`, String(balance - 10)).addCommand("EXEC")
    .execute().catch((e: unknown) => e);
  assert(
    lost instanceof ConnectionError && lost.unsent && /WATCH, MULTI, SELECT.*acquire another/.test(lost.message),
    String(lost),
  );
  await assert.rejects(watching.get(`${k}bal`), ConnectionError);
  watching.release();
  assert.equal(await pool.get(`${k}bal`), "0");

  const selected = await pool.acquire();
  await selected.send("SELECT", "5");
  await kill(selected);
  await assert.rejects(selected.set(`${k}db5`, "x"), ConnectionError); // it would land in database 0
  selected.release();
  assert.equal(await pool.get(`${k}db5`), null);

  const plain = await pool.acquire();
  await kill(plain);
  assert.equal(await plain.ping(), "PONG");
  plain.release();
  await pool.close();
});

/**
 * Stalls the whole server for `seconds` (DEBUG SLEEP from a pool of its own); resolves once it sleeps, with `over`,
 * which resolves when it answers again.
 */
async function stallServer(seconds: number): Promise<{ over: Promise<void> }> {
  const admin = connectPool({ host: server.host, port: server.port, size: 1 });
  await admin.ping();
  const over = admin.send("DEBUG", "SLEEP", String(seconds)).then(() => admin.close());
  await sleep(100); // the server sleeps now
  return { over };
}

test("commandTimeout bounds a lease's calls: TimeoutError with the server stalled, then the rule for leases", async () => {
  const [pool, k] = fresh({ size: 1, exclusiveConnections: 2, commandTimeout: 300 });
  const plain = await pool.acquire(), selected = await pool.acquire();
  assert.equal(await plain.ping(), "PONG");
  assert.equal(await selected.send("SELECT", "5"), "OK");
  const stalled = await stallServer(2);
  const started = Date.now();
  const [a, b] = await Promise.all([plain.get(`${k}k`), selected.get(`${k}k`)].map((p) => p.catch((e: unknown) => e)));
  const took = Date.now() - started;
  assert(a instanceof TimeoutError, `a lease's GET: ${a}`);
  assert(b instanceof TimeoutError, `a lease's GET after SELECT: ${b}`);
  assert(took < 1200, `rejected after ${took} ms`);
  await stalled.over;
  // A timeout drops the connection: one without state redials and goes on, one after SELECT refuses.
  assert.equal(await plain.ping(), "PONG");
  await assert.rejects(selected.ping(), (e: unknown) => e instanceof ConnectionError && e.unsent);
  plain.release();
  selected.release();
  await pool.close();
});

test("a blocking command refused for a bad argument exempts no other command of a lease's pipeline from the timeout", async () => {
  const [pool, k] = fresh({ size: 1, exclusiveConnections: 1, commandTimeout: 300 });
  const lease = await pool.acquire();
  // Up first (an exclusive connection dials on its first command): a command staged behind the handshake is bounded
  // by connectTimeout, not timed until it is sent.
  assert.equal(await lease.ping(), "PONG");
  const piped = lease.pipeline();
  assert.throws(() => piped.addCommand("BLPOP", `${k}q`, {} as unknown as string), TypeError);
  piped.get(`${k}k`); // the command the refused BLPOP's place would have named
  const stalled = await stallServer(2);
  const started = Date.now();
  const outcome = await piped.execute().catch((e: unknown) => e);
  assert(outcome instanceof TimeoutError, `the GET waited ${Date.now() - started} ms: ${outcome}`);
  await stalled.over;
  lease.release();
  await pool.close();
});

test("commandTimeout does not cut a blocking command short: a lease's BLPOP, pool.blpop", async () => {
  const [pool, k] = fresh({ size: 1, exclusiveConnections: 2, commandTimeout: 300 });
  const lease = await pool.acquire();
  const leased = lease.send("BLPOP", `${k}q`, "2");
  const pooled = pool.blpop(`${k}q2`, 2);
  const typed = lease.blpop(`${k}q3`, 0.8); // queued behind the first on the lease
  await sleep(800);
  await pool.rpush(`${k}q`, "a");
  await pool.rpush(`${k}q2`, "b");
  assert.deepEqual(await leased, [`${k}q`, "a"]);
  assert.deepEqual(await pooled, [`${k}q2`, "b"]);
  assert.equal(await typed, null); // its own timeout ran out
  // And one that outlasts commandTimeout with nothing to pop ends by its own timeout.
  assert.equal(await lease.send("BLPOP", `${k}empty`, "0.6"), null);
  assert.equal(await pool.send("BLPOP", `${k}empty`, "0.6"), null);
  lease.release();
  await pool.close();
});

test("a call pipelined behind a blocking one on a lease is timed from that one's reply, not from its send", async () => {
  const [pool, k] = fresh({ size: 1, exclusiveConnections: 1, commandTimeout: 300 });
  await pool.set(`${k}k`, "x");
  const lease = await pool.acquire();
  // Two calls, then a pipeline, each GET sent now behind a BLPOP: a second before the BLPOP answers.
  const calls = Promise.all([lease.send("BLPOP", `${k}q`, "5"), lease.get(`${k}k`)]);
  const piped = lease.pipeline().blpop(`${k}q2`, 5).get(`${k}k`).execute().catch((e: unknown) => e);
  await sleep(1000);
  // The PAUSE holds the lease's GET on the server after BLPOP's reply went: the GET answers ~150 ms after it.
  await pool.pipeline().rpush(`${k}q`, "a").addCommand("CLIENT", "PAUSE", "150", "ALL").execute();
  assert.deepEqual(await calls, [[`${k}q`, "a"], "x"]);
  await pool.pipeline().rpush(`${k}q2`, "b").addCommand("CLIENT", "PAUSE", "150", "ALL").execute();
  assert.deepEqual(await piped, [[`${k}q2`, "b"], "x"]);
  lease.release();
  await pool.close();
});

test("a lease given state whose connection dropped before the pool saw it go refuses its next calls (unsent)", async () => {
  const [pool, k] = fresh({ size: 1, exclusiveConnections: 1 });
  // An exclusive connection is read by the I/O thread: it sees the drop (and redials), and this thread learns of it
  // only at its next drain, so calls made in between find the pool's view of the connection stale.
  await pool.set(`${k}bal`, "100");
  const watching = await pool.acquire();
  await watching.send("WATCH", `${k}bal`);
  server.cli("CLIENT", "KILL", "ID", String(await watching.send("CLIENT", "ID")));
  server.cli("SET", `${k}bal`, "0"); // a concurrent write the WATCH was there to catch
  sleepSync(300);
  const lost = await watching.pipeline().addCommand("MULTI").set(`${k}bal`, "90").addCommand("EXEC").execute()
    .catch((e: unknown) => e);
  assert(lost instanceof ConnectionError && lost.unsent, `the EXEC went to a session without the WATCH: ${lost}`);
  watching.release();
  assert.equal(await pool.get(`${k}bal`), "0");

  const plain = await pool.acquire();
  server.cli("CLIENT", "KILL", "ID", String(await plain.send("CLIENT", "ID")));
  sleepSync(300);
  assert.equal(await plain.ping(), "PONG", "a lease without state redials and goes on");
  plain.release();
  await pool.close();
});

test("a lease pipeline split across submits never sends its rest into a new session", async () => {
  // maxInFlight 2: the pipeline goes in parts, the rest once the first is answered. The WATCH of the first part gives
  // the connection state; the connection drops while the BLPOP holds the first part, so the rest must not go out on
  // the redialled connection, where the MULTI/SET/EXEC would run without the WATCH.
  const [pool, k] = fresh({ size: 1, exclusiveConnections: 1, maxInFlight: 2 });
  await pool.set(`${k}bal`, "100");
  const lease = await pool.acquire();
  const id = String(await lease.send("CLIENT", "ID"));
  const done = lease.pipeline().addCommand("WATCH", `${k}bal`).addCommand("BLPOP", `${k}q`, "2").addCommand("MULTI")
    .set(`${k}bal`, "90").addCommand("EXEC").execute().catch((e: unknown) => e);
  await sleep(200);
  server.cli("SET", `${k}bal`, "0"); // a concurrent write the WATCH was there to catch
  server.cli("CLIENT", "KILL", "ID", id);
  const failed = await done;
  assert(failed instanceof ConnectionError, `the pipeline: ${failed}`);
  await sleep(100);
  assert.equal(await pool.get(`${k}bal`), "0", "the rest of the pipeline ran in a session without the WATCH");
  lease.release();
  await pool.close();
});

test("connect options: AUTH, SELECT and CLIENT SETNAME apply to every connection", async () => {
  await using secured = await startRedis({ args: ["--requirepass", "s3cret"] });
  const pool = connectPool({
    host: secured.host,
    port: secured.port,
    password: "s3cret",
    db: 2,
    name: "cpipe-pool",
    size: 3,
  });
  await Promise.all(Array.from({ length: 30 }, (_, i) => pool.set(`k${i}`, "v")));
  assert.equal(secured.cli("-n", "2", "DBSIZE"), "30");
  assert.equal(secured.cli("-n", "0", "DBSIZE"), "0");
  assert.ok(secured.cli("CLIENT", "LIST").includes("name=cpipe-pool"));
  await pool.close();
  const wrong = connectPool({ host: secured.host, port: secured.port, password: "nope", size: 2 });
  await assert.rejects(
    wrong.get("k"),
    (e: unknown) => e instanceof ConnectionError && /handshake failed/.test(e.message),
  );
  await wrong.close();
});

test("a unix socket path works as the host", async () => {
  const [pool, k] = fresh({ host: server.socket, size: 2 });
  assert.equal(pool.address, server.socket);
  assert.equal(await pool.set(`${k}u`, "1"), "OK");
  assert.equal(await pool.get(`${k}u`), "1");
  await pool.close();
});

test("an unreachable server, offlineQueue: false: the first calls reject with ConnectionError", async () => {
  const port = await freePort();
  const pool = connectPool({ host: "127.0.0.1", port, size: 2, reconnectMaxDelay: 50, offlineQueue: false });
  const calls = await Promise.allSettled(Array.from({ length: 100 }, () => pool.get("k")));
  for (const c of calls) {
    assert.equal(c.status, "rejected");
    assert.ok((c as PromiseRejectedResult).reason instanceof ConnectionError);
  }
  assert.equal(pool.connected, 0);
  await pool.close();
});

test("close() lets calls in flight finish; later calls reject with ClosedError", async () => {
  const [pool, k] = fresh({ size: 4 });
  const inFlight = Array.from({ length: 20_000 }, (_, i) => pool.set(`${k}${i}`, i));
  const closing = pool.close();
  assert.ok(pool.closed);
  await assert.rejects(pool.get(`${k}1`), ClosedError);
  await assert.rejects(pool.pipeline().get(`${k}1`).execute(), ClosedError);
  await assert.rejects(pool.acquire(), ClosedError);
  assert.ok((await Promise.all(inFlight)).every((r) => r === "OK"));
  await closing;
  await pool.close(); // twice is fine
  assert.equal(server.cli("GET", `${k}19999`), "19999");
});

test("close() cancels blocking commands at once", async () => {
  const [pool, k] = fresh({ size: 1 });
  const blocked = pool.send("BLPOP", `${k}never`, "0");
  await pool.ping(); // the BLPOP is sent by now
  await new Promise((r) => setTimeout(r, 20));
  const started = Date.now();
  await pool.close();
  await assert.rejects(blocked, ClosedError);
  assert.ok(Date.now() - started < 4000);
});

test("maxQueued bounds the commands waiting in the pool", async () => {
  const [pool, k] = fresh({ size: 1, maxInFlight: 10, maxQueued: 100 });
  const accepted = Array.from({ length: 100 }, (_, i) => pool.set(`${k}${i}`, "v"));
  await assert.rejects(pool.get(`${k}0`), QueueFullError);
  assert.ok((await Promise.all(accepted)).every((r) => r === "OK"));
  assert.equal(await pool.get(`${k}99`), "v"); // room again
  await pool.close();
});

test("the module's default pool: phset, phget, psend", async () => {
  const pool = connectPool({ host: server.host, port: server.port, size: 2 });
  assert.equal(defaultPool(), pool);
  await Promise.all(Array.from({ length: 1000 }, (_, i) => phset("dp:words", `word|${i}`, 1)));
  assert.equal(await phget("dp:words", "word|999"), "1");
  assert.equal(await psend("HLEN", "dp:words"), 1000);
  await pool.close();
  await assert.rejects(phget("dp:words", "word|1"), ClosedError);
});

test("options are checked", () => {
  assert.throws(() => connectPool({ size: 0 }), TypeError);
  assert.throws(() => connectPool({ port: 70000 }), TypeError);
  assert.throws(() => connectPool({ host: "" }), TypeError);
  assert.throws(() => connectPool({ connectTimeout: -1 }), TypeError);
  assert.throws(() => connectPool({ maxInFlight: 0 }), TypeError);
});

test("closing frees every native allocation and socket", async () => {
  const allocs = liveAllocations(), fds = openFds();
  for (let i = 0; i < 20; i++) {
    const [pool, k] = fresh({ size: 3 });
    await Promise.all([pool.set(`${k}a`, "1"), pool.send("BLPOP", `${k}q`, "0.01"), pool.get(`${k}a`)]);
    await pool.close();
  }
  assert.equal(liveAllocations(), allocs);
  assert.ok(openFds() <= fds + 2, `fds ${fds} -> ${openFds()}`);
});

test("small pipelines of one tick share a write, each whole with its own replies, MULTI … EXEC among them", async () => {
  const [pool, k] = fresh({ size: 4 });
  for (let round = 0; round < 20; round++) {
    const pipelines: Promise<unknown[]>[] = [], singles: Promise<unknown>[] = [], txs: Promise<unknown[]>[] = [];
    for (let i = 0; i < 300; i++) {
      pipelines.push(pool.pipeline().set(`${k}:${i}`, `${round}:${i}`).get(`${k}:${i}`).incr(`${k}:n`).execute());
      if (i % 7 === 0) singles.push(pool.get(`${k}:${i}`));
      if (i % 13 === 0) {
        txs.push(pool.pipeline().addCommand("MULTI").incr(`${k}:t`).incr(`${k}:t`).addCommand("EXEC").execute());
      }
    }
    const counts = new Set<unknown>();
    for (const [i, p] of (await Promise.all(pipelines)).entries()) {
      assert.deepEqual(p.slice(0, 2), ["OK", `${round}:${i}`]); // its own SET, then its own GET
      counts.add(p[2]);
    }
    assert.equal(counts.size, pipelines.length); // every INCR ran once, its reply to its own pipeline
    for (const tx of await Promise.all(txs)) {
      const [ok, q1, q2, exec] = tx as [string, string, string, number[]];
      assert.deepEqual([ok, q1, q2], ["OK", "QUEUED", "QUEUED"]);
      assert.equal(exec[1], exec[0]! + 1); // nothing came between the two INCRs
    }
    for (const s of await Promise.all(singles)) assert.ok(s === null || typeof s === "string");
  }
  await pool.close();
});
