/**
 * The runtime reads a pool's plain connections itself (`cpipe_pool_hand_over` / `cpipe_pool_feed`): replies
 * reach their callers through the runtime's own socket, the I/O thread still times calls and redials, every
 * reconnect hands the new socket over and closes the old descriptor, and connections that must stay with the
 * I/O thread (exclusive ones, a pool with the client-side cache) do.
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { afterAll, test } from "../harness/shim.ts";
import { startRedis } from "../harness/server.ts";
import { sleep, until } from "../harness/wait.ts";
import { ConnectionError, connectPool, TimeoutError } from "../../mod.ts";
import { clientSettings, type PoolOptions, poolSettings } from "../../src/options.ts";
import { PoolCore } from "../../src/pool_core.ts";
import { HandOver, Role } from "../../ffi/abi.ts";
import { encodeConnectionSettings } from "../../src/settings.ts";
import { sleepSync } from "../../src/offline_wait.ts";

const server = await startRedis();
afterAll(() => server[Symbol.asyncDispose]());

const core = (options: PoolOptions = {}) =>
  new PoolCore(poolSettings({ host: server.host, port: server.port, ...options }));
const call = (c: PoolCore, command: string, ...args: string[]) => c.call(-1, command, args, null, false);

/** Descriptors this process holds open (Linux, where the tests run). */
const descriptors = () => readdirSync("/proc/self/fd").length;

test("the runtime reads every shared connection: replies in order, at any count", async () => {
  const c = core({ size: 3 });
  await until(() => c.runtimeReads === 3, 5_000, "three connections read by the runtime");
  const replies = await Promise.all(Array.from({ length: 20_000 }, (_, i) => call(c, "ECHO", `v${i}`)));
  assert.ok(replies.every((r, i) => r === `v${i}`));
  for (let i = 0; i < 200; i++) assert.equal(await call(c, "ECHO", `seq${i}`), `seq${i}`);
  assert.equal(c.runtimeReads, 3);
  await c.close();
  assert.equal(c.runtimeReads, 0);
});

test("CLIENT KILL: calls in flight reject, the new sockets are read by the runtime, no descriptor is left", async () => {
  const c = core({ size: 2 });
  await until(() => c.runtimeReads === 2, 5_000, "both connections read by the runtime");
  assert.equal(await call(c, "PING"), "PONG");
  const before = descriptors();
  for (let round = 0; round < 5; round++) {
    const inFlight = call(c, "BLPOP", `rr:never:${round}`, "2"); // on a shared connection: killed under it
    await sleep(20);
    server.cli("CLIENT", "KILL", "TYPE", "normal");
    await assert.rejects(inFlight, ConnectionError);
    await until(async () => (await call(c, "PING").catch(() => "")) === "PONG", 5_000, "a connection up again");
    await until(() => c.runtimeReads === 2 && c.connected === 2, 5_000, "both connections handed over again");
  }
  assert.equal(await call(c, "ECHO", "after"), "after");
  await until(() => descriptors() <= before, 2_000, "the old descriptors closed");
  await c.close();
});

test("a submit written into a socket the server closed, its end not read yet: what the write failed for is unsent", async () => {
  await using pool = connectPool({ host: server.host, port: server.port, size: 1 });
  await pool.set("rr:unsent", "before");
  const id = String(await pool.send("CLIENT", "ID"));
  server.cli("CLIENT", "KILL", "ID", id);
  // The runtime cannot read the end of the stream meanwhile: the connection still looks up.
  sleepSync(300);
  // Two writes in one tick: the socket takes the first (the server's reset comes back), the second fails.
  const taken = pool.set("rr:unsent", "taken").catch((e: unknown) => e);
  const refused = pool.pipeline().set("rr:unsent", "refused").get("rr:unsent").execute().catch((e: unknown) => e);
  const [first, second] = await Promise.all([taken, refused]);
  assert.ok(second instanceof ConnectionError && /Broken pipe|reset/.test(second.message), String(second));
  assert.equal(second.unsent, true, "nothing of the pipeline left: it may be sent again");
  assert.ok(first instanceof ConnectionError && !first.unsent, `the socket took the first: ${first}`);
  assert.equal(await pool.get("rr:unsent"), "before", "neither reached the server");
});

