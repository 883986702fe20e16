/**
 * Riding out an outage: with the offline queue (the default), commands
 * issued while no connection is up wait for one, at most `offlineTimeout`,
 * instead of failing in the first millisecond; commands that were in flight
 * when the server died reject (never resent).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, test } from "../harness/shim.ts";
import { freePort, type RedisServer, startRedis } from "../harness/server.ts";
import { connect, ConnectionError, connectPool, type Pool, type PoolOptions, ReplyError } from "../../mod.ts";

const server = await startRedis();
afterAll(() => server[Symbol.asyncDispose]());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("a restart under steady load: every command issued while the server was down resolves once it is back", async () => {
  const pool = connectPool({ host: server.host, port: server.port, size: 4, reconnectMaxDelay: 100 });
  await pool.set("outage:k", "v");
  let stop = false, issued = 0, resolved = 0, inFlightAtCrash = 0;
  const failures: unknown[] = [];
  // A steady load: batches of 50 GETs, each batch awaited.
  const load = (async () => {
    while (!stop) {
      const batch = Array.from({ length: 50 }, () => pool.set("outage:n", String(issued++)));
      for (const r of await Promise.allSettled(batch)) {
        if (r.status === "fulfilled") resolved++;
        else failures.push(r.reason);
      }
    }
  })();
  await sleep(100);
  await server.stop();
  // Until the pool has seen its connections close, a command may still be written into one of them (and fail with
  // it, as one in flight): "down" starts when the pool knows.
  while (pool.connected > 0) await sleep(1);
  const duringOutage = Promise.allSettled(Array.from({ length: 200 }, (_, i) => pool.set(`outage:down:${i}`, "x")));
  await sleep(300); // down for a while
  await server.restart();
  const settled = await duringOutage;
  assert.deepEqual(settled.map((s) => s.status === "fulfilled" ? s.value : String(s.reason)), Array(200).fill("OK"));
  await sleep(100);
  stop = true;
  await load;
  inFlightAtCrash = failures.length;
  // Only commands on the wire when the server died may fail, and only with ConnectionError.
  assert.ok(failures.every((e) => e instanceof ConnectionError), String(failures[0]));
  assert.ok(inFlightAtCrash <= 200, `${inFlightAtCrash} failed`);
  assert.ok(resolved > 0);
  assert.equal(server.cli("GET", "outage:down:199"), "x");
  await pool.close();
});

test("offlineTimeout bounds the wait: an unreachable server rejects with ConnectionError that says so", async () => {
  const port = await freePort();
  const pool = connectPool({ host: "127.0.0.1", port, size: 2, reconnectMaxDelay: 50, offlineTimeout: 200 });
  const started = Date.now();
  const calls = await Promise.allSettled(Array.from({ length: 100 }, () => pool.get("k")));
  const waited = Date.now() - started;
  for (const c of calls) {
    assert.equal(c.status, "rejected");
    const reason = (c as PromiseRejectedResult).reason;
    assert.ok(reason instanceof ConnectionError);
    assert.ok(reason.unsent, "it never left");
    assert.match(reason.message, /offlineTimeout \(200 ms\)/);
  }
  assert.ok(waited >= 150 && waited < 2000, `${waited} ms`);
  await pool.close();
});

test("commands issued right after connectPool() wait for the first connection instead of failing", async () => {
  const pool = connectPool({ host: server.host, port: server.port, size: 2 });
  assert.deepEqual(await Promise.all([pool.ping(), pool.set("outage:first", "1"), pool.get("outage:first")]), [
    "PONG",
    "OK",
    "1",
  ]);
  await pool.close();
});

/**
 * A server that restarts with data reads it before it serves, answering every command LOADING meanwhile (1-2 s
 * here: 6,000 keys, each read 100 µs late, the server answering between keys).
 */
async function loadingServer() {
  const loader = await startRedis({
    args: ["--key-load-delay", "100", "--loading-process-events-interval-bytes", "1024"],
  });
  loader.cli("DEBUG", "POPULATE", "6000", "k", "16");
  loader.cli("SAVE");
  return loader;
}

