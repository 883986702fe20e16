/**
 * The `keyPrefix` option on both cluster clients, against a real cluster of 3 masters the harness starts and
 * stops: keys are stored under their prefixed names and routed by them (a hash tag in the prefix or in the key
 * counts as the server counts it), by single commands, scripts, `sendTo`, pipelines split by node, MULTI pipelines
 * and blocking commands; commands answered MOVED or ASK, or that waited for a node they could not reach, are sent
 * again with the prefix, once. Channels are not keys. A cluster client without the prefix looks at what was really
 * stored.
 */
import assert from "node:assert/strict";
import { afterAll, test } from "../harness/shim.ts";
import { sleep, until } from "../harness/wait.ts";
import { freePort, type RedisCluster, type RedisServer, startCluster } from "../harness/server.ts";
import type { Message } from "../../mod.ts";
import { connectCluster, connectClusterPool, slotOf } from "../../cluster.ts";

const cluster: RedisCluster = await startCluster({ replicas: 0 });
const plain = connectCluster(cluster.addresses.map((a) => `redis://${a}`));
afterAll(async () => {
  plain.close();
  await cluster.stop();
});
const seeds = (): string[] => cluster.addresses.slice(0, 2).map((a) => `redis://${a}`);
const address = (node: RedisServer) => `${node.host}:${node.port}`;
const PREFIX = "app1:";

/** Every key the cluster holds, named as the server names it, sorted. */
function storedKeys(): string[] {
  return plain.masters.flatMap((node) => plain.sendTo<string[]>(node, "KEYS", "*")).sort();
}

function flushAll(): void {
  for (const node of plain.masters) plain.sendTo(node, "FLUSHALL");
}

/**
 * Starts moving `slot` (it holds no key) to another master: its master answers ASK for keys it does not hold.
 * `finish()` gives the slot to the target on every node, so that a client that read the slot map before meets
 * MOVED.
 */
function migrate(slot: number): { target: RedisServer; finish(): void } {
  const source = cluster.masterOf(slot);
  const target = cluster.nodes.find((n) => n !== source)!;
  const targetId = target.cli("cluster", "myid");
  target.cli("cluster", "setslot", String(slot), "importing", source.cli("cluster", "myid"));
  source.cli("cluster", "setslot", String(slot), "migrating", targetId);
  const finish = () => {
    for (const node of [target, source, ...cluster.nodes.filter((n) => n !== source && n !== target)]) {
      node.cli("cluster", "setslot", String(slot), "node", targetId);
    }
  };
  return { target, finish };
}

/** Moves `slot` (it holds no key) to another master at once; returns that master. */
function moveSlot(slot: number): RedisServer {
  const { target, finish } = migrate(slot);
  finish();
  return target;
}

