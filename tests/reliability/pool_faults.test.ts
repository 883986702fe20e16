/**
 * The pool when things go wrong: connections killed with commands in flight
 * (also during BLPOP), server restarts, timeouts, close with work in flight,
 * peers that do not speak RESP. No promise may hang; each failure rejects
 * exactly the commands its connection carried.
 */
import assert from "node:assert/strict";
import { afterAll, test } from "../harness/shim.ts";
import { startRedis } from "../harness/server.ts";
import { sleep, until } from "../harness/wait.ts";
import { PEER_OPTIONS, startPeer } from "../harness/peer.ts";
import { ClosedError, ConnectionError, connectPool, ProtocolError, ReplyError, TimeoutError } from "../../mod.ts";

const server = await startRedis();
afterAll(() => server[Symbol.asyncDispose]());

/** Ids of the server's clients named `name`, with the command each last ran. */
function clients(name: string): { id: string; cmd: string }[] {
  return server.cli("CLIENT", "LIST").split("\n").filter((line) => line.includes(` name=${name} `)).map((line) => ({
    id: /\bid=(\d+)/.exec(line)?.[1] ?? "",
    cmd: /\bcmd=(\S+)/.exec(line)?.[1] ?? "",
  }));
}

/** Waits until `check` holds, failing after `ms`; most checks list the server's clients, a process each. */
const eventually = (check: () => boolean | Promise<boolean>, ms = 10_000) => until(check, ms, "the condition", 20);

/**
 * Issues `batches` pipelines of `per` SETs (a pipeline keeps to one
 * connection) and returns each one's settled replies.
 */
function batchesInFlight(pool: ReturnType<typeof connectPool>, key: string, batches: number, per: number) {
  const out: Promise<PromiseSettledResult<unknown>[]>[] = [];
  for (let b = 0; b < batches; b++) {
    const pipeline = pool.pipeline();
    for (let i = 0; i < per; i++) pipeline.set(`${key}:${b}:${i}`, "v");
    // Each to the least busy connection at the time: two per connection.
    out.push(
      pipeline.execute().then((replies) => replies.map((value) => ({ status: "fulfilled" as const, value })), (
        reason,
      ) => Array.from({ length: per }, () => ({ status: "rejected" as const, reason }))),
    );
  }
  return out;
}

test("CLIENT KILL mid-flight rejects exactly the killed connections' commands; the rest keep serving", async () => {
  const pool = connectPool({ host: server.host, port: server.port, size: 4, name: "kill-mid" });
  await Promise.all(Array.from({ length: 8 }, () => pool.ping()));
  await eventually(() => clients("kill-mid").length === 4);
  // Writes wait on the server while it is paused: they are in flight for sure.
  server.cli("CLIENT", "PAUSE", "10000", "WRITE");
  try {
    const batches = batchesInFlight(pool, "km", 8, 500);
    await sleep(50); // sent by now
    const ids = clients("kill-mid").map((c) => c.id);
    for (const id of ids.slice(0, 2)) assert.equal(server.cli("CLIENT", "KILL", "ID", id), "1");
    server.cli("CLIENT", "UNPAUSE");
    let failed = 0, succeeded = 0;
    for (const batch of batches) {
      const settled = await batch;
      const rejected = settled.filter((s) => s.status === "rejected");
      // A batch went to one connection: all of it succeeds or all of it fails.
      assert.ok(rejected.length === 0 || rejected.length === settled.length, `${rejected.length} of ${settled.length}`);
      for (const r of rejected) assert.ok((r as PromiseRejectedResult).reason instanceof ConnectionError);
      if (rejected.length) failed++;
      else succeeded++;
    }
    assert.equal(failed, 4);
    assert.equal(succeeded, 4);
  } finally {
    server.cli("CLIENT", "UNPAUSE");
  }
  // The pool kept serving, and reconnects the killed connections in the background.
  assert.equal(await pool.set("km:after", "1"), "OK");
  await eventually(() => clients("kill-mid").length === 4);
  await eventually(() => pool.connected === 4);
  await pool.close();
});

test("CLIENT KILL during BLPOP rejects the BLPOP with ConnectionError, and blocking works again", async () => {
  const pool = connectPool({ host: server.host, port: server.port, size: 2, name: "kill-blpop" });
  const blocked = pool.send("BLPOP", "kb:never", "0");
  await eventually(() => clients("kill-blpop").some((c) => c.cmd === "blpop"));
  const other = pool.incr("kb:n"); // shared connections are not held up
  assert.equal(await other, 1);
  const victim = clients("kill-blpop").find((c) => c.cmd === "blpop")!;
  server.cli("CLIENT", "KILL", "ID", victim.id);
  await assert.rejects(blocked, ConnectionError);
  const again = pool.send("BLPOP", "kb:list", "5");
  await pool.rpush("kb:list", "x");
  assert.deepEqual(await again, ["kb:list", "x"]);
  await pool.close();
});

test("killing every connection repeatedly under load: every promise settles, replies stay matched", async () => {
  const pool = connectPool({ host: server.host, port: server.port, size: 3, name: "kill-loop", reconnectMaxDelay: 20 });
  let stop = false;
  const killer = (async () => {
    while (!stop) {
      await sleep(15);
      for (const c of clients("kill-loop")) server.cli("CLIENT", "KILL", "ID", c.id);
    }
  })();
  let ok = 0, failed = 0;
  for (let round = 0; round < 30; round++) {
    const calls = Array.from({ length: 2000 }, (_, i) => pool.send("ECHO", `${round}:${i}`));
    const settled = await Promise.allSettled(calls);
    settled.forEach((s, i) => {
      if (s.status === "fulfilled") {
        assert.equal(s.value, `${round}:${i}`);
        ok++;
      } else {
        assert.ok(s.reason instanceof ConnectionError, String(s.reason));
        failed++;
      }
    });
  }
  stop = true;
  await killer;
  assert.ok(ok > 0);
  await eventually(async () => (await pool.ping().catch(() => "")) === "PONG");
  assert.equal(pool.pending, 0);
  await pool.close();
  assert.ok(failed >= 0);
});

