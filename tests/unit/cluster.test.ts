/**
 * The cluster router's pure parts, without a server: slots of keys, a command's slot from the table's key
 * positions, the cluster's descriptions (CLUSTER SHARDS as RESP2 lists and as RESP3 maps, CLUSTER SLOTS),
 * redirections, natMap, and the options' checks.
 */
import assert from "node:assert/strict";
import { test } from "../harness/shim.ts";
import { ANY_SLOT, commandSlot, isReadOnly } from "../../src/cluster/keys.ts";
import { allCommands } from "../../src/command_info.ts";
import { hasSubcommands, keyIsFirstArgument, KeyPrefix, tableName } from "../../src/key_positions.ts";
import { clusterSettings } from "../../src/cluster/options.ts";
import { ParkedCalls } from "../../src/cluster/parked.ts";
import { PipelineSplit, sentCommand } from "../../src/cluster/pipeline.ts";
import { CommandEncoder } from "../../src/encoder.ts";
import { QueueFullError } from "../../src/pool_core.ts";
import { SlotRouter } from "../../src/cluster/router.ts";
import { slotOf } from "../../src/cluster/slot.ts";
import {
  mapAddress,
  parseShards,
  parseSlots,
  redirectOf,
  shardsFrom,
  transactionRedirect,
} from "../../src/cluster/topology.ts";
import { ClosedError, ConnectionError, CpipeError, ReplyError } from "../../src/errors.ts";

test("cluster unit: key slots (known values, tags, bytes, numbers)", () => {
  assert.equal(slotOf("foo"), 12182);
  assert.equal(slotOf("a"), 15495);
  assert.equal(slotOf("{user1000}.following"), slotOf("user1000"));
  assert.equal(slotOf("x{}y"), slotOf(new TextEncoder().encode("x{}y")));
  assert.equal(slotOf("{a}{b}"), slotOf("a"));
  assert.equal(slotOf("é"), slotOf(new TextEncoder().encode("é")));
  assert.equal(slotOf(42), slotOf("42"));
});

test("cluster unit: a command's slot from its key positions", () => {
  assert.equal(commandSlot("get", ["k"]), slotOf("k"));
  assert.equal(commandSlot("mset", ["{t}a", "1", "{t}b", "2"]), slotOf("t"));
  assert.equal(commandSlot("eval", ["return 1", 2, "{t}a", "{t}b", "arg-not-a-key"]), slotOf("t"));
  assert.equal(commandSlot("xread", ["COUNT", 1, "STREAMS", "{s}1", "{s}2", "0", "0"]), slotOf("s"));
  assert.equal(commandSlot("spublish", ["chan", "msg"]), slotOf("chan"));
  assert.equal(commandSlot("ping", []), ANY_SLOT);
  assert.equal(commandSlot("no-such-command", ["x"]), ANY_SLOT);
  const crossed = commandSlot("mget", ["a", "b"]);
  assert.ok(crossed instanceof CpipeError && /different slots/.test(crossed.message));
  assert.equal(isReadOnly("get", ["k"]), true);
  assert.equal(isReadOnly("set", ["k", "v"]), false);
  assert.equal(isReadOnly("object", ["encoding", "k"]), true);
});

