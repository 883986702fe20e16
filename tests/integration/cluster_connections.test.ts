/**
 * The cluster pool's connections beside the shared ones, on a real 6-node cluster (3 masters, 3 replicas) the
 * harness starts and stops. Pub/Sub: shard channels in every master's slots, channels and patterns, subscriber
 * connections given back, a shard channel that follows its slot through a live migration and through a failover
 * (gap events) or an SSUBSCRIBE answered MOVED, and a process that ends by itself. Blocking commands: MOVED followed on a connection of their own.
 * The synchronous client's pipeline: split by node, in order, ASK and MOVED followed per command.
 */
import process from "node:process";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { afterAll, test } from "../harness/shim.ts";
import { runChild } from "../harness/child.ts";
import { sleep, until } from "../harness/wait.ts";
import { type RedisCluster, type RedisServer, startCluster } from "../harness/server.ts";
import { ConnectionError, CpipeError, type Message, ReplyError } from "../../mod.ts";
import { type ClusterPool, connectCluster, connectClusterPool, slotOf } from "../../cluster.ts";

const cluster: RedisCluster = await startCluster({ nodeTimeout: 1000 });
afterAll(() => cluster.stop());
const seeds = (): string[] => cluster.addresses.slice(0, 2).map((a) => `redis://${a}`);
const address = (node: RedisServer) => `${node.host}:${node.port}`;

/** Publishes on a shard channel until a message reaches `received` (a node may refuse while it changes hands). */
async function spublishUntilHeard(pool: ClusterPool, channel: string, received: Message[], ms = 20_000) {
  const stop = Date.now() + ms, before = received.length;
  for (let i = 0; received.length === before; i++) {
    if (Date.now() > stop) throw new Error(`nothing published on ${channel} arrived within ${ms} ms`);
    await pool.spublish(channel, `after:${i}`).catch(() => 0);
    await sleep(50);
  }
}

test("cluster Pub/Sub: shard channels in every master's slots, channels and patterns, connections given back", async () => {
  await using pool = await connectClusterPool(seeds());
  const channels = Array.from({ length: 30 }, (_, i) => `news:${i}`);
  // The routing tests check nodeFor against the servers; asking each server here would take seconds.
  const owners = new Set(channels.map((c) => pool.nodeFor("spublish", c, "")));
  assert.deepEqual(owners.size, 3, "the channels spread over the three masters");
  const shard: Message[] = [], plain: Message[] = [], patterned: Message[] = [];
  const shardSub = await pool.ssubscribe(channels, (m) => void shard.push(m));
  assert.deepEqual(pool.subscriberNodes.sort(), [...owners].sort(), "one subscriber connection per master");
  const bytes = await pool.ssubscribeBuffer(channels[0]!);
  const plainSub = await pool.subscribe("broadcast", (m) => void plain.push(m));
  const patternSub = await pool.psubscribe("broad*", (m) => void patterned.push(m));
  for (const channel of channels) assert.deepEqual(await pool.spublish(channel, `to ${channel}`), 1, channel);
  await until(() => shard.length === channels.length, 5_000, "every shard message");
  assert.deepEqual(shard.map((m) => m.channel).sort(), [...channels].sort());
  for (const m of shard) assert.deepEqual(m.message, `to ${m.channel}`);
  const first = await bytes[Symbol.asyncIterator]().next();
  assert.deepEqual(first.value, { channel: channels[0], message: new TextEncoder().encode(`to ${channels[0]}`) });
  await pool.publish("broadcast", "everyone");
  await until(() => plain.length === 1 && patterned.length === 1, 5_000, "the channel and pattern messages");
  assert.deepEqual(patterned[0], { channel: "broadcast", message: "everyone", pattern: "broad*" });
  // Ending subscriptions gives their connections back; the last one closes them all.
  await shardSub.unsubscribe();
  const left = (): string[] => pool.subscriberNodes;
  assert(left().length <= 2, `bytes' channel's node and the channels' node are left: ${left()}`);
  await bytes.unsubscribe();
  assert(left().length === 1, `only the channels' node is left: ${left()}`);
  await plainSub.unsubscribe();
  await patternSub.unsubscribe();
  assert.deepEqual(pool.subscriberNodes, []);
  assert.deepEqual(await pool.spublish(channels[1]!, "nobody"), 0, "nobody listens any more");
});