test("a single command that never left a dropped connection is sent again once one is up; without the offline queue it rejects, unsent", async () => {
  for (const offlineQueue of [true, false]) {
    await using pool = connectPool({ host: server.host, port: server.port, size: 1, offlineQueue });
    const key = `rr:again:${offlineQueue}`;
    await pool.set(key, "before");
    server.cli("CLIENT", "KILL", "ID", String(await pool.send("CLIENT", "ID")));
    sleepSync(300); // the end of the stream stays unread, as above
    // Two writes in one tick: the pipeline's goes into the dead socket (it may have run), the SET's fails.
    const taken = pool.pipeline().incr(`${key}:count`).execute().catch((e: unknown) => e);
    const again = pool.set(key, "again").catch((e: unknown) => e);
    const [first, second] = await Promise.all([taken, again]);
    assert.ok(first instanceof ConnectionError && !first.unsent, `the socket took the pipeline: ${first}`);
    if (offlineQueue) {
      assert.equal(second, "OK", `sent again on the new connection: ${second}`);
    } else {
      assert.ok(second instanceof ConnectionError && second.unsent, `nothing waits, so it rejects: ${second}`);
    }
    assert.equal(server.cli("GET", key), offlineQueue ? "again" : "before");
  }
});

test("a command sent again waits for a connection no longer than offlineTimeout, then rejects, unsent", async () => {
  const gone = await startRedis();
  try {
    await using pool = connectPool({ host: gone.host, port: gone.port, size: 1, offlineTimeout: 300 });
    await pool.set("rr:gone", "before");
    gone.cli("CLIENT", "KILL", "ID", String(await pool.send("CLIENT", "ID")));
    sleepSync(300);
    gone.cli("SHUTDOWN", "NOSAVE"); // nothing will answer again
    const taken = pool.pipeline().incr("rr:gone:count").execute().catch((e: unknown) => e);
    const t0 = Date.now();
    const again = await pool.set("rr:gone", "again").catch((e: unknown) => e);
    assert.ok((await taken) instanceof ConnectionError);
    assert.ok(
      again instanceof ConnectionError && again.unsent && /offlineTimeout \(300 ms\)/.test(again.message),
      `${again}`,
    );
    assert.ok(Date.now() - t0 < 3_000, `rejected after ${Date.now() - t0} ms`);
  } finally {
    await gone[Symbol.asyncDispose]();
  }
});

test("a command timeout still fires on a connection the runtime reads, and the connection comes back", async () => {
  const c = core({ size: 1, commandTimeout: 150 });
  await until(() => c.runtimeReads === 1, 5_000, "the connection read by the runtime");
  await sleep(100); // the I/O thread sleeps: nothing owed
  const t0 = Date.now();
  await assert.rejects(call(c, "DEBUG", "SLEEP", "0.6"), TimeoutError);
  const took = Date.now() - t0;
  assert.ok(took >= 140 && took < 600, `timed out after ${took} ms`);
  await sleep(600); // the server sleeps for everyone
  await until(async () => (await call(c, "PING").catch(() => "")) === "PONG", 5_000, "the connection up again");
  await until(() => c.runtimeReads === 1, 5_000, "the new socket read by the runtime");
  await c.close();
});

test("an added connection that asks is read by the runtime and let go when removed; exclusive ones and others stay with the thread", async () => {
  const c = core({ size: 1, exclusiveConnections: 1 });
  await until(() => c.runtimeReads === 1, 5_000, "the shared connection read by the runtime");
  const bytes = encodeConnectionSettings(clientSettings(server.host, server.port));
  const added = c.addConnection(bytes, Role.DIRECT, 0);
  await until(() => c.runtimeReads === 2, 5_000, "the added connection read by the runtime");
  assert.equal(await c.call(added, "ECHO", ["added"], null, false), "added");
  const threadRead = c.addConnection(bytes); // a blocking command's, say: read by the I/O thread
  assert.equal(await c.call(threadRead, "ECHO", ["thread"], null, false), "thread");
  assert.equal(c.runtimeReads, 2);
  c.removeConnection(threadRead);
  const exclusive = await c.acquire();
  assert.equal(await c.call(exclusive, "BLPOP", ["rr:list", "0.05"], null, false), null);
  assert.equal(c.runtimeReads, 2);
  c.release(exclusive, true);
  c.removeConnection(added);
  assert.equal(c.runtimeReads, 1);
  await c.close();
});