test("cluster pool with keyPrefix: commands, hash tags, scripts, pipelines, MULTI and blocking commands use the prefixed keys, routed by them", async () => {
  flushAll();
  // No redirection allowed: a command routed by its key without the prefix would meet MOVED.
  await using pool = await connectClusterPool({ nodes: seeds(), keyPrefix: PREFIX, maxRedirects: 0 });
  const keys = Array.from({ length: 30 }, (_, i) => `k${i}`);
  await Promise.all(keys.map((k, i) => pool.set(k, String(i))));
  assert.deepEqual(await Promise.all(keys.map((k) => pool.get(k))), keys.map((_, i) => String(i)));
  const owner = cluster.masterOf(slotOf(PREFIX + "k0"));
  assert.deepEqual(pool.nodeFor("get", "k0"), address(owner));
  assert.deepEqual(owner.cli("get", PREFIX + "k0"), "0");
  assert.deepEqual(await pool.sendTo(address(owner), "GET", "k0"), "0", "sendTo prefixes keys too");
  assert.deepEqual(await pool.mset("{t}a", "1", "{t}b", "2"), "OK");
  assert.deepEqual(await pool.mget("{t}a", "{t}b"), ["1", "2"]);
  assert.deepEqual(await pool.send("EVAL", "return redis.call('SET', KEYS[1], ARGV[1])", 1, "{t}e", "v"), "OK");
  const across = pool.pipeline();
  for (let i = 0; i < 30; i++) across.set(`p${i}`, String(i)).get(`k${i}`);
  const replies = await across.execute();
  for (let i = 0; i < 30; i++) assert.deepEqual([replies[2 * i], replies[2 * i + 1]], ["OK", String(i)]);
  assert.deepEqual(
    await pool.pipeline().addCommand("MULTI").incr("{m}n").incr("{m}n").addCommand("EXEC").execute(),
    ["OK", "QUEUED", "QUEUED", [1, 2]],
  );
  const popped = pool.blpop("list", 5);
  await sleep(50);
  await pool.rpush("list", "x");
  assert.deepEqual(await popped, [PREFIX + "list", "x"], "BLPOP on a connection of its own");
  // Channels are not keys (as in ioredis and the single-node clients): a shard channel goes as named.
  const received: Message[] = [];
  const sub = await pool.ssubscribe("{ch}news", (m) => void received.push(m));
  assert.deepEqual(plain.spublish("{ch}news", "one"), 1);
  assert.deepEqual(await pool.spublish("{ch}news", "two"), 1);
  await until(() => received.length === 2, 5_000, "both messages");
  assert.deepEqual(received, [{ channel: "{ch}news", message: "one" }, { channel: "{ch}news", message: "two" }]);
  await sub.unsubscribe();
  // A lent connection: to the master of the prefixed key's slot, its commands and pipelines prefixed too.
  {
    await using c = await pool.acquire("{w}x");
    await c.watch("{w}x");
    assert.deepEqual(await c.multi().set("{w}x", "1").get("{w}x").exec(), ["OK", "1"]);
    assert.deepEqual(await c.get("{w}x"), "1");
  }
  const written = [...keys, ...keys.map((_, i) => `p${i}`), "{t}a", "{t}b", "{t}e", "{m}n", "{w}x"];
  assert.deepEqual(storedKeys(), written.map((k) => PREFIX + k).sort());
});

test("cluster client (sync) with keyPrefix: commands, hash tags, scripts, pipelines and MULTI use the prefixed keys, routed by them", () => {
  flushAll();
  using sync = connectCluster({ nodes: seeds(), keyPrefix: PREFIX, maxRedirects: 0 });
  const keys = Array.from({ length: 30 }, (_, i) => `s${i}`);
  keys.forEach((k, i) => sync.set(k, String(i)));
  assert.deepEqual(keys.map((k) => sync.get(k)), keys.map((_, i) => String(i)));
  const owner = cluster.masterOf(slotOf(PREFIX + "s0"));
  assert.deepEqual(sync.nodeFor("get", "s0"), address(owner));
  assert.deepEqual(owner.cli("get", PREFIX + "s0"), "0");
  assert.deepEqual(sync.sendTo(address(owner), "GET", "s0"), "0", "sendTo prefixes keys too");
  assert.deepEqual(sync.mset("{t}a", "1", "{t}b", "2"), "OK");
  assert.deepEqual(sync.mget("{t}a", "{t}b"), ["1", "2"]);
  assert.deepEqual(sync.send("EVAL", "return redis.call('SET', KEYS[1], ARGV[1])", 1, "{t}e", "v"), "OK");
  const across = sync.pipeline();
  for (let i = 0; i < 30; i++) across.set(`q${i}`, String(i)).get(`s${i}`);
  const replies = across.execute();
  for (let i = 0; i < 30; i++) assert.deepEqual([replies[2 * i], replies[2 * i + 1]], ["OK", String(i)]);
  assert.deepEqual(
    sync.pipeline().addCommand("MULTI").incr("{m}n").incr("{m}n").addCommand("EXEC").execute(),
    ["OK", "QUEUED", "QUEUED", [1, 2]],
  );
  sync.rpush("list", "x");
  assert.deepEqual(sync.blpop("list", 1), [PREFIX + "list", "x"]);
  assert.deepEqual(sync.spublish("{ch}news", "nobody"), 0, "a shard channel goes as named");
  const written = [...keys, ...keys.map((_, i) => `q${i}`), "{t}a", "{t}b", "{t}e", "{m}n"];
  assert.deepEqual(storedKeys(), written.map((k) => PREFIX + k).sort());
});