test("cluster unit: CLUSTER SHARDS (RESP2 and RESP3), CLUSTER SLOTS, failed nodes left out", () => {
  const node = (port: number, role: string, health: string) => [
    "id",
    `n${port}`,
    "port",
    port,
    "ip",
    "10.0.0.1",
    "endpoint",
    port === 7002 ? "?" : "cache.local",
    "role",
    role,
    "health",
    health,
  ];
  const shards = [
    ["slots", [0, 100, 200, 300], "nodes", [node(7000, "master", "online"), node(7001, "replica", "online")]],
    ["slots", [101, 199], "nodes", [node(7002, "master", "online"), node(7003, "replica", "fail")]],
    ["slots", [], "nodes", [node(7004, "master", "online")]],
  ];
  const parsed = parseShards(shards, "seed");
  assert.deepEqual(parsed, [
    {
      slots: [[0, 100], [200, 300]],
      master: { host: "cache.local", port: 7000 },
      replicas: [{ host: "cache.local", port: 7001 }],
    },
    { slots: [[101, 199]], master: { host: "10.0.0.1", port: 7002 }, replicas: [] },
  ]);
  const asMap = (flat: unknown[]) =>
    new Map(Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i], flat[2 * i + 1]]));
  const resp3 = shards.map((s) => asMap([s[0], s[1], s[2], (s[3] as unknown[][]).map(asMap)]));
  assert.deepEqual(parseShards(resp3 as never, "seed"), parsed);
  const slots = [[0, 100, ["", 7000, "a"], ["10.0.0.2", 7001, "b"]], [200, 300, ["", 7000, "a"]]];
  assert.deepEqual(parseSlots(slots, "seed"), [
    {
      slots: [[0, 100], [200, 300]],
      master: { host: "seed", port: 7000 },
      replicas: [{ host: "10.0.0.2", port: 7001 }],
    },
  ]);
  assert.throws(() => parseShards("nope", "seed"), ReplyError);
  // A node serving TLS beside plain TCP lists both ports: a TLS client dials the TLS one, others the plain one.
  const both = [["slots", [0, 16383], "nodes", [["port", 7000, "tls-port", 8000, "ip", "10.0.0.1", "role", "master"]]]];
  assert.deepEqual(parseShards(both, "seed", true)[0]!.master, { host: "10.0.0.1", port: 8000 });
  assert.deepEqual(parseShards(both, "seed", false)[0]!.master, { host: "10.0.0.1", port: 7000 });
  const tlsOnly = [["slots", [0, 16383], "nodes", [["tls-port", 8000, "ip", "10.0.0.1", "role", "master"]]]];
  assert.deepEqual(parseShards(tlsOnly, "seed", false)[0]!.master, { host: "10.0.0.1", port: 8000 });
});

test("cluster unit: redirections and natMap", () => {
  assert.deepEqual(redirectOf(new ReplyError("MOVED 3999 127.0.0.1:6381")), {
    kind: "moved",
    slot: 3999,
    address: { host: "127.0.0.1", port: 6381 },
  });
  assert.deepEqual(redirectOf(new ReplyError("ASK 1 [::1]:7000")), {
    kind: "ask",
    slot: 1,
    address: { host: "::1", port: 7000 },
  });
  assert.deepEqual(redirectOf(new ReplyError("MOVED 5 :7000")), {
    kind: "moved",
    slot: 5,
    address: { host: "?", port: 7000 },
  });
  assert.equal(redirectOf(new ReplyError("TRYAGAIN Multiple keys request during rehashing of slot"))?.kind, "retry");
  assert.equal(redirectOf(new ReplyError("CLUSTERDOWN The cluster is down"))?.kind, "retry");
  assert.equal(redirectOf(new ReplyError("WRONGTYPE Operation against a key")), null);
  assert.equal(redirectOf("MOVED 1 a:1"), null);
  // A transaction is sent again only when a redirection kept all of it from running.
  const abort = new ReplyError("EXECABORT Transaction discarded because of previous errors.");
  const ask = new ReplyError("ASK 7 127.0.0.1:7001");
  assert.equal(transactionRedirect(["OK", "QUEUED", ask, abort])?.kind, "ask");
  assert.equal(transactionRedirect(["OK", new ReplyError("MOVED 7 127.0.0.1:7001"), abort])?.kind, "moved");
  assert.equal(
    transactionRedirect(["OK", "QUEUED", "QUEUED", new ReplyError("TRYAGAIN slot migrating")])?.kind,
    "retry",
  );
  assert.equal(transactionRedirect(["OK", ask, new ReplyError("ERR wrong number of arguments"), abort]), null);
  assert.equal(transactionRedirect(["OK", "QUEUED", [1]]), null, "it ran");
  assert.equal(transactionRedirect(["OK", "QUEUED", null]), null, "a WATCHed key changed");
  assert.equal(transactionRedirect(["OK", "QUEUED", new ReplyError("WRONGTYPE")]), null);
  assert.equal(transactionRedirect([1, "OK", ask, abort]), null, "something before MULTI ran");
  const nat = { "10.0.0.1:7000": { host: "127.0.0.1", port: 30000 } };
  assert.deepEqual(mapAddress({ host: "10.0.0.1", port: 7000 }, nat), { host: "127.0.0.1", port: 30000 });
  assert.deepEqual(mapAddress({ host: "10.0.0.1", port: 7001 }, nat), { host: "10.0.0.1", port: 7001 });
  assert.deepEqual(mapAddress({ host: "a", port: 1 }, (a) => ({ ...a, host: "b" })), { host: "b", port: 1 });
});