test("cluster Pub/Sub: a shard channel's slot migrates live: the subscription follows it, a gap is reported", async () => {
  await using pool = await connectClusterPool(seeds());
  const channel = "{moving}room";
  const slot = slotOf(channel);
  const source = cluster.masterOf(slot);
  const target = cluster.nodes.find((n) => pool.masters.includes(address(n)) && n !== source)!;
  const received: Message[] = [];
  const gaps: { since: number; until: number }[] = [];
  pool.on("gap", (gap) => void gaps.push(gap));
  const sub = await pool.ssubscribe(channel, (m) => void received.push(m));
  assert.deepEqual(pool.subscriberNodes, [address(source)]);
  await pool.spublish(channel, "before");
  await until(() => received.length === 1, 5_000, "the message before the move");
  const [sourceId, targetId] = [source.cli("cluster", "myid"), target.cli("cluster", "myid")];
  target.cli("cluster", "setslot", String(slot), "importing", sourceId);
  source.cli("cluster", "setslot", String(slot), "migrating", targetId);
  for (const node of [target, source, ...cluster.nodes.filter((n) => n !== source && n !== target)]) {
    node.cli("cluster", "setslot", String(slot), "node", targetId);
  }
  await until(() => gaps.length > 0, 10_000, "a gap event");
  assert(gaps[0]!.until >= gaps[0]!.since, JSON.stringify(gaps));
  await until(() => pool.subscriberNodes.includes(address(target)), 10_000, "a subscriber connection to the target");
  await spublishUntilHeard(pool, channel, received);
  assert.deepEqual(received[0], { channel, message: "before" });
  assert(received.slice(1).every((m) => m.channel === channel && m.message.startsWith("after:")), "published after");
  await until(() => !pool.subscriberNodes.includes(address(source)), 5_000, "the source's connection given back");
  await sub.unsubscribe();
  assert.deepEqual(pool.subscriberNodes, []);
  await cluster.waitHealthy();
});

test("cluster Pub/Sub: SSUBSCRIBE answered MOVED (the slot moved unseen) subscribes on the node named", async () => {
  await using pool = await connectClusterPool({ nodes: seeds(), refreshInterval: 0 });
  const channel = "{ss-moved}news";
  const slot = slotOf(channel);
  const source = cluster.masterOf(slot);
  const target = cluster.nodes.find((n) => pool.masters.includes(address(n)) && n !== source)!;
  assert.deepEqual(pool.nodeFor("spublish", channel, ""), address(source));
  const targetId = target.cli("cluster", "myid");
  target.cli("cluster", "setslot", String(slot), "importing", source.cli("cluster", "myid"));
  for (const node of [target, source, ...cluster.nodes.filter((n) => n !== source && n !== target)]) {
    node.cli("cluster", "setslot", String(slot), "node", targetId);
  }
  // The pool's last command before it: a subscription answered MOVED must never send that one again.
  const counter = "ss-moved-counter";
  assert.deepEqual(await pool.incr(counter), 1);
  const received: Message[] = [];
  const sub = await pool.ssubscribe(channel, (m) => void received.push(m));
  assert.deepEqual(pool.subscriberNodes, [address(target)], "subscribed on the node MOVED named");
  assert.deepEqual(await pool.get(counter), "1", "the command before it ran once");
  assert.deepEqual(await pool.spublish(channel, "here"), 1);
  await until(() => received.length === 1, 5_000, "the message");
  assert.deepEqual(received[0], { channel, message: "here" });
  await sub.unsubscribe();
  assert.deepEqual(pool.subscriberNodes, []);
  await cluster.waitHealthy();
});