test("a server restart rejects the commands in flight; the pool reconnects by itself", async () => {
  const pool = connectPool({ host: server.host, port: server.port, size: 3, reconnectMaxDelay: 100 });
  await pool.set("restart:k", "v");
  server.cli("CLIENT", "PAUSE", "10000", "WRITE");
  const inFlight = Promise.allSettled(Array.from({ length: 1000 }, (_, i) => pool.set(`restart:${i}`, "v")));
  await sleep(50);
  await server.restart();
  const settled = await inFlight;
  for (const s of settled) {
    assert.equal(s.status, "rejected");
    assert.ok((s as PromiseRejectedResult).reason instanceof ConnectionError);
  }
  // Calls fail fast with ConnectionError until a connection is back, then succeed.
  await eventually(async () => {
    try {
      return (await pool.get("restart:k")) === null; // a fresh, empty server
    } catch (e) {
      assert.ok(e instanceof ConnectionError);
      return false;
    }
  });
  await eventually(() => pool.connected === 3);
  assert.equal(await pool.ping(), "PONG");
  await pool.close();
});

test("offlineQueue: false: while the server is down calls reject with ConnectionError, none hangs", async () => {
  const pool = connectPool({
    host: server.host,
    port: server.port,
    size: 2,
    reconnectMaxDelay: 50,
    offlineQueue: false,
  });
  assert.equal(await pool.ping(), "PONG");
  await server.stop();
  try {
    for (let i = 0; i < 20; i++) {
      const settled = await Promise.allSettled([pool.ping(), pool.send("BLPOP", "down:q", "1"), pool.get("x")]);
      for (const s of settled) {
        assert.equal(s.status, "rejected");
        assert.ok((s as PromiseRejectedResult).reason instanceof ConnectionError);
      }
      await sleep(10);
    }
  } finally {
    await server.restart();
  }
  await eventually(async () => (await pool.ping().catch(() => "")) === "PONG");
  await pool.close();
});

test("commandTimeout: a connection silent too long rejects its commands with TimeoutError", async () => {
  const pool = connectPool({ host: server.host, port: server.port, size: 2, commandTimeout: 200 });
  assert.equal(await pool.ping(), "PONG");
  server.cli("CLIENT", "PAUSE", "1500", "WRITE");
  try {
    const started = Date.now();
    await assert.rejects(pool.set("to:k", "v"), TimeoutError);
    assert.ok(Date.now() - started < 1400);
  } finally {
    server.cli("CLIENT", "UNPAUSE");
  }
  await eventually(async () => (await pool.set("to:k", "v").catch(() => "")) === "OK");
  await pool.close();
});

test("close() with work stuck on the server: in-flight commands reject with ClosedError after closeTimeout", async () => {
  const pool = connectPool({ host: server.host, port: server.port, size: 2, closeTimeout: 200 });
  assert.equal(await pool.ping(), "PONG");
  server.cli("CLIENT", "PAUSE", "5000", "WRITE");
  try {
    const stuck = Promise.allSettled(Array.from({ length: 100 }, (_, i) => pool.set(`stuck:${i}`, "v")));
    const reads = Promise.allSettled(Array.from({ length: 100 }, (_, i) => pool.get(`stuck:${i}`))); // not paused
    await sleep(20);
    const started = Date.now();
    await pool.close();
    assert.ok(Date.now() - started < 3000);
    for (const s of await stuck) {
      assert.equal(s.status, "rejected");
      assert.ok((s as PromiseRejectedResult).reason instanceof ClosedError);
    }
    assert.equal((await reads).length, 100);
  } finally {
    server.cli("CLIENT", "UNPAUSE");
  }
});

test("a peer that answers garbage rejects with ProtocolError; one that hangs up, with ConnectionError", async () => {
  const garbage = await startPeer("garbage");
  try {
    const pool = connectPool({
      host: "127.0.0.1",
      port: garbage.port,
      size: 1,
      reconnectMaxDelay: 20,
      ...PEER_OPTIONS,
    });
    await assert.rejects(pool.ping(), (e: unknown) => e instanceof ProtocolError && e instanceof ConnectionError);
    await pool.close();
  } finally {
    garbage.stop();
  }
  const closer = await startPeer("close");
  try {
    const pool = connectPool({ host: "127.0.0.1", port: closer.port, size: 1, reconnectMaxDelay: 20 });
    await assert.rejects(pool.ping(), ConnectionError);
    await pool.close();
  } finally {
    closer.stop();
  }
});

test("an error reply on a connection that later dies does not disturb the others' replies", async () => {
  const pool = connectPool({ host: server.host, port: server.port, size: 2, name: "mixed" });
  await pool.set("mixed:s", "x");
  const calls = Array.from(
    { length: 300 },
    (_, i) => (i % 3 === 0 ? pool.incr("mixed:s") : pool.send("ECHO", `m${i}`)),
  );
  const settled = await Promise.allSettled(calls);
  settled.forEach((s, i) => {
    if (i % 3 === 0) assert.ok(s.status === "rejected" && s.reason instanceof ReplyError);
    else assert.deepEqual(s, { status: "fulfilled", value: `m${i}` });
  });
  await pool.close();
});