test("cluster unit: the router opens each node once, closes those that leave, spreads replica reads", () => {
  const opened: string[] = [], closed: string[] = [];
  const router = new SlotRouter<string>(
    {
      open: (_, key) => (opened.push(key), key),
      close: (key) => void closed.push(key),
      up: () => true,
    },
    { "10.0.0.9:1": { host: "h", port: 9 } },
    "replica",
  );
  router.seed([{ host: "seed", port: 1 }]);
  const m = { host: "m", port: 1 }, r = { host: "10.0.0.9", port: 1 };
  router.apply([{ slots: [[0, 16383]], master: m, replicas: [r] }], new Set(["seed:1"]));
  assert.deepEqual(opened, ["seed:1", "m:1", "h:9"]);
  assert.equal(router.pick(5, false).key, "m:1");
  assert.equal(router.pick(5, true).key, "h:9");
  assert.equal(router.pick(ANY_SLOT, false).key, "m:1");
  router.moved(5, { host: "n", port: 2 });
  assert.equal(router.pick(5, false).key, "n:2");
  router.apply([{ slots: [[0, 16383]], master: { host: "n", port: 2 }, replicas: [] }], new Set(["seed:1"]));
  assert.deepEqual(closed.sort(), ["h:9", "m:1"]);
});

test("cluster unit: options are checked", () => {
  assert.throws(() => clusterSettings({ nodes: [] }), /at least one node/);
  assert.throws(() => clusterSettings({ nodes: ["redis://a:1"], readFrom: "slave" as never }), /readFrom/);
  assert.throws(() => clusterSettings({ nodes: ["redis://a:1"], db: 2 }), /database 0/);
  assert.throws(() => clusterSettings({ nodes: ["redis://a:1"], sizee: 2 } as never), /unknown option "sizee"/);
  // A single server's pool options would reach every node and mean nothing there (the cache: tracking, never read).
  for (const key of ["size", "clientCache", "url", "host", "port", "path"]) {
    const given = { nodes: ["redis://a:1"], [key]: key === "clientCache" ? {} : key === "size" ? 4 : "x" };
    assert.throws(() => clusterSettings(given as never), new RegExp(`${key} is not a cluster option`));
  }
  assert.throws(() => clusterSettings({ nodes: ["redis://a:1"], offlineQueue: "no" as never }), /offlineQueue/);
  assert.equal(clusterSettings({ nodes: ["redis://a:1"] }).offlineQueue, true);
  const failFast = clusterSettings({ nodes: ["redis://a:1"], offlineQueue: false, offlineTimeout: 250 });
  assert.equal(failFast.offlineQueue, false);
  assert.equal(failFast.offlineTimeout, 250);
  assert.equal(failFast.node({ host: "a", port: 1 }).offlineQueue, true, "a node's own connection still queues");
  const prefixed = clusterSettings({ nodes: ["redis://a:1"], keyPrefix: "app:" });
  assert.equal(prefixed.keyPrefix, "app:");
  assert.equal(prefixed.node({ host: "a", port: 1 }).keyPrefix, null, "the cluster client prefixes keys, not a node");
  assert.throws(() => clusterSettings({ nodes: ["redis://a:1"], keyPrefix: 1 as never }), TypeError);
  const s = clusterSettings(["redis://alice:pw@a:7000", "redis://b:7001"], { readFrom: "preferReplica" });
  assert.deepEqual(s.seeds, [{ host: "a", port: 7000 }, { host: "b", port: 7001 }]);
  const node = s.node({ host: "b", port: 7001 });
  assert.equal(node.password, "pw");
  assert.equal(node.readOnly, true);
  assert.ok(!JSON.stringify(node).includes("pw"), "the password is hidden when printed");
});

