/**
 * Redis Cluster against a real 6-node cluster (3 masters, 3 replicas) the harness starts and stops: routing of
 * every key-position shape, hash tags, slots crossed, a live slot migration while a pool and a pipeline write,
 * a node added and slots rebalanced, and a master killed while a pool writes. Both the pool and the synchronous
 * client.
 */
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { afterAll, test } from "../harness/shim.ts";
import { runChild } from "../harness/child.ts";
import { freePort, type RedisCluster, runCli, startCluster } from "../harness/server.ts";
import { ClosedError, ConnectionError, CpipeError, type Reply, ReplyError } from "../../mod.ts";
import { type ClusterPool, connectCluster, connectClusterPool, slotOf } from "../../cluster.ts";

const cluster: RedisCluster = await startCluster({ nodeTimeout: 1000 });
afterAll(() => cluster.stop());
const seeds = (): string[] => cluster.addresses.slice(0, 2).map((a) => `redis://${a}`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The id of the node listening on `port`. */
function nodeId(port: number): string {
  const node = cluster.nodes.find((n) => n.port === port)!;
  return node.cli("cluster", "myid");
}

test("cluster: slotOf agrees with CLUSTER KEYSLOT, hash tags included", () => {
  const keys = ["a", "foo", "{user1000}.following", "{user1000}.followers", "x{}y", "{}x", "{a}{b}", "é€😀", "123"];
  for (const key of keys) assert.deepEqual(slotOf(key), Number(cluster.nodes[0]!.cli("cluster", "keyslot", key)), key);
  assert.deepEqual(slotOf(new TextEncoder().encode("{user1000}.x")), slotOf("user1000"));
  assert.deepEqual(slotOf(123), slotOf("123"));
});

for (const mode of ["close", "idle"]) {
  test(`cluster pool: a process ends by itself (${mode})`, async () => {
    const child = fileURLToPath(new URL("./exit_child.ts", import.meta.url));
    const r = await runChild(child, ["cluster", mode, String(cluster.nodes[0]!.port)]);
    assert.deepEqual(r.code, 0, r.output);
    assert(r.output.includes("done"), r.output);
  });
}

test("cluster pool: every key-position shape goes straight to its node (no redirect allowed)", async () => {
  await using pool = await connectClusterPool({ nodes: seeds(), maxRedirects: 0 });
  assert.deepEqual(pool.masters.length, 3);
  // First key: one key per master at least.
  const keys = Array.from({ length: 30 }, (_, i) => `shape:${i}`);
  await Promise.all(keys.map((k, i) => pool.set(k, String(i))));
  assert.deepEqual(await Promise.all(keys.map((k) => pool.get(k))), keys.map((_, i) => String(i)));
  for (const k of keys.slice(0, 5)) {
    const owner = cluster.masterOf(slotOf(k));
    assert.deepEqual(pool.nodeFor("get", k), `${owner.host}:${owner.port}`);
    assert.deepEqual(owner.cli("get", k), String(keys.indexOf(k)), "stored on its master");
  }
  // All keys (one slot by tag).
  assert.deepEqual(await pool.mset("{t}a", "1", "{t}b", "2"), "OK");
  assert.deepEqual(await pool.mget("{t}a", "{t}b", "{t}c"), ["1", "2", null]);
  assert.deepEqual(await pool.send("DEL", "{t}a", "{t}b"), 2);
  // Keys after a count.
  assert.deepEqual(await pool.send("EVAL", "return redis.call('set', KEYS[1], ARGV[1])", 1, "{e}k", "v"), "OK");
  assert.deepEqual(await pool.get("{e}k"), "v");
  await pool.send("ZADD", "{z}1", 1, "a");
  await pool.send("ZADD", "{z}2", 2, "b");
  assert.deepEqual(await pool.send("ZUNIONSTORE", "{z}out", 2, "{z}1", "{z}2"), 2);
  await pool.send("RPUSH", "{l}2", "x");
  assert.deepEqual(await pool.send("LMPOP", 2, "{l}1", "{l}2", "LEFT"), ["{l}2", ["x"]]);
  // Keys after a keyword.
  await pool.send("XADD", "{s}stream", "1-1", "f", "v");
  assert.deepEqual(await pool.send("XREAD", "COUNT", 1, "STREAMS", "{s}stream", "0"), [["{s}stream", [["1-1", [
    "f",
    "v",
  ]]]]]);
  // No key: any node.
  assert.deepEqual(await pool.send("PING"), "PONG");
  assert.deepEqual(typeof await pool.send("DBSIZE"), "number");
});

test("cluster pool: keys in different slots are refused before sending; a MULTI pipeline must keep to one slot", async () => {
  await using pool = await connectClusterPool(seeds());
  let error: unknown = null;
  await pool.mget("a", "b").catch((e) => error = e);
  assert(error instanceof CpipeError && /different slots/.test(error.message), String(error));
  error = null;
  try {
    pool.pipeline().addCommand("MULTI").set("a", "1").set("b", "2").addCommand("EXEC");
    await pool.pipeline().addCommand("MULTI").set("a", "1").set("b", "2").addCommand("EXEC").execute();
  } catch (e) {
    error = e;
  }
  assert(error instanceof CpipeError && /one node/.test(error.message), String(error));
  const replies = await pool.pipeline().addCommand("MULTI").incr("{tx}a").incr("{tx}b").addCommand("EXEC").execute();
  assert.deepEqual(replies, ["OK", "QUEUED", "QUEUED", [1, 1]]);
  // multi(): on the slot's node, exec() resolves with the results alone; across slots it rejects before sending.
  assert.deepEqual(await pool.multi().incr("{tx}a").get("{tx}b").exec(), [2, "1"]);
  await assert.rejects(pool.multi().set("a", "1").set("b", "2").exec(), /one node/);
  // Refused for a reason of its own (not a redirection): not sent again.
  await assert.rejects(pool.multi().incr("{tx}a").addCommand("SET", "{tx}b").exec(), /EXECABORT.*wrong number/);
  assert.deepEqual(await pool.get("a"), null);
});

test("cluster pool: acquire(key) lends a connection to the key's master, for WATCH … MULTI … EXEC", async () => {
  await using pool = await connectClusterPool({ nodes: seeds(), exclusiveConnections: 2, acquireTimeout: 200 });
  await pool.set("{acct}:balance", "100");
  {
    await using c = await pool.acquire("{acct}");
    const owner = cluster.masterOf(slotOf("{acct}"));
    assert.match(await c.send("CLIENT", "INFO") as string, new RegExp(`laddr=127\\.0\\.0\\.1:${owner.port} `));
    await c.watch("{acct}:balance");
    const balance = Number(await c.get("{acct}:balance"));
    await pool.set("{acct}:balance", "50"); // another client's write: the transaction must not run
    assert.deepEqual(await c.multi().set("{acct}:balance", balance - 10).exec(), null);
    await c.watch("{acct}:balance");
    assert.deepEqual(await c.multi().decrby("{acct}:balance", 10).exec(), [40]);
    // Not routed: a key another master serves is answered MOVED.
    let other = 0;
    while (cluster.masterOf(slotOf(`{o${other}}`)) === owner) other++;
    const moved = await c.get(`{o${other}}`).catch((e) => e);
    assert(moved instanceof ReplyError && moved.code === "MOVED", String(moved));
  }
  // At most exclusiveConnections per node, each lent to one holder at a time; then acquireTimeout.
  const held = [await pool.acquire("{acct}"), await pool.acquire("{acct}")];
  await assert.rejects(pool.acquire("{acct}"), /all 2 connections for acquire\(\) .* stayed busy for 200 ms/);
  const waiting = pool.acquire("{acct}");
  await held[0]!.watch("{acct}:balance");
  held[0]!.release(); // a WATCH left open: closed, and the waiter gets a new connection
  const next = await waiting;
  assert.deepEqual(await next.multi().incr("{acct}:n").exec(), [1], "no WATCH came with it");
  next.release();
  held[1]!.release();
  await assert.rejects(pool.acquire(undefined as unknown as string), TypeError);
  await assert.rejects(pool.acquire({} as unknown as string), TypeError);
});

test("cluster pool: commands that failed on their way to a node never reached wait for a node that takes their slot", async () => {
  const key = "tb:{1}", owner = cluster.masterOf(slotOf(key));
  const seed = cluster.nodes.find((n) => n !== owner && n.cli("role").startsWith("master"))!;
  const nowhere = await freePort();
  let hidden = true;
  // The key's master is announced at an address nothing listens on, until the map is read again.
  const natMap = (a: { host: string; port: number }) =>
    hidden && a.port === owner.port ? { host: "127.0.0.1", port: nowhere } : a;
  const options = { nodes: [`redis://${seed.host}:${seed.port}`], natMap };
  await using pool = await connectClusterPool({ ...options, offlineTimeout: 10_000 });
  // Issued while its connection is still being made: the dial fails, and the commands never left.
  const writes = Array.from({ length: 5 }, (_, i) => pool.set(key, `v${i}`));
  const piped = pool.pipeline().set(key, "p1").get(key).set(key, "p2").get(key).execute();
  await sleep(100);
  hidden = false;
  await pool.refresh();
  assert.deepEqual(await Promise.all(writes), ["OK", "OK", "OK", "OK", "OK"]);
  assert.deepEqual(await piped, ["OK", "p1", "OK", "p2"], "a pipeline's commands keep their order");
  assert(pool.stats.waits >= 5, `they waited: ${JSON.stringify(pool.stats)}`);
  // With no node to take the slot, they fail after offlineTimeout, saying so; at once with offlineQueue: false.
  hidden = true;
  await using failFast = await connectClusterPool({ ...options, offlineQueue: false });
  let started = Date.now();
  const refused = await failFast.set(key, "x").catch((e: unknown) => e);
  assert(refused instanceof ConnectionError && refused.unsent, String(refused));
  assert(Date.now() - started < 1_000, `failed after ${Date.now() - started} ms`);
  await using stranded = await connectClusterPool({ ...options, offlineTimeout: 300 });
  started = Date.now();
  const error = await stranded.set(key, "x").catch((e: unknown) => e);
  assert(
    error instanceof ConnectionError && /slot \d+ within offlineTimeout \(300 ms\)/.test(error.message),
    String(error),
  );
  assert(Date.now() - started < 3_000, `failed after ${Date.now() - started} ms`);
});

test("cluster pool: a pipeline across the nodes keeps the caller's order", async () => {
  await using pool = await connectClusterPool(seeds());
  const p = pool.pipeline();
  for (let i = 0; i < 300; i++) p.set(`order:${i}`, String(i)).get(`order:${i}`);
  const replies = await p.execute();
  assert.deepEqual(replies.length, 600);
  for (let i = 0; i < 300; i++) assert.deepEqual([replies[2 * i], replies[2 * i + 1]], ["OK", String(i)]);
  assert.deepEqual(await pool.pipeline().execute(), []);
});

test("cluster pool: scan iterators walk every master's keys and a hash on its node", async () => {
  await using pool = await connectClusterPool(seeds());
  await Promise.all(Array.from({ length: 200 }, (_, i) => pool.set(`scan:${i}`, "1")));
  await pool.hset("scan:hash", "a", "1");
  await pool.hset("scan:hash", "b", "2");
  const seen = new Set<string>();
  for await (const key of pool.scanIterator({ match: "scan:*", count: 50 })) seen.add(key);
  assert.equal(seen.size, 201);
  const fields: string[] = [];
  for await (const { field, value } of pool.hscanIterator("scan:hash")) fields.push(`${field}=${value}`);
  assert.deepEqual(fields.sort(), ["a=1", "b=2"]);
  // The synchronous client walks every master too, and has the seed's queue: addCommand … execute(), split by node.
  using sync = connectCluster(seeds());
  for (let i = 0; i < 200; i++) sync.addCommand("GET", `scan:${i}`);
  const values = sync.execute();
  assert.deepEqual(values.length, 200);
  assert(values.every((v) => v === "1"), "every GET answered by its node");
  assert.deepEqual(sync.execute(), []);
  assert.equal(new Set(sync.scanIterator({ match: "scan:*", count: 50 })).size, 201);
  assert.deepEqual([...sync.hscanIterator("scan:hash")].map(({ field }) => field).sort(), ["a", "b"]);
});

test("cluster pool: blocking commands run on connections of their own to the key's node; others go on", async () => {
  await using pool = await connectClusterPool({ nodes: seeds(), maxRedirects: 0 });
  // One list per master, so that every node has a command blocked on it.
  const lists = ["blk:a", "blk:b", "blk:c", "blk:d", "blk:e", "blk:f", "blk:g"].filter((k, i, all) =>
    all.findIndex((o) => pool.nodeFor("blpop", o, 0) === pool.nodeFor("blpop", k, 0)) === i
  );
  assert.deepEqual(lists.length, 3, "a list on each master");
  const popped = lists.map((key) => pool.blpop(key, 5));
  const started = Date.now();
  // The nodes' shared connections are not stalled by the blocked commands.
  for (const key of lists) assert.deepEqual(await pool.set(`${key}:other`, "1"), "OK");
  assert(Date.now() - started < 1_000, `shared commands answered in ${Date.now() - started} ms while blocked`);
  for (const key of lists) await pool.rpush(key, `to ${key}`);
  assert.deepEqual(await Promise.all(popped), lists.map((key) => [key, `to ${key}`]));
  // Other shapes: BLMOVE (two keys, one slot), BZPOPMIN, XREAD BLOCK, send(), and a timeout (null).
  const moved = pool.blmove("{blk}src", "{blk}dst", "LEFT", "RIGHT", 5);
  const zpop = pool.bzpopmin("blk:z", 5);
  const read = pool.send("XREAD", "BLOCK", "5000", "STREAMS", "blk:stream", "$");
  const sent = pool.send("BRPOP", "blk:sent", "5");
  await new Promise((r) => setTimeout(r, 50));
  await pool.rpush("{blk}src", "m");
  await pool.zadd("blk:z", 1, "one");
  await pool.xadd("blk:stream", "*", "f", "v");
  await pool.rpush("blk:sent", "s");
  assert.deepEqual(await moved, "m");
  assert.deepEqual(await pool.lrange("{blk}dst", 0, -1), ["m"]);
  assert.deepEqual(await zpop, ["blk:z", "one", "1"]);
  const entries = await read as [string, [string, string[]][]][];
  assert.deepEqual([entries[0]![0], entries[0]![1][0]![1]], ["blk:stream", ["f", "v"]]);
  assert.deepEqual(await sent, ["blk:sent", "s"]);
  assert.deepEqual(await pool.blpop("blk:empty", 0.1), null);
  // Keys in different slots are refused before anything is sent.
  await assert.rejects(pool.blpop("blk:a", "blk:b", 1), /different slots/);
});

test("cluster pool: a blocked command rejects at once when the pool closes", async () => {
  const pool = await connectClusterPool({ nodes: seeds(), closeTimeout: 10_000 });
  const blocked = pool.blpop("blk:never", 0);
  await new Promise((r) => setTimeout(r, 50));
  const started = Date.now();
  await pool.close();
  await assert.rejects(blocked, ClosedError);
  assert(Date.now() - started < 2_000, `closed in ${Date.now() - started} ms`);
});

test("cluster client (sync): routing, hash tags, crossed slots, MOVED followed", () => {
  using client = connectCluster({ nodes: seeds() });
  assert.deepEqual(client.masters.length, 3);
  for (let i = 0; i < 30; i++) client.set(`sync:${i}`, String(i));
  for (let i = 0; i < 30; i++) assert.deepEqual(client.get(`sync:${i}`), String(i));
  assert.deepEqual(client.mset("{u}a", "1", "{u}b", "2"), "OK");
  assert.deepEqual(client.send("EVAL", "return #KEYS", 2, "{u}a", "{u}b"), 2);
  assert.deepEqual(client.send("PING"), "PONG");
  let error: unknown = null;
  try {
    client.mget("a", "b");
  } catch (e) {
    error = e;
  }
  assert(error instanceof CpipeError && /different slots/.test(error.message), String(error));
  assert.deepEqual(client.multi().incr("{u}n").get("{u}a").exec(), [1, "1"]);
  assert.throws(() => client.multi().set("sync:x", "1").set("sync:y", "2").exec(), /one node/);
  assert.deepEqual(client.get("sync:x"), null);
  // A replica answers MOVED: followed to the master.
  using stale = connectCluster({ nodes: seeds() });
  error = null;
  const wrong = stale.masters.find((m) => m !== stale.nodeFor("get", "sync:1"))!;
  try {
    stale.sendTo(wrong, "GET", "sync:1");
  } catch (e) {
    error = e;
  }
  assert(error instanceof ReplyError && error.code === "MOVED", String(error));
});

test("cluster: readFrom replica sends reads to replicas (READONLY), writes to masters", async () => {
  await using pool = await connectClusterPool({ nodes: seeds(), readFrom: "replica" });
  await pool.set("rf:key", "v");
  // Replication is asynchronous: the replica may need a moment.
  let value: unknown = null;
  for (let i = 0; i < 50 && value !== "v"; i++) {
    value = await pool.get("rf:key");
    if (value !== "v") await sleep(20);
  }
  assert.deepEqual(value, "v");
  const reader = pool.nodeFor("get", "rf:key"), writer = pool.nodeFor("set", "rf:key", "v");
  assert(reader !== writer, `a read goes to a replica (${reader}), a write to the master (${writer})`);
  assert(!pool.masters.includes(reader), "the reader is not a master");
});

test("cluster: readFrom replica reads from the master while the replica is down", async () => {
  await using pool = await connectClusterPool({ nodes: seeds(), readFrom: "replica" });
  await pool.set("rd:key", "v");
  const reader = pool.nodeFor("get", "rd:key");
  const replica = cluster.nodes.find((n) => `${n.host}:${n.port}` === reader)!;
  let value: unknown = null;
  for (let i = 0; i < 50 && value !== "v"; i++) {
    value = await pool.get("rd:key");
    if (value !== "v") await sleep(20);
  }
  assert.deepEqual(value, "v", "replicated");
  const down = new Promise<void>((resolve) => pool.on("error", () => resolve()));
  await replica.stop();
  await down;
  // Its reads go to the master now: at once, not once the cluster has marked the replica failed (nodeTimeout, 1 s)
  // and a new slot map leaves it out, and none fails.
  const started = Date.now();
  for (let i = 0; i < 20; i++) assert.deepEqual(await pool.get("rd:key"), "v");
  assert(Date.now() - started < 500, `20 reads took ${Date.now() - started} ms`);
  await replica.restart();
  await cluster.waitHealthy();
});

test("cluster: a replica that loads its data (as after a full resync) answers LOADING: its reads go to the master, none fails (pool and client)", async () => {
  await using pool = await connectClusterPool({ nodes: seeds(), readFrom: "replica" });
  const keys = Array.from({ length: 3000 }, (_, i) => `{loading}:${i}`);
  await Promise.all(keys.map((k) => pool.set(k, "v")));
  const reader = pool.nodeFor("get", keys[0]!), writer = pool.nodeFor("set", keys[0]!, "v");
  const replica = cluster.nodes.find((n) => `${n.host}:${n.port}` === reader)!;
  const master = cluster.nodes.find((n) => `${n.host}:${n.port}` === writer)!;
  for (let i = 0; i < 100 && replica.cli("DBSIZE") !== master.cli("DBSIZE"); i++) await sleep(20);
  const sync = connectCluster({ nodes: seeds(), readFrom: "replica" });
  assert.equal(sync.get(keys[1]!), "v", "the synchronous client's connection to the replica is up");
  // Reading each key 300 µs late, answering between keys: ~1 s of LOADING on the connections already up.
  replica.cli("CONFIG", "SET", "key-load-delay", "300");
  replica.cli("CONFIG", "SET", "loading-process-events-interval-bytes", "1024");
  const reload = runCli(["-h", replica.host, "-p", String(replica.port), "DEBUG", "RELOAD"]);
  try {
    while (!/^LOADING/.test(replica.cli("PING"))) await sleep(5);
    assert.deepEqual(sync.get(keys[2]!), "v");
    assert.deepEqual(await Promise.all(keys.slice(0, 200).map((k) => pool.get(k))), Array(200).fill("v"));
    assert.match(replica.cli("PING"), /^LOADING/, "the replica still loads when the reads are answered");
    assert(pool.stats.retried > 0, "a read was refused and sent again");
  } finally {
    await reload;
    replica.cli("CONFIG", "SET", "key-load-delay", "0");
    sync.close();
  }
});

/**
 * `count` loops that RPUSH unique values to `keys` until stopped (with `pipelined`, the first pushes two at a time in
 * a pipeline); what was acknowledged and what failed.
 */
function writers(pool: ClusterPool, keys: string[], count: number, pipelined = false) {
  const acked = new Map<string, string[]>(), failed: unknown[] = [];
  for (const k of keys) acked.set(k, []);
  let stop = false, n = 0;
  // When each writer's current call was made: what a stalled writer waits on, for a failure's message.
  const since: number[] = [];
  const loops = Array.from({ length: count }, async (_, w) => {
    while (!stop) {
      const key = keys[n % keys.length]!, value = `${w}:${n++}`;
      since[w] = Date.now();
      try {
        if (pipelined && w === 0) {
          const other = keys[n % keys.length]!, second = `${w}:${n++}`;
          const replies = await pool.pipeline().rpush(key, value).rpush(other, second).execute();
          replies.forEach((reply, i) => {
            if (reply instanceof Error) failed.push(reply);
            else acked.get(i === 0 ? key : other)!.push(i === 0 ? value : second);
          });
          if (replies.some((reply) => reply instanceof Error)) await sleep(10);
          continue;
        }
        await pool.rpush(key, value);
        acked.get(key)!.push(value);
      } catch (e) {
        failed.push(e);
        await sleep(10);
      }
    }
  });
  return {
    acked,
    failed,
    get written() {
      return n;
    },
    /** How long each writer's current call has waited, and the failures so far by message. */
    describe(): string {
      const waits = since.map((t) => Date.now() - t);
      const messages = new Map<string, number>();
      for (const e of failed) {
        const m = String(e).replace(/\d+/g, "N");
        messages.set(m, (messages.get(m) ?? 0) + 1);
      }
      return `writers waiting ${waits.join(",")} ms; failures ${JSON.stringify([...messages])}`;
    },
    async stop() {
      stop = true;
      await Promise.all(loops);
    },
  };
}

/** Every acknowledged value is in its list exactly once. */
async function checkLanded(pool: ClusterPool, acked: Map<string, string[]>): Promise<number> {
  let total = 0;
  for (const [key, values] of acked) {
    const stored = await pool.lrange(key, 0, -1);
    const seen = new Map<string, number>();
    for (const v of stored) seen.set(v, (seen.get(v) ?? 0) + 1);
    for (const v of values) assert.deepEqual(seen.get(v), 1, `${key} holds ${v} once`);
    assert.deepEqual(stored.length, new Set(stored).size, `${key} holds no value twice`);
    total += values.length;
  }
  return total;
}

test("cluster pool: a live slot migration while a pool and a pipeline write (ASK and MOVED followed)", async () => {
  await using pool = await connectClusterPool(seeds());
  const keys = Array.from({ length: 20 }, (_, i) => `{mig}${i}`);
  const slot = slotOf(keys[0]!);
  const source = cluster.masterOf(slot);
  const target = cluster.nodes.find((n) => pool.masters.includes(`${n.host}:${n.port}`) && n !== source)!;
  const [sourceId, targetId] = [nodeId(source.port), nodeId(target.port)];
  using sync = connectCluster(seeds());
  const load = writers(pool, keys, 8);
  const piped: [string, string][] = [], pipeFailures: Reply[] = [];
  let pipeStop = false;
  const pipeLoop = (async () => {
    for (let round = 0; !pipeStop; round++) {
      const p = pool.pipeline();
      const values = keys.map((k) => `p:${round}:${k}`);
      keys.forEach((k, i) => p.rpush(k, values[i]!));
      const replies = await p.execute();
      replies.forEach((r, i) => {
        if (typeof r === "number") piped.push([keys[i]!, values[i]!]);
        else pipeFailures.push(r);
      });
      await sleep(2);
    }
  })();
  // Transactions on two keys of the slot: refused whole (EXECABORT) while a redirection keeps them from running
  // (ASK, TRYAGAIN while their keys are on both nodes, MOVED), and sent again whole until they run.
  const transacted: [string, string][] = [], txFailures: unknown[] = [];
  let txStop = false, transactions = 0;
  const txLoop = (async () => {
    for (let round = 0; !txStop; round++) {
      const [a, b] = [keys[round % keys.length]!, keys[(round + 7) % keys.length]!], value = `t:${round}`;
      try {
        const results = await pool.multi().rpush(a, value).rpush(b, value).exec();
        if (results?.every((r) => typeof r === "number")) transacted.push([a, value], [b, value]);
        else txFailures.push(results);
        transactions++;
      } catch (e) {
        txFailures.push(e);
      }
      await sleep(5);
    }
  })();
  // A multi-key reader: while some keys of the slot have moved and others not, the server answers TRYAGAIN.
  const readFailures: unknown[] = [];
  let reads = 0, readStop = false;
  const readLoop = (async () => {
    while (!readStop) {
      try {
        await pool.mget(keys[0]!, keys[keys.length - 1]!);
        reads++;
      } catch (e) {
        readFailures.push(e);
      }
      await sleep(5);
    }
  })();
  await sleep(100);
  target.cli("cluster", "setslot", String(slot), "importing", sourceId);
  source.cli("cluster", "setslot", String(slot), "migrating", targetId);
  // Keys move a few at a time, writes going on between: writes to moved keys get ASK. Bounded: were a redirected
  // write sent to the wrong key, keys could keep coming back to the source.
  for (let round = 0;; round++) {
    assert(round < 1_000, "the slot's keys all moved");
    const batch = source.cli("cluster", "getkeysinslot", String(slot), "3").split("\n").filter((k) => k !== "");
    if (batch.length === 0) break;
    source.cli("migrate", target.host, String(target.port), "", "0", "5000", "KEYS", ...batch);
    // The synchronous client reads a moved key: ASK, then ASKING and the read on the target; and writes to it in a
    // transaction: ASKING, then the whole transaction on the target.
    assert(sync.lrange(batch[0]!, 0, 0).length === 1, "the synchronous client reads a migrated key");
    const value = `s:${round}`;
    assert.deepEqual(sync.multi().rpush(batch[0]!, value).exec()?.length, 1, "a transaction on a migrated key");
    transacted.push([batch[0]!, value]);
    await sleep(30);
  }
  await sleep(50);
  for (const node of [target, source]) node.cli("cluster", "setslot", String(slot), "node", targetId);
  for (const node of cluster.nodes) {
    if (node !== source && node !== target) node.cli("cluster", "setslot", String(slot), "node", targetId);
  }
  await sleep(300);
  pipeStop = true;
  readStop = true;
  txStop = true;
  await Promise.all([pipeLoop, readLoop, txLoop]);
  await load.stop();
  const stats = pool.stats;
  assert.ok(stats.retried > 0, `TRYAGAIN retried (${JSON.stringify(stats)})`);
  assert.deepEqual(readFailures.map(String), [], `${reads} multi-key reads, none failed`);
  assert(stats.ask > 0, `ASK followed (${JSON.stringify(stats)})`);
  assert(stats.moved > 0, `MOVED followed (${JSON.stringify(stats)})`);
  assert.deepEqual(load.failed.map(String), [], "no write failed");
  assert.deepEqual(pipeFailures.map(String), [], "no pipelined write failed (redirected ones are sent again)");
  assert.deepEqual(txFailures.map(String), [], `${transactions} transactions, none failed`);
  for (const [key, value] of [...piped, ...transacted]) load.acked.get(key)!.push(value);
  const total = await checkLanded(pool, load.acked);
  assert(total > 100, `${total} writes landed`);
  assert.deepEqual(pool.nodeFor("rpush", keys[0]!, "x"), `${target.host}:${target.port}`);
  assert.deepEqual(
    sync.llen(keys[0]!),
    (await pool.lrange(keys[0]!, 0, -1)).length,
    "the synchronous client follows MOVED",
  );
  const syncStats = sync.stats;
  assert(
    syncStats.ask > 0 && syncStats.moved > 0,
    `the synchronous client followed ASK and MOVED: ${JSON.stringify(syncStats)}`,
  );
  await cluster.waitHealthy();
});

test("cluster pool: a node added and slots rebalanced while a pool writes", async () => {
  await using pool = await connectClusterPool({ nodes: seeds(), refreshInterval: 200 });
  const keys = Array.from({ length: 50 }, (_, i) => `reb:${i}`);
  const load = writers(pool, keys, 8);
  const node = await cluster.startNode();
  const existing = cluster.addresses[0]!;
  await cluster.run("--cluster", "add-node", `${node.host}:${node.port}`, existing);
  await cluster.waitHealthy();
  await cluster.run("--cluster", "rebalance", existing, "--cluster-use-empty-masters", "--cluster-yes");
  await cluster.waitHealthy();
  await sleep(500);
  await load.stop();
  assert.deepEqual(load.failed.map(String), [], "no write failed");
  await checkLanded(pool, load.acked);
  const added = `${node.host}:${node.port}`;
  assert(pool.masters.includes(added), `the new master ${added} is known: ${pool.masters}`);
  const key = keys.find((k) => cluster.masterOf(slotOf(k)) === node);
  if (key !== undefined) assert.deepEqual(pool.nodeFor("get", key), added);
});

/** A master with a replica (the node added by the rebalance test has none), and `count` keys it serves. */
function masterWithReplica(
  count: number,
): { victim: RedisCluster["nodes"][number]; keys: string[]; serves: (slot: number) => boolean } {
  const victim = cluster.nodes.find((n) =>
    n.cli("role").startsWith("master") && n.cli("info", "replication").includes("connected_slaves:1")
  );
  assert(victim !== undefined, "a master with a replica is left");
  const own = victim.cli("cluster", "nodes").split("\n").find((l) => l.includes("myself"))!.split(" ").slice(8)
    .filter((r) => !r.startsWith("[")).map((r) => r.split("-").map(Number));
  const served = (slot: number) => own.some(([from, to]) => slot >= from! && slot <= (to ?? from)!);
  const keys = Array.from({ length: 2000 }, (_, i) => `fo:${i}`).filter((k) => served(slotOf(k))).slice(0, count);
  return { victim, keys, serves: served };
}

test("cluster pool: a master stopped (SIGTERM) while a pool writes: its replica takes over, nothing hangs or is lost", async () => {
  await using pool = await connectClusterPool(seeds());
  const { victim, keys } = masterWithReplica(30);
  const load = writers(pool, keys, 8, true);
  await sleep(200);
  const before = load.written;
  const down = new Promise<void>((resolve) => pool.on("error", () => resolve()));
  await victim.stop(); // SIGTERM: Redis 7 lets its replicas catch up before it exits
  const killedAt = Date.now();
  // A blocking command issued once the pool saw the master go waits for the replica, as the others do.
  await down;
  const blocked = pool.brpop(keys[1]!, 10).catch((e: Error) => e);
  // Writes to its slots must succeed again once the replica is promoted.
  let recovered = false;
  // Each probe its own value: one that failed may have run (its master went before it answered), and the check below
  // wants no value twice in a list.
  for (let probe = 0; Date.now() - killedAt < 20_000; probe++) {
    try {
      await pool.rpush(keys[0]!, `probe:${probe}`);
      recovered = true;
      break;
    } catch {
      await sleep(100);
    }
  }
  assert(recovered, "writes to the failed master's slots work again");
  const popped = await blocked;
  assert(Array.isArray(popped) && popped[0] === keys[1], `the blocking command ran on the new master: ${popped}`);
  const written = load.written;
  await sleep(300);
  const after = load.written, state = load.describe();
  await load.stop();
  assert(
    after > written && written > before,
    `the pool kept writing: ${before} calls before the stop, ${written} at recovery (${Date.now() - killedAt} ms), ` +
      `${after} 300 ms later; ${state}`,
  );
  for (const e of load.failed) assert(e instanceof CpipeError, `a typed error: ${e}`);
  // The value BRPOP took is no longer in its list (one from a write that failed but ran is in no acked list).
  const popFrom = load.acked.get(keys[1]!)!, at = popFrom.indexOf(popped[1]!);
  if (at >= 0) popFrom.splice(at, 1);
  await checkLanded(pool, load.acked);
  assert(!pool.masters.includes(`${victim.host}:${victim.port}`), "the dead master is gone from the map");
});

test("cluster client (sync): a command for a stopped master waits for its replica's promotion, at most offlineTimeout", async () => {
  const { victim, keys: [key], serves } = masterWithReplica(1);
  const elsewhere = Array.from({ length: 100 }, (_, i) => `el:${i}`).find((k) => !serves(slotOf(k)))!;
  using patient = connectCluster(seeds(), { offlineTimeout: 20_000 });
  using hasty = connectCluster(seeds(), { offlineTimeout: 300 });
  using failFast = connectCluster(seeds(), { offlineQueue: false });
  // Its node clients' connection events, relayed.
  const errors: string[] = [];
  let closes = 0;
  patient.on("error", ({ error }) => void errors.push(error.message)).on("close", () => void closes++);
  patient.set(key!, "before");
  assert.equal(hasty.get(key!), "before");
  assert.equal(failFast.get(key!), "before");
  await victim.stop(); // its sockets are closed: the next command on them finds them so before sending
  const refusedAt = Date.now();
  assert.throws(() => failFast.set(key!, "never"), (e: unknown) => e instanceof ConnectionError && e.unsent);
  assert(Date.now() - refusedAt < 500, `offlineQueue: false failed after ${Date.now() - refusedAt} ms`);
  // The cluster needs its node timeout (1 s) to notice: the hasty client gives up first, its command unsent.
  let started = Date.now();
  let error: unknown = null;
  try {
    hasty.set(key!, "never");
  } catch (e) {
    error = e;
  }
  assert(
    error instanceof ConnectionError && error.unsent && /slot \d+ within offlineTimeout \(300 ms\)/.test(error.message),
    String(error),
  );
  assert(Date.now() - started < 2_000, `gave up after ${Date.now() - started} ms`);
  started = Date.now();
  // A pipeline with a part for the stopped master and one for a live master: the first part waits, command by command.
  assert.deepEqual(
    patient.pipeline().set(key!, "piped").set(elsewhere, "1").get(key!).incr(elsewhere).execute(),
    ["OK", "OK", "piped", 2],
  );
  patient.set(key!, "after"); // the map names the promoted replica now
  const waited = Date.now() - started;
  assert(patient.stats.waits > 0, "it waited");
  assert.equal(patient.get(key!), "after");
  assert(!patient.masters.includes(`${victim.host}:${victim.port}`), "the dead master is gone from its map");
  assert(waited < 20_000, `waited ${waited} ms`);
  assert(errors.some((m) => m.includes(`${victim.port}`)), `an error event names the stopped master: ${errors}`);
  patient.close();
  patient.close();
  assert.equal(closes, 1);
});