test("cluster pool: a blocking command answered MOVED (its slot moved unseen) is sent again to the new master", async () => {
  await using pool = await connectClusterPool({ nodes: seeds(), refreshInterval: 0 });
  const key = "{blocking-moved}list";
  const slot = slotOf(key);
  const source = cluster.masterOf(slot);
  const target = cluster.nodes.find((n) => pool.masters.includes(address(n)) && n !== source)!;
  assert.deepEqual(pool.nodeFor("blpop", key, 0), address(source));
  const targetId = target.cli("cluster", "myid");
  target.cli("cluster", "setslot", String(slot), "importing", source.cli("cluster", "myid"));
  for (const node of [target, source, ...cluster.nodes.filter((n) => n !== source && n !== target)]) {
    node.cli("cluster", "setslot", String(slot), "node", targetId);
  }
  const popped = pool.blpop(key, 5);
  await sleep(100);
  target.cli("rpush", key, "v");
  assert.deepEqual(await popped, [key, "v"]);
  assert(pool.stats.moved >= 1, JSON.stringify(pool.stats));
  assert.deepEqual(pool.nodeFor("blpop", key, 0), address(target));
  await cluster.waitHealthy();
});

test("cluster client (sync): a pipeline split by node keeps the caller's order and follows ASK and MOVED per command", () => {
  using sync = connectCluster(seeds());
  // Across the three masters, in order, error replies in place.
  const p = sync.pipeline();
  for (let i = 0; i < 300; i++) p.set(`spipe:${i}`, String(i)).get(`spipe:${i}`);
  p.addCommand("HGET", "spipe:0", "field");
  const replies = p.execute();
  assert.deepEqual(replies.length, 601);
  for (let i = 0; i < 300; i++) assert.deepEqual([replies[2 * i], replies[2 * i + 1]], ["OK", String(i)]);
  assert(replies[600] instanceof ReplyError, "HGET of a string: its WRONGTYPE error in place");
  assert.deepEqual(sync.pipeline().execute(), []);
  assert.deepEqual(
    sync.pipeline().addCommand("MULTI").incr("{spipe}n").incr("{spipe}n").addCommand("EXEC").execute(),
    ["OK", "QUEUED", "QUEUED", [1, 2]],
  );
  assert.throws(() => sync.pipeline().addCommand("MULTI").incr("a").incr("b").addCommand("EXEC").execute(), CpipeError);
  // A slot half migrated: a new key there gets ASK; once moved, its keys get MOVED. The map is not read meanwhile.
  const key = "{spipe-moving}k";
  const slot = slotOf(key);
  const source = cluster.masterOf(slot);
  const target = cluster.nodes.find((n) => sync.masters.includes(address(n)) && n !== source)!;
  const [sourceId, targetId] = [source.cli("cluster", "myid"), target.cli("cluster", "myid")];
  target.cli("cluster", "setslot", String(slot), "importing", sourceId);
  source.cli("cluster", "setslot", String(slot), "migrating", targetId);
  const asked = sync.pipeline().set("spipe:1", "one").set(key, "moved").get("spipe:2").execute();
  assert.deepEqual(asked, ["OK", "OK", "2"]);
  assert.deepEqual(target.cli("cluster", "countkeysinslot", String(slot)), "1", "written on the importing node");
  for (const node of [target, source, ...cluster.nodes.filter((n) => n !== source && n !== target)]) {
    node.cli("cluster", "setslot", String(slot), "node", targetId);
  }
  const moved = sync.pipeline().get(key).get("spipe:1").append(key, "!").get(key).execute();
  assert.deepEqual(moved, ["moved", "one", 6, "moved!"]);
  const stats = sync.stats;
  assert(stats.ask >= 1 && stats.moved >= 1, JSON.stringify(stats));
  assert.deepEqual(sync.nodeFor("get", key), address(target));
});