test("cluster unit: routing reads the key specs and READ_ONLY as the whole table would (every command, both cases)", () => {
  // The cluster does not import the table (src/command_info.ts); what it reads instead must agree with it.
  let readOnly = 0, firstKey = 0;
  for (const info of allCommands()) {
    const [container, sub] = info.name.split("|") as [string, string | undefined];
    const args = sub === undefined ? ["k"] : [sub, "k"];
    const spec = info.keySpecs.length === 1 ? info.keySpecs[0]! : undefined;
    const expectFirst = info.subcommands === undefined && spec !== undefined && spec.begin.type === "index" &&
      spec.begin.index === 1 && spec.find.type === "range" && spec.find.lastKey === 0 &&
      !spec.flags.includes("NOT_KEY");
    const expectRead = info.flags.includes("readonly") && !info.flags.includes("write");
    for (const spelling of [container, container.toUpperCase()]) {
      assert.equal(tableName(spelling, sub === undefined ? [] : [sub.toUpperCase()]), info.name, info.name);
      if (sub === undefined) {
        assert.equal(keyIsFirstArgument(spelling), expectFirst, `${info.name}: key is the first argument`);
        assert.equal(hasSubcommands(spelling), info.subcommands !== undefined, `${info.name}: subcommands`);
      }
      assert.equal(isReadOnly(spelling, args), expectRead, `${info.name}: read-only`);
    }
    if (expectRead) readOnly++;
    if (expectFirst) firstKey++;
  }
  // Neither list may be empty (a generator that lost one would pass the loop above only if both sides lost it).
  assert.ok(readOnly > 50 && firstKey > 100, `read-only ${readOnly}, first-key ${firstKey}`);
  assert.equal(tableName("no-such-command", []), undefined);
  assert.equal(isReadOnly("object", ["encoding", "k"]), true);
  assert.equal(isReadOnly("object", ["no-such-sub"]), false);
});

test("cluster unit: CLUSTER SHARDS' failure is thrown as it came, unknown to the server it asks for CLUSTER SLOTS", () => {
  const unreachable = new ConnectionError("cpipe: 127.0.0.1:1: cannot connect: Connection refused");
  assert.throws(() => shardsFrom(unreachable, "127.0.0.1"), (e) => e === unreachable);
  const refused = new ReplyError("ERR This instance has cluster support disabled");
  assert.throws(() => shardsFrom(refused, "127.0.0.1"), (e) => e === refused);
  assert.equal(shardsFrom(new ReplyError("ERR unknown subcommand 'SHARDS'"), "127.0.0.1"), null);
});