test("cluster clients with a hash tag in keyPrefix: keys of any slot without it go together to the prefix's master", async () => {
  flushAll();
  const prefix = "{tenant1}:", owner = address(cluster.masterOf(slotOf(prefix)));
  await using pool = await connectClusterPool({ nodes: seeds(), keyPrefix: prefix, maxRedirects: 0 });
  assert.notDeepEqual(slotOf("a"), slotOf("b"));
  assert.deepEqual(await pool.mset("a", "1", "b", "2", "c", "3"), "OK");
  assert.deepEqual(pool.nodeFor("get", "a"), owner);
  assert.deepEqual(
    await pool.pipeline().addCommand("MULTI").incr("x").incr("y").addCommand("EXEC").execute(),
    ["OK", "QUEUED", "QUEUED", [1, 1]],
  );
  using sync = connectCluster({ nodes: seeds(), keyPrefix: prefix, maxRedirects: 0 });
  assert.deepEqual(sync.mget("a", "b", "c", "x"), ["1", "2", "3", "1"]);
  assert.deepEqual(sync.pipeline().addCommand("MULTI").incr("y").addCommand("EXEC").execute(), ["OK", "QUEUED", [2]]);
  const written = ["a", "b", "c", "x", "y"].map((k) => prefix + k);
  assert.deepEqual(plain.sendTo<string[]>(owner, "KEYS", "*").sort(), written);
  assert.deepEqual(storedKeys(), written);
});

test("cluster pool with keyPrefix: commands, pipelined and blocking commands answered MOVED or ASK are sent again with the prefixed keys, once", async () => {
  flushAll();
  await using pool = await connectClusterPool({ nodes: seeds(), keyPrefix: PREFIX, refreshInterval: 0 });
  // The slots move after the pool read the map: it sends there, and meets MOVED.
  const newOwner = moveSlot(slotOf(PREFIX + "kp0"));
  moveSlot(slotOf("pmv")); // the slot of every {pmv} key, prefixed or not
  const popped = pool.blpop("{pmv}list", 5);
  const [set, incr, piped] = await Promise.all([
    pool.set("kp0", "v"),
    pool.incr("{pmv}a"),
    pool.pipeline().incr("{pmv}b").incr("{pmv}b").execute(),
  ]);
  assert.deepEqual([set, incr, piped], ["OK", 1, [1, 2]]);
  await sleep(100);
  plain.rpush(PREFIX + "{pmv}list", "x");
  assert.deepEqual(await popped, [PREFIX + "{pmv}list", "x"]);
  assert.deepEqual(newOwner.cli("get", PREFIX + "kp0"), "v", "stored on the slot's new master");
  // A slot half moved: a key its master does not hold gets ASK, and goes to the importing master.
  const halfMoved = slotOf("pask"), half = migrate(halfMoved);
  assert.deepEqual(await pool.set("{pask}x", "v"), "OK");
  assert.deepEqual(await pool.pipeline().set("{pask}y", "w").execute(), ["OK"]);
  assert.deepEqual(half.target.cli("cluster", "countkeysinslot", String(halfMoved)), "2", "on the importing master");
  half.finish();
  assert.deepEqual(half.target.cli("mget", PREFIX + "{pask}x", PREFIX + "{pask}y"), "v\nw");
  const stats = pool.stats;
  assert(stats.moved >= 4 && stats.ask >= 2, JSON.stringify(stats));
  assert.deepEqual(plain.mget(PREFIX + "{pmv}a", PREFIX + "{pmv}b"), ["1", "2"], "each INCR ran once");
  assert.deepEqual(storedKeys(), ["kp0", "{pmv}a", "{pmv}b", "{pask}x", "{pask}y"].map((k) => PREFIX + k).sort());
  await cluster.waitHealthy();
});