test("cluster Pub/Sub: a master stopped: shard channels and channels follow to the promoted replica", async () => {
  await using pool = await connectClusterPool(seeds());
  const victim = cluster.nodes.find((n) =>
    n.cli("role").startsWith("master") && n.cli("info", "replication").includes("connected_slaves:1")
  )!;
  const channel = Array.from({ length: 2000 }, (_, i) => `fo:${i}`).find((c) =>
    cluster.masterOf(slotOf(c)) === victim
  )!;
  const received: Message[] = [], broadcast: Message[] = [];
  const gaps: { connection: number; since: number; until: number }[] = [];
  pool.on("gap", (gap) => void gaps.push(gap));
  const sub = await pool.ssubscribe(channel, (m) => void received.push(m));
  const plain = await pool.subscribe("everyone", (m) => void broadcast.push(m));
  assert(pool.subscriberNodes.includes(address(victim)));
  await victim.stop();
  await until(() => gaps.length > 0, 20_000, "a gap event after the failover");
  await spublishUntilHeard(pool, channel, received);
  const promoted = cluster.masterOf(slotOf(channel));
  assert.notDeepEqual(promoted, victim);
  await until(() => pool.subscriberNodes.includes(address(promoted)), 5_000, "a connection to the new master");
  // Channels too: published after the failover, they arrive (on whichever node they live now).
  const stop = Date.now() + 20_000;
  while (broadcast.length === 0 && Date.now() < stop) {
    await pool.publish("everyone", "hello").catch(() => 0);
    await sleep(100);
  }
  assert(broadcast.length > 0, "a channel message after the failover");
  await until(() => !pool.subscriberNodes.includes(address(victim)), 10_000, "the dead master's connection given back");
  await sub.unsubscribe();
  await plain.unsubscribe();
  assert.deepEqual(pool.subscriberNodes, []);
});

test("cluster pool: a replica removed by a refresh fails the read sent to it (may have run) and re-routes the one staged there", async () => {
  // A cluster of its own: the replica is forgotten by the others for a minute.
  await using own = await startCluster({ nodeTimeout: 1000 });
  const key = "removed:{r}";
  const master = own.masterOf(slotOf(key));
  const [replicaId, replicaAt] = master.cli("cluster", "replicas", master.cli("cluster", "myid")).split(" ");
  const replica = own.nodes.find((n) => address(n) === replicaAt!.split("@")[0])!;
  const options = { nodes: [`redis://${address(master)}`], readFrom: "replica" as const, refreshInterval: 0 };
  await using sent = await connectClusterPool(options);
  await sent.set(key, "v");
  await until(async () => await sent.get(key) === "v", 5_000, "the replica to hold the write");
  const pid = Number(replica.cli("info", "server").match(/process_id:(\d+)/)![1]);
  process.kill(pid, "SIGSTOP");
  try {
    const read = sent.get(key).catch((e: unknown) => e);
    // Connected to the stopped replica (the kernel accepts), its READONLY unanswered: the read is staged there.
    await using staged = await connectClusterPool(options);
    assert.deepEqual(staged.nodeFor("get", key), address(replica));
    const stagedRead = staged.get(key).catch((e: unknown) => e);
    await sleep(50);
    for (const node of own.nodes) if (node !== replica) node.cli("cluster", "forget", replicaId!);
    await Promise.all([sent.refresh(), staged.refresh()]);
    assert(!sent.nodes.includes(address(replica)) && !staged.nodes.includes(address(replica)), "the replica is gone");
    const [error, stagedValue] = await Promise.all([read, stagedRead]);
    assert.deepEqual(stagedValue, "v", "the read that never left goes to the slot's master");
    assert(error instanceof ConnectionError && !error.unsent, `the read sent to it may have run: ${error}`);
    assert(staged.stats.waits >= 1, JSON.stringify(staged.stats));
    assert.deepEqual(await sent.get(key), "v", "the next read goes to the master");
  } finally {
    process.kill(pid, "SIGCONT");
  }
});

for (const mode of ["unsubscribed", "subscribed"]) {
  test(`cluster Pub/Sub: a process ends by itself (${mode === "subscribed" ? "closed while subscribed" : mode})`, async () => {
    const child = fileURLToPath(new URL("./exit_child.ts", import.meta.url));
    const live = cluster.nodes.find((n) => n.cli("ping") === "PONG")!;
    const r = await runChild(child, ["cluster", mode, String(live.port)]);
    assert.deepEqual(r.code, 0, r.output);
    assert(r.output.includes("done"), r.output);
  });
}