test("handed over with PARSE_ASIDE (a subscriber's): large chunks parsed by the I/O thread, small ones at once, in order", async () => {
  const c = core({ size: 1 });
  const added = c.addConnection(
    encodeConnectionSettings(clientSettings(server.host, server.port)),
    Role.DIRECT,
    HandOver.PARSE_ASIDE,
  );
  await until(() => c.runtimeReads === 2, 5_000, "the added connection read by the runtime");
  const big = "x".repeat(300_000);
  const sent = Array.from({ length: 300 }, (_, i) => i % 7 === 0 ? `${big}${i}` : `${i}\r\n\0é`);
  const replies = await Promise.all(sent.map((value) => c.call(added, "ECHO", [value], null, false)));
  assert.deepEqual(replies, sent);
  assert.equal(await c.call(added, "ECHO", ["alone"], null, false), "alone");
  assert.equal(c.runtimeReads, 2);
  await c.close();
});

test("a paused connection the runtime reads holds its replies until resumed", async () => {
  const c = core({ size: 1 });
  const added = c.addConnection(encodeConnectionSettings(clientSettings(server.host, server.port)), Role.DIRECT, 0);
  await until(() => c.runtimeReads === 2, 5_000, "the added connection read by the runtime");
  c.pause(added, true);
  let got: unknown = undefined;
  const reply = c.call(added, "ECHO", ["held"], null, false).then((r) => got = r);
  await sleep(150);
  assert.equal(got, undefined);
  c.pause(added, false);
  await reply;
  assert.equal(got, "held");
  await c.close();
});

test("with the client-side cache every connection stays with the I/O thread", async () => {
  const c = core({ size: 2, protocol: 3, clientCache: true });
  await until(() => c.connected === 2, 5_000, "both connections up");
  assert.equal(await call(c, "PING"), "PONG");
  assert.equal(c.runtimeReads, 0);
  await c.close();
});

test("connections killed faster than their records are drained: every call settles, each connect is read", async () => {
  // An UP record drained late names a connect that already failed while the connection is up again: the
  // reader it made reads the new connect, and the later UP must not replace it with none.
  const c = core({ size: 3, name: "rr-kill-loop", reconnectMaxDelay: 10 });
  await until(() => c.runtimeReads === 3, 5_000, "three connections read by the runtime");
  let stop = false, downs = 0;
  c.onEvent = (event) => void (downs += event.type === "down" ? 1 : 0);
  const killer = (async () => {
    while (!stop) {
      await sleep(15);
      // One at a time, each redis-cli blocking this thread meanwhile: the others fail and come back between.
      const ids = server.cli("CLIENT", "LIST").split("\n").filter((l) => l.includes("name=rr-kill-loop"));
      for (const line of ids) server.cli("CLIENT", "KILL", "ID", line.match(/id=(\d+)/)![1]!);
    }
  })();
  try {
    const end = Date.now() + 2_000;
    for (let round = 0; Date.now() < end || downs < 10; round++) {
      const calls = Array.from({ length: 2000 }, (_, i) => call(c, "ECHO", `${round}:${i}`));
      let timer: ReturnType<typeof setTimeout> | undefined;
      const settled = await Promise.race([
        Promise.allSettled(calls),
        new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), 5_000)),
      ]);
      clearTimeout(timer);
      assert.ok(settled !== null, `round ${round}: ${c.pending} calls still pending after 5 s`);
      for (const [i, s] of settled.entries()) {
        if (s.status === "fulfilled") assert.equal(s.value, `${round}:${i}`);
        else assert.ok(s.reason instanceof ConnectionError, String(s.reason));
      }
    }
  } finally {
    stop = true;
    await killer;
  }
  await until(async () => (await call(c, "PING").catch(() => "")) === "PONG", 5_000, "a connection up again");
  await until(() => c.runtimeReads === 3 && c.connected === 3, 5_000, "every connection read by the runtime again");
  await c.close();
});
