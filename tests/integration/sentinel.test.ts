/**
 * Redis Sentinel against a real set the harness starts and stops: a master, one replica, three sentinels. The
 * pool and the synchronous client find the master, a replica serves reads, the master stopped during writes is
 * replaced by its replica and both clients follow, nothing hangs, and a process exits after close.
 */
import { type AddressInfo, createServer } from "node:net";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { afterAll, test } from "../harness/shim.ts";
import { runChild } from "../harness/child.ts";
import { runCli, type SentinelSet, startSentinels } from "../harness/server.ts";
import { ClosedError, connect, ConnectionError, CpipeError, type Reply, ReplyError } from "../../mod.ts";
import { connectSentinel, connectSentinelPool } from "../../sentinel.ts";
import { sleepSync } from "../../src/offline_wait.ts";

const set: SentinelSet = await startSentinels({ downAfter: 1000 });
afterAll(() => set.stop());
const sentinels = () => set.sentinels.map((port) => `redis://127.0.0.1:${port}`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `step` again and again for `ms`; returns the longest time the event loop did not turn meanwhile (ms). */
async function longestStall(ms: number, step: () => Promise<void>): Promise<number> {
  let worst = 0, last = Date.now();
  const timer = setInterval(() => {
    worst = Math.max(worst, Date.now() - last);
    last = Date.now();
  }, 10);
  const until = Date.now() + ms;
  while (Date.now() < until) await step();
  clearInterval(timer);
  return Math.max(worst, Date.now() - last); // with a stall just before the end, which no tick of the timer saw
}

test("sentinel: the pool and the client find the master; a replica serves reads", async () => {
  await using pool = await connectSentinelPool({ sentinels: sentinels(), name: set.name });
  assert.deepEqual(pool.address, `127.0.0.1:${set.master.port}`);
  const setting = pool.set("s:k", "v");
  assert.deepEqual(pool.pending, 1);
  assert.deepEqual(await setting, "OK");
  assert(pool.connected >= 1, `${pool.connected} connections up`);
  assert.deepEqual(pool.pending, 0);
  assert.deepEqual(await pool.pipeline().get("s:k").incr("s:n").execute(), ["v", 1]);
  assert.deepEqual(await pool.multi().get("s:k").incr("s:n").exec(), ["v", 2]);
  // Pub/Sub, on a connection of its own to the server.
  const heard: string[] = [];
  const sub = await pool.subscribe("s:ch", ({ message }) => void heard.push(message));
  assert.deepEqual(await pool.publish("s:ch", "hello"), 1);
  for (let i = 0; i < 100 && heard.length === 0; i++) await sleep(10);
  assert.deepEqual(heard, ["hello"]);
  await sub.unsubscribe();
  {
    // WATCH needs a connection of its own, as on a pool.
    await using c = await pool.acquire();
    await c.watch("s:n");
    await pool.incr("s:n");
    assert.deepEqual(await c.multi().incr("s:n").exec(), null);
  }
  using client = connectSentinel({ sentinels: sentinels(), name: set.name });
  assert.deepEqual(client.address, `127.0.0.1:${set.master.port}`);
  assert.deepEqual(client.get("s:k"), "v");
  // The SCAN family's iterators, on both; the synchronous client's own queue.
  assert.deepEqual([...client.scanIterator({ match: "s:k" })], ["s:k"]);
  assert.deepEqual(client.addCommand("GET", "s:k").addCommand("PING").execute(), ["v", "PONG"]);
  const scanned: string[] = [];
  for await (const key of pool.scanIterator({ match: "s:k" })) scanned.push(key);
  assert.deepEqual(scanned, ["s:k"]);
  assert.deepEqual(client.pipeline().get("s:k").incr("s:n").execute(), ["v", 4]);
  assert.deepEqual(client.multi().incr("s:n").exec(), [5]);
  await using reader = await connectSentinelPool({ sentinels: sentinels(), name: set.name, role: "replica" });
  assert.deepEqual(reader.address, `127.0.0.1:${set.replica.port}`);
  let value: unknown = null;
  for (let i = 0; i < 50 && value !== "v"; i++) {
    value = await reader.get("s:k");
    if (value !== "v") await sleep(20);
  }
  assert.deepEqual(value, "v");
  const refused = await reader.set("s:k", "w").catch((e) => e);
  assert(refused instanceof ReplyError && refused.code === "READONLY", String(refused));
  let error: unknown = null;
  await connectSentinelPool({ sentinels: sentinels(), name: "no-such-set" }).catch((e) => error = e);
  assert(error instanceof CpipeError && /no sentinel told/.test(error.message), String(error));
});

test("sentinel: the pool's client-side cache is invalidated by another client's write, one round trip later", async () => {
  await using pool = await connectSentinelPool({ sentinels: sentinels(), name: set.name, size: 1, clientCache: {} });
  using other = connect(set.master.host, set.master.port);
  other.set("s:cached", "v1");
  assert.deepEqual([await pool.get("s:cached"), await pool.get("s:cached")], ["v1", "v1"]);
  assert.deepEqual(pool.cacheStats?.hits, 1);
  other.set("s:cached", "v2");
  await pool.ping(); // the invalidation came before this reply
  assert.deepEqual(await pool.get("s:cached"), "v2");
  assert.deepEqual(pool.cacheStats?.invalidations, 1);
});

test("sentinel: connectionName names the connections to the servers (name is the set's)", async () => {
  await using pool = await connectSentinelPool({ sentinels: sentinels(), name: set.name, connectionName: "s-pool" });
  using client = connectSentinel({ sentinels: sentinels(), name: set.name, connectionName: "s-client" });
  assert.equal(await pool.send("CLIENT", "GETNAME"), "s-pool");
  assert.equal(client.send("CLIENT", "GETNAME"), "s-client");
});

test("sentinel: close() refuses the calls made after it at once, as a pool's does", async () => {
  const pool = await connectSentinelPool({ sentinels: sentinels(), name: set.name });
  assert.deepEqual(await pool.set("s:closing", "1"), "OK");
  const closing = pool.close();
  const refused = await pool.set("s:closing", "2").catch((e) => e);
  await closing;
  assert(refused instanceof ClosedError, String(refused));
  const client = connectSentinel({ sentinels: sentinels(), name: set.name });
  let closes = 0;
  client.on("close", () => void closes++);
  client.close();
  client.close();
  assert.equal(closes, 1);
  assert.throws(() => client.pipeline(), ClosedError);
  assert.throws(() => client.addCommand("PING"), ClosedError);
  await assert.rejects(pool.acquire(), ClosedError);
  assert.throws(() => client.get("s:closing"), ClosedError);
});

for (const mode of ["close", "idle", "subscribed", "unsubscribed"]) {
  test(`sentinel: a process ends by itself (${mode})`, async () => {
    const child = fileURLToPath(new URL("./exit_child.ts", import.meta.url));
    const r = await runChild(child, ["sentinel", mode, String(set.sentinels[0]), set.name]);
    assert.deepEqual(r.code, 0, r.output);
    assert(r.output.includes("done"), r.output);
  });
}

test("sentinel: a sentinel that never answers, listed first, lets a process end by itself", async () => {
  // Takes connections and says nothing: the `+switch-master` subscription made there is never confirmed.
  const silent = createServer(() => {});
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  try {
    const at = `${(silent.address() as AddressInfo).port},${set.sentinels[0]}`;
    const child = fileURLToPath(new URL("./exit_child.ts", import.meta.url));
    for (const mode of ["close", "idle"]) {
      const r = await runChild(child, ["sentinel", mode, at, set.name]);
      assert.deepEqual(r.code, 0, `${mode}: ${r.output}`);
      assert(r.output.includes("done"), r.output);
    }
  } finally {
    silent.close();
  }
});

/**
 * A sentinel of our own on a free port: names the set's master to SENTINEL GET-MASTER-ADDR-BY-NAME until `silent`,
 * then says nothing; answers +OK to anything else but SUBSCRIBE (never confirmed). `asking`: its connections that
 * asked where the master is and are still open.
 */
async function fakeSentinel(master: { host: string; port: number }) {
  const state = { silent: false, asking: new Set<unknown>(), port: 0 };
  const server = createServer((socket) => {
    let buffer = "";
    socket.on("error", () => {});
    socket.on("close", () => state.asking.delete(socket));
    socket.on("data", (chunk) => {
      buffer += chunk.toString("latin1");
      for (;;) { // one command: *N then N bulk strings
        const words: string[] = [];
        let at = 0;
        const line = () => {
          const end = buffer.indexOf("\r\n", at);
          if (end < 0) return null;
          const text = buffer.slice(at, end);
          at = end + 2;
          return text;
        };
        const head = line();
        if (head === null) return;
        let complete = true;
        for (let k = 0; k < Number(head.slice(1)); k++) {
          const size = line();
          if (size === null || buffer.length < at + Number(size.slice(1)) + 2) {
            complete = false;
            break;
          }
          words.push(buffer.slice(at, at + Number(size.slice(1))));
          at += Number(size.slice(1)) + 2;
        }
        if (!complete) return;
        buffer = buffer.slice(at);
        const name = words.map((w) => w.toUpperCase());
        if (name.includes("GET-MASTER-ADDR-BY-NAME")) {
          state.asking.add(socket);
          if (state.silent) continue;
          const port = String(master.port);
          socket.write(`*2\r\n$${master.host.length}\r\n${master.host}\r\n$${port.length}\r\n${port}\r\n`);
        } else if (name[0] === "HELLO") {
          socket.write("%1\r\n$6\r\nserver\r\n$5\r\nredis\r\n");
        } else if (name[0] !== "SUBSCRIBE" && name[0] !== "PSUBSCRIBE") socket.write("+OK\r\n");
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.port = (server.address() as AddressInfo).port;
  return Object.assign(state, { close: () => server.close() });
}

test("sentinel: close() during a poll leaves no connection to a sentinel asked after it", async () => {
  const first = await fakeSentinel(set.master), second = await fakeSentinel(set.master);
  try {
    const at = [first, second].map((f) => `redis://127.0.0.1:${f.port}`);
    const pool = await connectSentinelPool({ sentinels: at, name: set.name, pollInterval: 20 });
    assert.equal(await pool.ping(), "PONG");
    first.silent = true; // the next poll waits on it (1 s), then asks the second
    await sleep(200);
    await pool.close();
    await sleep(1_500);
    assert.equal(second.asking.size, 0, "a poll that outlived close() left a pool connected to a sentinel");
  } finally {
    first.close();
    second.close();
  }
});

test("sentinel: a silent sentinel listed first never stops the pool's event loop", async () => {
  const silent = createServer(() => {});
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  try {
    const at = [`redis://127.0.0.1:${(silent.address() as AddressInfo).port}`, ...sentinels()];
    await using pool = await connectSentinelPool({ sentinels: at, name: set.name, pollInterval: 100 });
    const worst = await longestStall(1_500, async () => assert.equal(await pool.ping(), "PONG"));
    assert.ok(worst < 300, `the event loop stood still for ${worst} ms`);
  } finally {
    silent.close();
  }
});

test("sentinel: sentinels that stop answering never stop the pool's event loop", async () => {
  await using own = await startSentinels({ downAfter: 1000 });
  const at = own.sentinels.map((port) => `redis://127.0.0.1:${port}`);
  await using pool = await connectSentinelPool({ sentinels: at, name: own.name, pollInterval: 100 });
  // Connected and silent, as behind a partition: each question waits out its timeout (1 s), at every poll.
  own.freezeSentinels(true);
  try {
    const worst = await longestStall(2_500, async () => assert.equal(await pool.ping(), "PONG"));
    assert.ok(worst < 300, `the event loop stood still for ${worst} ms`);
  } finally {
    own.freezeSentinels(false);
  }
});

test("sentinel: redials that fail do not count as more connections lost: the others keep serving", async () => {
  set.master.cli("ACL", "SETUSER", "drift", "on", ">before", "~*", "+@all");
  try {
    await using pool = await connectSentinelPool({
      sentinels: sentinels(),
      name: set.name,
      username: "drift",
      password: "before",
      size: 2,
      offlineTimeout: 5_000,
    });
    await Promise.all(Array.from({ length: 20 }, () => pool.ping()));
    let errors = 0;
    pool.on("error", () => errors++);
    // Its password changed, the killed connection's redials fail, each with an error event; the other stays up.
    set.master.cli("ACL", "SETUSER", "drift", "resetpass", ">after");
    const id = /id=(\d+) .*user=drift/.exec(set.master.cli("CLIENT", "LIST", "TYPE", "normal"))![1]!;
    set.master.cli("CLIENT", "KILL", "ID", id);
    const killedAt = Date.now();
    while (errors < 3 && Date.now() - killedAt < 10_000) await sleep(20);
    assert(errors >= 3, `${errors} errors`);
    const askedAt = Date.now();
    assert.equal(await pool.ping(), "PONG");
    assert(Date.now() - askedAt < 1_000, `answered after ${Date.now() - askedAt} ms`);
  } finally {
    set.master.cli("ACL", "DELUSER", "drift");
  }
});

test("sentinel: the master stopped during writes: the pool and the client follow the failover", async () => {
  await using pool = await connectSentinelPool({ sentinels: sentinels(), name: set.name, pollInterval: 200 });
  using client = connectSentinel({ sentinels: sentinels(), name: set.name });
  // A subscription follows the pool to the new master: made again there, the gap reported.
  const heard: string[] = [], gaps: unknown[] = [];
  pool.on("gap", (gap) => void gaps.push(gap));
  const sub = await pool.subscribe("s:news", ({ message }) => void heard.push(message));
  const acked: string[] = [], failed: unknown[] = [];
  let stop = false, n = 0;
  const loops = Array.from({ length: 8 }, async (_, w) => {
    while (!stop) {
      const value = `${w}:${n++}`;
      try {
        await pool.rpush("s:list", value);
        acked.push(value);
      } catch (e) {
        failed.push(e);
        await sleep(20);
      }
    }
  });
  await sleep(200);
  await set.master.stop(); // SIGTERM: Redis 7 lets the replica catch up before it exits
  const stoppedAt = Date.now();
  while (pool.address !== `127.0.0.1:${set.replica.port}` && Date.now() - stoppedAt < 30_000) await sleep(50);
  assert.deepEqual(pool.address, `127.0.0.1:${set.replica.port}`, "the pool follows the new master");
  const atSwitch = acked.length;
  await sleep(300);
  stop = true;
  // Nothing hangs: every writer's last promise settles.
  const settled = await Promise.race([Promise.all(loops).then(() => true), sleep(15_000).then(() => false)]);
  assert(settled, "every write settled");
  assert(acked.length > atSwitch, "writes go on after the failover");
  for (const e of failed) assert(e instanceof CpipeError, `a typed error: ${e}`);
  const stored = await pool.lrange("s:list", 0, -1);
  const set_ = new Set(stored);
  for (const v of acked) assert(set_.has(v), `acknowledged ${v} is on the new master`);
  assert.deepEqual(pool.switches, 1);
  // The synchronous client: its next calls reach the new master (one may fail with the old connection).
  let value: unknown = null;
  for (let i = 0; i < 3 && value !== stored.length; i++) {
    try {
      value = client.llen("s:list");
    } catch (e) {
      assert(e instanceof CpipeError, String(e));
    }
  }
  assert.deepEqual(value, stored.length);
  assert.deepEqual(client.address, `127.0.0.1:${set.replica.port}`);
  assert.deepEqual(client.pipeline().llen("s:list").rpush("s:list", "p").execute(), [stored.length, stored.length + 1]);
  assert.deepEqual(client.multi().lpop("s:list").exec(), [stored[0]]);
  for (let i = 0; i < 300 && gaps.length === 0; i++) await sleep(10);
  assert.deepEqual(gaps.length, 1, "the subscription's gap was reported");
  assert.deepEqual(await pool.publish("s:news", "after"), 1, "subscribed on the new master");
  for (let i = 0; i < 100 && heard.length === 0; i++) await sleep(10);
  assert.deepEqual(heard, ["after"]);
  await sub.unsubscribe();
  // A connection acquired now is the new master's.
  await using lease = await pool.acquire();
  assert.deepEqual((await lease.send<Reply[]>("ROLE"))[0], "master");
  assert.deepEqual(await lease.llen("s:list"), stored.length);
});

test("sentinel (sync): a command issued while the master is gone waits for the failover, at most offlineTimeout", async () => {
  await using own = await startSentinels({ downAfter: 1000 });
  const at = own.sentinels.map((port) => `redis://127.0.0.1:${port}`);
  using patient = connectSentinel({ sentinels: at, name: own.name, offlineTimeout: 30_000 });
  using hasty = connectSentinel({ sentinels: at, name: own.name, offlineTimeout: 300 });
  using failFast = connectSentinel({ sentinels: at, name: own.name, offlineQueue: false });
  await using failFastPool = await connectSentinelPool({ sentinels: at, name: own.name, offlineQueue: false });
  using piped = connectSentinel({ sentinels: at, name: own.name, offlineTimeout: 30_000 });
  using listener = connectSentinel({ sentinels: at, name: own.name, offlineTimeout: 30_000 });
  const gaps: unknown[] = [];
  listener.on("gap", (gap) => void gaps.push(gap));
  listener.subscribe("s:jobs");
  listener.psubscribe("s:job*");
  assert.deepEqual(patient.publish("s:jobs", "one"), 2);
  assert.deepEqual(listener.nextMessage(2_000), { channel: "s:jobs", message: "one" });
  assert.deepEqual(listener.nextMessage(2_000), { channel: "s:jobs", message: "one", pattern: "s:job*" });
  patient.set("s:w", "before");
  assert.deepEqual(piped.pipeline().get("s:w").execute(), ["before"]);
  assert.deepEqual(hasty.get("s:w"), "before");
  assert.deepEqual(failFast.get("s:w"), "before");
  assert.deepEqual(await failFastPool.get("s:w"), "before");
  await own.master.stop();
  // offlineQueue: false: the client and the pool fail at once, unsent.
  const refusedAt = Date.now();
  assert.throws(() => failFast.set("s:w", "never"), (e: unknown) => e instanceof ConnectionError && e.unsent);
  const refused = await failFastPool.set("s:w", "never").catch((e: unknown) => e);
  assert(refused instanceof ConnectionError && refused.unsent, String(refused));
  assert(Date.now() - refusedAt < 1_000, `offlineQueue: false failed after ${Date.now() - refusedAt} ms`);
  // The sentinels need their down-after time (1 s) and an election: the hasty client gives up first, unsent.
  let started = Date.now();
  let error: unknown = null;
  try {
    hasty.set("s:w", "never");
  } catch (e) {
    error = e;
  }
  assert(
    error instanceof ConnectionError && error.unsent &&
      /took the command within offlineTimeout \(300 ms\)/.test(error.message),
    String(error),
  );
  assert(Date.now() - started < 2_000, `gave up after ${Date.now() - started} ms`);
  started = Date.now();
  patient.set("s:w", "after"); // blocks until the sentinels name the promoted replica
  const waited = Date.now() - started;
  assert.deepEqual(patient.address, `127.0.0.1:${own.replica.port}`);
  assert.deepEqual(patient.get("s:w"), "after");
  assert(waited < 30_000, `waited ${waited} ms`);
  // A transaction (a pipeline) that is the client's first call since the master went: it could not reach the old
  // master, so nothing ran there; it follows the failover as a command does.
  assert.deepEqual(piped.multi().get("s:w").incr("s:tx").exec(), ["after", 1]);
  assert.deepEqual(piped.address, `127.0.0.1:${own.replica.port}`);
  // The subscriber waits out the failover in nextMessage, then its subscriptions are on the new master.
  assert.deepEqual(listener.nextMessage(0), null);
  assert.deepEqual(listener.address, `127.0.0.1:${own.replica.port}`);
  assert.deepEqual(gaps.length, 1, "gap reported once");
  assert.deepEqual(patient.publish("s:jobs", "two"), 2);
  assert.deepEqual(listener.nextMessage(2_000)?.message, "two");
  assert.deepEqual(listener.nextMessage(2_000)?.message, "two");
  listener.unsubscribe();
  listener.punsubscribe();
  assert.deepEqual(patient.publish("s:jobs", "three"), 0);
});

test("sentinel: a command issued as the master died, before the pool saw it go, runs on the new master", async () => {
  await using own = await startSentinels({ downAfter: 1000 });
  const at = own.sentinels.map((port) => `redis://127.0.0.1:${port}`);
  // The client-side cache keeps the connections with the I/O thread: it sees the drop, and this thread learns of it
  // only at its next drain, so a call made in between waits in the offline queue of the old server's core.
  await using pool = await connectSentinelPool({ sentinels: at, name: own.name, size: 1, clientCache: {} });
  assert.deepEqual(await pool.set("s:late", "0"), "OK");
  own.master.cli("SHUTDOWN", "NOSAVE", "NOW"); // returns once the server has closed its connections
  sleepSync(300); // the I/O thread sees the drop; this thread blocks, so it drains nothing
  const late = pool.set("s:late", "1").catch((e: unknown) => e);
  // A transaction and a pipeline issued then wait there too, and go to the new master as the command does.
  const lateTx = pool.multi().incr("s:tx").incr("s:tx").exec().catch((e: unknown) => e);
  const latePipeline = pool.pipeline().incr("s:piped").get("s:late").execute().catch((e: unknown) => e);
  const started = Date.now();
  assert.deepEqual(await late, "OK", "sent to the new master once the pool followed the failover");
  assert.deepEqual(await lateTx, [1, 2]);
  assert.deepEqual(await latePipeline, [1, "1"]);
  assert.deepEqual(pool.address, `127.0.0.1:${own.replica.port}`);
  assert.deepEqual(await pool.get("s:late"), "1");
  assert(Date.now() - started < 15_000, `waited ${Date.now() - started} ms`);
});

test("sentinel: a write the old master refuses as a replica (READONLY) runs once on the new master", async () => {
  await using own = await startSentinels({ downAfter: 1000 });
  const second = own.sentinels[1]!;
  // The pool hears of failovers from the first sentinel and polls once a minute: with the first frozen it misses
  // this one, and its connections to the old master stay up while that master turns into a replica.
  await using pool = await connectSentinelPool({
    sentinels: own.sentinels.map((port) => `redis://127.0.0.1:${port}`),
    name: own.name,
    pollInterval: 60_000,
  });
  assert.equal(await pool.set("ro:k", "1"), "OK");
  const oldMaster = `127.0.0.1:${own.master.port}`, newMaster = `127.0.0.1:${own.replica.port}`;
  assert.equal(pool.address, oldMaster);
  own.freezeSentinels(true, [0]);
  try {
    await runCli(["-p", String(second), "SENTINEL", "FAILOVER", own.name]);
    const deadline = Date.now() + 20_000;
    while (
      !(await runCli(["-p", String(second), "SENTINEL", "GET-MASTER-ADDR-BY-NAME", own.name])).includes(
        String(own.replica.port),
      )
    ) {
      assert(Date.now() < deadline, "the sentinels promoted the replica");
      await sleep(100);
    }
    // What the sentinels do to an old master they reach again, without waiting for them.
    own.master.cli("REPLICAOF", "127.0.0.1", String(own.replica.port));
    assert.match(own.master.cli("ROLE"), /^slave/);
    assert.equal(pool.address, oldMaster, "the pool has not followed the failover yet");
    assert.equal(await pool.set("ro:k", "2"), "OK");
    assert.equal(pool.address, newMaster, "the refusal made the pool ask the sentinels");
    assert.equal(own.replica.cli("GET", "ro:k").trim(), "2");
    // A write refused again (the sentinels name no other master) rejects: sent once more, not for ever.
    own.replica.cli("REPLICAOF", "127.0.0.1", String(own.master.port));
    const refused = await pool.set("ro:k", "3").catch((e) => e);
    assert(refused instanceof ReplyError && refused.code === "READONLY", String(refused));
    own.replica.cli("REPLICAOF", "NO", "ONE");
  } finally {
    own.freezeSentinels(false, [0]);
  }
});

test("sentinel: a failover the sentinels announce (+switch-master) is followed without waiting for a poll", async () => {
  await using own = await startSentinels({ downAfter: 1000 });
  const at = own.sentinels.map((port) => `redis://127.0.0.1:${port}`);
  // No poll within the test's time: only the subscription can tell the pool.
  await using pool = await connectSentinelPool({ sentinels: at, name: own.name, pollInterval: 600_000 });
  assert.deepEqual(await pool.set("s:f", "1"), "OK");
  await sleep(300); // the subscription is made in the background
  using sentinel = connect("127.0.0.1", own.sentinels[0]!);
  sentinel.send("SENTINEL", "FAILOVER", own.name); // the master stays up: no connection of the pool drops
  const started = Date.now();
  while (pool.address !== `127.0.0.1:${own.replica.port}` && Date.now() - started < 30_000) await sleep(50);
  assert.deepEqual(pool.address, `127.0.0.1:${own.replica.port}`, "the pool follows the announced failover");
  assert.deepEqual(pool.switches, 1);
  assert.deepEqual(await pool.set("s:f", "2"), "OK");
});

test("sentinel: AUTH to the sentinels (sentinelPassword) and to the servers (password)", async () => {
  await using secured = await startSentinels({ password: "server-pw", sentinelPassword: "sentinel-pw" });
  const at = secured.sentinels.map((port) => `redis://127.0.0.1:${port}`);
  const refused = await connectSentinelPool({ sentinels: at, name: secured.name, password: "server-pw" }).catch((e) =>
    e
  );
  assert.ok(refused instanceof CpipeError && /no sentinel told/.test(refused.message), String(refused));
  assert.ok(!refused.message.includes("server-pw") && !refused.message.includes("sentinel-pw"), refused.message);
  await using pool = await connectSentinelPool({
    sentinels: at,
    name: secured.name,
    sentinelPassword: "sentinel-pw",
    password: "server-pw",
  });
  assert.equal(await pool.set("auth:k", "1"), "OK");
  using client = connectSentinel({
    sentinels: at,
    name: secured.name,
    sentinelPassword: "sentinel-pw",
    password: "server-pw",
  });
  assert.equal(client.get("auth:k"), "1");
});