test("cluster unit: a call for a down node waits for a map or the node's return, within its timeout", async () => {
  // Slot 1 on connection 1, slot 2 on connection 2; connection 1 is down.
  const map = new Map([[1, 1], [2, 2]]), down = new Set([1]);
  let held = 0;
  const parked = new ParkedCalls(
    {
      route: (slot) => map.get(slot)!,
      down: (c) => down.has(c),
      spare: () => [1, 2].find((c) => !down.has(c)) ?? -1,
      describe: (c) => `127.0.0.1:700${c}: cannot connect: Connection refused`,
      hold: (delta) => held += delta,
    },
    80,
    3,
  );
  assert.equal(parked.connection(2, false), 2, "a node that is up: at once");
  map.set(ANY_SLOT, 1);
  assert.equal(parked.connection(ANY_SLOT, false), 2, "a command without keys goes to a master that is up");
  const moved = parked.connection(1, false), back = parked.connection(1, false);
  assert(moved instanceof Promise && back instanceof Promise);
  assert.equal(held, 1, "waiting calls keep the process alive");
  parked.recheck();
  map.set(1, 2); // a replica took slot 1 over
  parked.recheck();
  assert.equal(await moved, 2);
  assert.equal(await back, 2);
  assert.equal(held, 0);

  map.set(1, 1);
  const returned = parked.connection(1, true);
  down.delete(1);
  parked.recheck();
  assert.equal(await returned, 1, "the node came back");

  down.add(1);
  const started = Date.now(), late = parked.connection(1, false) as Promise<number>;
  await assert.rejects(late, (e: Error) => {
    assert(e instanceof ConnectionError, String(e));
    assert.match(e.message, /no node took slot 1 within offlineTimeout \(80 ms\): 127\.0\.0\.1:7001: cannot connect/);
    return true;
  });
  assert(Date.now() - started >= 70, "not before its timeout");
  assert.equal(held, 0);

  // Reads of slot 1 go to a replica (connection 3): while it is down, to the master; with both down, they wait.
  const replicas = new ParkedCalls(
    {
      route: (slot, read) => read ? 3 : map.get(slot)!,
      down: (c) => down.has(c),
      spare: () => -1,
      describe: () => "down",
      hold: () => {},
    },
    80,
    100,
  );
  down.add(3);
  down.delete(1);
  assert.equal(replicas.connection(1, true), 1, "a read goes to the master while its replica is down");
  down.add(1);
  const read = replicas.connection(1, true);
  assert(read instanceof Promise);
  down.delete(3);
  replicas.recheck();
  assert.equal(await read, 3, "then to the replica that came back");

  // At most `maxQueued` wait; the next is refused at once.
  const waiting = [1, 2, 3].map(() => parked.connection(1, false) as Promise<number>);
  await assert.rejects(parked.connection(1, false) as Promise<number>, QueueFullError);
  parked.fail(new ClosedError("cpipe: the cluster client is closed"));
  for (const closing of waiting) await assert.rejects(closing, ClosedError);
  assert.equal(held, 0, "nothing left holding the process");
});

test("cluster unit: a pipeline's parts keep what a redirection sends again as packed bytes, keys prefixed; a transaction is gathered", () => {
  // Two nodes by slot parity; keyless commands go to node 0.
  const route = (slot: number) => slot < 0 ? 0 : slot % 2;
  const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
  const split = new PipelineSplit<number>(route, false, new KeyPrefix("p:"), false);
  for (const key of keys) split.queue("SET", [key, `v:${key}`], null, false, false);
  const batch = split.take(false)!;
  assert.equal(batch.parts.length, 2);
  for (const part of batch.parts) {
    assert.deepEqual(part.issued, [], "no names and arguments kept");
    const sent = part.sent();
    for (let k = 0; k < part.indexes.length; k++) {
      const key = keys[part.indexes[k]!]!, one = new CommandEncoder();
      one.add("SET", [`p:${key}`, `v:${key}`]);
      const { packed, slot } = sentCommand(sent, k);
      assert.deepEqual(packed, one.bytes.subarray(0, one.length), `${key} packed as it was sent`);
      assert.equal(slot, slotOf(`p:${key}`), "routed by the prefixed key");
    }
  }
  // MULTI and EXEC went to node 0, the keyed commands to their slot's node: taken, they are one part, in order.
  const tx = new PipelineSplit<number>(route, false, null, false);
  const commands: [string, string[]][] = [["MULTI", []], ["INCR", ["{t}a"]], ["PING", []], ["INCR", ["{t}b"]], [
    "EXEC",
    [],
  ]];
  for (const [command, args] of commands) {
    tx.checkByName(command, args);
    tx.queue(command, args, null, false, true);
  }
  const whole = tx.take(false)!;
  assert.equal(whole.parts.length, 1);
  const part = whole.parts[0]!, expected = new CommandEncoder();
  for (const [command, args] of commands) expected.add(command, args);
  assert.equal(part.route, slotOf("{t}a") % 2, "on the node of the transaction's slot");
  assert.deepEqual(part.indexes, [0, 1, 2, 3, 4]);
  assert.deepEqual(part.encoder.bytes.subarray(0, part.encoder.length), expected.bytes.subarray(0, expected.length));
  assert.equal(part.encoder.count, 5);
});