/** A pool of 2 on `server` that redials within 50 ms, with `options`. */
function poolOn(server: RedisServer, options: PoolOptions): Pool {
  return connectPool({ host: server.host, port: server.port, size: 2, reconnectMaxDelay: 50, ...options });
}

test("a server loading its data after a restart: the pool's commands wait for it (the ready check), none fails with LOADING", async () => {
  await using loader = await loadingServer();
  const pool = poolOn(loader, { offlineTimeout: 30_000 });
  const errors: string[] = [];
  pool.on("error", ({ error }) => errors.push(error.message));
  assert.equal(await pool.get("k:1"), "value:1".padEnd(16, "\0"));
  await loader.restart({ loading: true });
  while (pool.connected > 0) await sleep(1);
  assert.match(loader.cli("PING"), /^LOADING/, "the server still loads when the commands are issued");
  const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => pool.get(`k:${i}`)));
  assert.deepEqual(replies, Array.from({ length: 100 }, (_, i) => `value:${i}`.padEnd(16, "\0")));
  assert.equal(loader.cli("PING"), "PONG");
  // Loading is not a failure: the only error events are the restart's.
  assert.ok(errors.every((m) => !/LOADING/.test(m)), errors.join("; "));
  await pool.close();
});

test("a server that reads its data again under open connections (DEBUG RELOAD, as a replica's full resync): the pool's commands wait for it", async () => {
  await using loader = await loadingServer();
  const pool = poolOn(loader, { offlineTimeout: 30_000 });
  const admin = poolOn(loader, { size: 1 });
  const value = (i: number) => `value:${i}`.padEnd(16, "\0");
  assert.equal(await pool.get("k:1"), value(1));
  await sleep(50); // both connections up
  const reload = admin.send("DEBUG", "RELOAD");
  while (!/^LOADING/.test(loader.cli("PING"))) await sleep(5);
  // Sent before the pool knew: answered, or refused with LOADING.
  for (const r of await Promise.allSettled([pool.get("k:2"), pool.get("k:3")])) {
    assert.ok(r.status === "fulfilled" || (r.reason instanceof ReplyError && /^LOADING/.test(r.reason.message)));
  }
  assert.match(loader.cli("PING"), /^LOADING/, "the server still loads when the commands are issued");
  const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => pool.get(`k:${i}`)));
  assert.deepEqual(replies, Array.from({ length: 100 }, (_, i) => value(i)));
  assert.equal(await reload, "OK");
  // The synchronous client: the call the server refused rejects; the next one waits for the data (connectTimeout).
  const client = connect(loader.host, loader.port);
  assert.equal(client.get("k:1"), value(1));
  const again = admin.send("DEBUG", "RELOAD");
  while (!/^LOADING/.test(loader.cli("PING"))) await sleep(5);
  assert.throws(() => client.get("k:2"), (e) => e instanceof ReplyError && /^LOADING/.test(e.message));
  assert.equal(client.get("k:3"), value(3));
  assert.equal(loader.cli("PING"), "PONG");
  assert.equal(await again, "OK");
  client.close();
  await admin.close();
  await pool.close();
});

test("the synchronous client waits for a loading server within connectTimeout, else a ConnectionError says LOADING; readyCheck: false leaves the LOADING replies to the caller", async () => {
  await using loader = await loadingServer();
  await loader.restart({ loading: true });
  const unchecked = connect(loader.host, loader.port, { readyCheck: false });
  assert.throws(() => unchecked.get("k:1"), (e) => e instanceof ReplyError && /^LOADING/.test(e.message));
  unchecked.close();
  const started = Date.now();
  assert.throws(
    () => connect(loader.host, loader.port, { connectTimeout: 200 }),
    (e) => e instanceof ConnectionError && /still loading its data \(LOADING\) after 200 ms/.test(e.message),
  );
  assert.ok(Date.now() - started < 1000, `${Date.now() - started} ms`);
  assert.match(loader.cli("PING"), /^LOADING/, "the server still loads when the client connects");
  const patient = connect(loader.host, loader.port);
  assert.equal(loader.cli("PING"), "PONG", "connect returned once the data was read");
  assert.equal(patient.get("k:5999"), "value:5999".padEnd(16, "\0"));
  patient.close();
});