test("cluster pool with keyPrefix: commands that failed on their way to a node never reached wait, then go with the prefixed keys, once", async () => {
  flushAll();
  const key = "tb", owner = cluster.masterOf(slotOf(PREFIX + key));
  const seed = cluster.nodes.find((n) => n !== owner)!;
  const nowhere = await freePort();
  let hidden = true;
  // The key's master is announced at an address nothing listens on, until the map is read again.
  const natMap = (a: { host: string; port: number }) =>
    hidden && a.port === owner.port ? { host: "127.0.0.1", port: nowhere } : a;
  await using pool = await connectClusterPool({
    nodes: [`redis://${address(seed)}`],
    natMap,
    keyPrefix: PREFIX,
    offlineTimeout: 10_000,
  });
  const incrs = Array.from({ length: 5 }, () => pool.incr(key));
  const piped = pool.pipeline().incr(key).incr(key).execute();
  await sleep(100);
  hidden = false;
  await pool.refresh();
  const counts = [...await Promise.all(incrs), ...await piped];
  assert.deepEqual(counts.sort(), [1, 2, 3, 4, 5, 6, 7]);
  assert(pool.stats.waits >= 7, `they waited: ${JSON.stringify(pool.stats)}`);
  assert.deepEqual(owner.cli("get", PREFIX + key), "7");
  assert.deepEqual(storedKeys(), [PREFIX + key]);
});

test("cluster client (sync) with keyPrefix: commands and pipelined commands answered MOVED or ASK are sent again with the prefixed keys, once", async () => {
  flushAll();
  using sync = connectCluster({ nodes: seeds(), keyPrefix: PREFIX });
  const newOwner = moveSlot(slotOf(PREFIX + "skp0"));
  moveSlot(slotOf("smv"));
  assert.deepEqual(sync.set("skp0", "v"), "OK");
  // Its commands for the moved slot are sent again one by one; the one for a slot that stayed is not.
  const piped = sync.pipeline().incr("{smv}a").incr("{smv}a").set("{smv}b", "w").incr("{stay}c").execute();
  assert.deepEqual(piped, [1, 2, "OK", 1]);
  assert.deepEqual(newOwner.cli("get", PREFIX + "skp0"), "v", "stored on the slot's new master");
  const halfMoved = slotOf("sask"), half = migrate(halfMoved);
  assert.deepEqual(sync.set("{sask}x", "v"), "OK");
  assert.deepEqual(sync.pipeline().set("{sask}y", "w").execute(), ["OK"]);
  assert.deepEqual(half.target.cli("cluster", "countkeysinslot", String(halfMoved)), "2", "on the importing master");
  half.finish();
  assert.deepEqual(half.target.cli("mget", PREFIX + "{sask}x", PREFIX + "{sask}y"), "v\nw");
  const stats = sync.stats;
  assert(stats.moved >= 4 && stats.ask >= 2, JSON.stringify(stats));
  assert.deepEqual(plain.get(PREFIX + "{smv}a"), "2", "each INCR ran once");
  assert.deepEqual(
    storedKeys(),
    ["skp0", "{smv}a", "{smv}b", "{stay}c", "{sask}x", "{sask}y"].map((k) => PREFIX + k).sort(),
  );
  await cluster.waitHealthy();
});

test("cluster pool with keyPrefix: a key the prefix cannot join is a rejection (TypeError), never sent", async () => {
  flushAll();
  await using pool = await connectClusterPool({ nodes: seeds(), keyPrefix: PREFIX });
  const node = address(cluster.masterOf(slotOf(PREFIX + "k0")));
  for (const bad of [undefined, null, {}, NaN]) {
    const key = bad as never;
    await assert.rejects(pool.get(key), TypeError);
    await assert.rejects(pool.set(key, "v"), TypeError);
    await assert.rejects(pool.send("DEL", key), TypeError);
    await assert.rejects(pool.sendTo(node, "GET", key), TypeError);
  }
  assert.deepEqual(storedKeys(), []);
});