test("offlineQueue: false fails fast while the server loads its data: a ConnectionError that says so, never sent", async () => {
  await using loader = await loadingServer();
  const pool = poolOn(loader, { offlineQueue: false });
  assert.equal(await pool.get("k:1"), "value:1".padEnd(16, "\0"));
  await loader.restart({ loading: true });
  await sleep(300); // the connections are back, and told LOADING
  assert.match(loader.cli("PING"), /^LOADING/);
  const started = Date.now();
  await assert.rejects(
    pool.get("k:1"),
    (e: unknown) =>
      e instanceof ConnectionError && e.unsent &&
      e.message ===
        `cpipe: ${loader.host}:${loader.port}: no connection is up: the server is loading its data (LOADING)`,
  );
  assert.ok(Date.now() - started < 100, `${Date.now() - started} ms`);
  await pool.close();
});

test("reconnectOnReadOnly: after a failover that moves the address (a socket's link here, a DNS name in production), writes go to the new master", async () => {
  await using oldMaster = await startRedis();
  await using newMaster = await startRedis();
  const dir = mkdtempSync(join(tmpdir(), "cpipe-link-"));
  const link = join(dir, "redis.sock");
  symlinkSync(oldMaster.socket, link);
  const pool = connectPool({ path: link, size: 1, reconnectMaxDelay: 50, reconnectOnReadOnly: true });
  const stuck = connectPool({ path: link, size: 1 });
  const client = connect({ path: link, reconnectOnReadOnly: true });
  // A quiet pool of several: its connections are each handed one write at a time.
  const quiet = connectPool({ path: link, size: 4, reconnectMaxDelay: 50, reconnectOnReadOnly: true });
  try {
    assert.equal(await pool.set("ro:k", "1"), "OK");
    assert.equal(await stuck.set("ro:k", "1"), "OK");
    assert.equal(client.set("ro:k", "1"), "OK");
    await quiet.set("ro:q", "0");
    await sleep(100); // all four are up
    for (let i = 0; i < 8; i++) assert.equal(await quiet.set("ro:q", String(i)), "OK");
    // The failover: the old master follows the new one, and the name moves to the new one.
    oldMaster.cli("REPLICAOF", "127.0.0.1", String(newMaster.port));
    rmSync(link);
    symlinkSync(newMaster.socket, link);
    const readOnly = (e: unknown) => e instanceof ReplyError && /^READONLY/.test(e.message);
    await assert.rejects(pool.set("ro:k", "2"), readOnly);
    assert.equal(await pool.set("ro:k", "3"), "OK");
    assert.throws(() => client.set("ro:k", "4"), readOnly);
    assert.equal(client.set("ro:k", "5"), "OK");
    assert.equal(newMaster.cli("GET", "ro:k"), "5");
    // The first READONLY retires the other three too: no later write goes to the old master.
    await assert.rejects(quiet.set("ro:q", "a"), readOnly);
    for (let i = 0; i < 8; i++) assert.equal(await quiet.set("ro:q", String(i)), "OK");
    assert.equal(newMaster.cli("GET", "ro:q"), "7");
    // Without the option the connection stays with the replica.
    for (let i = 0; i < 3; i++) await assert.rejects(stuck.set("ro:k", "6"), readOnly);
  } finally {
    // A master with a replica waits for it before it exits (shutdown-timeout): none, so both stop at once.
    oldMaster.cli("REPLICAOF", "NO", "ONE");
    client.close();
    await pool.close();
    await stuck.close();
    await quiet.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
