/** The command table and its readers, without a server: entries, key positions, blocking, replies owed. */
import assert from "node:assert/strict";
import { test } from "../harness/shim.ts";
import {
  allCommands,
  commandDocs,
  commandInfo,
  commandTableSources,
  isBlocking,
  keyPositions,
  REPLIES_PER_SUBSCRIPTION,
  repliesOwed,
} from "../../src/command_info.ts";

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

test("the table holds both servers' commands and subcommands", () => {
  assert.deepEqual(commandTableSources, { redis: "8.0.2", valkey: "8.1.1" });
  const all = allCommands();
  assert.equal(all.length, 418);
  const redis = all.filter((c) => c.servers.redis !== undefined);
  const valkey = all.filter((c) => c.servers.valkey !== undefined);
  assert.equal(redis.length, 405);
  assert.equal(valkey.length, 405);
  assert.deepEqual(commandInfo("hgetex")?.servers, { redis: "8.0.0" });
  assert.deepEqual(commandInfo("commandlog", ["get", 10])?.servers, { valkey: "8.1.0" });
  assert.deepEqual(commandInfo("get")?.servers, { redis: "1.0.0", valkey: "1.0.0" });
});

test("entries: arity, flags, key specs, tips, docs", async () => {
  const get = commandInfo("get")!;
  assert.equal(get.name, "get");
  assert.equal(get.container, undefined);
  assert.equal(get.arity, 2);
  assert.equal(get.group, "string");
  assert.deepEqual([...get.flags], ["readonly", "fast"]);
  assert.deepEqual(get.keySpecs, [{
    flags: ["RO", "ACCESS"],
    begin: { type: "index", index: 1 },
    find: { type: "range", lastKey: 0, step: 1, limit: 0 },
  }]);
  const docs = (await commandDocs("get"))!;
  assert.match(docs.summary, /value of a key/);
  assert.equal(docs.complexity, "O(1)");
  assert.deepEqual(docs.arguments, [{ name: "key", type: "key", keySpecIndex: 0 }]);
  assert.ok(docs.reply, "a reply schema");
  assert.equal((await commandDocs("client", ["setname", "x"]))?.complexity, "O(1)");
  assert.equal(await commandDocs("json.get"), undefined);
  assert.ok(commandInfo("keys")!.tips.includes("request_policy:all_shards"));
  assert.deepEqual([...commandInfo("georadius")!.docFlags], ["deprecated"]);
  assert.equal(
    (await commandDocs("georadius"))!.replacedBy,
    "`GEOSEARCH` and `GEOSEARCHSTORE` with the `BYRADIUS` argument",
  );
  const xread = commandInfo("xread")!;
  assert.deepEqual(xread.keySpecs[0]!.begin, { type: "keyword", keyword: "STREAMS", startFrom: 1 });
  assert.deepEqual(xread.keySpecs[0]!.find, { type: "range", lastKey: -1, step: 1, limit: 2 });
  assert.deepEqual(commandInfo("zunionstore")!.keySpecs[1]!.find, {
    type: "keynum",
    keyNumIndex: 0,
    firstKey: 1,
    step: 1,
  });
  // Where Valkey's spec differs, the difference is kept for Valkey.
  assert.ok(commandInfo("exec")!.flags.includes("skip_slowlog"));
  assert.ok(commandInfo("exec")!.valkey!.flags!.includes("skip_commandlog"));
  assert.equal(commandInfo("get")!.valkey, undefined);
  assert.ok((await commandDocs("set"))!.valkey?.arguments, "Valkey's SET has IFEQ");
  assert.deepEqual((await commandDocs("migrate"))!.arguments![2]!.arguments![1], {
    name: "empty-string",
    type: "pure-token",
    token: "",
  });
});

test("subcommands, case-insensitive names, bytes", () => {
  assert.equal(commandInfo("client", ["setname", "x"])?.name, "client|setname");
  assert.equal(commandInfo("CLIENT", ["SETNAME", "x"])?.container, "client");
  assert.equal(commandInfo(bytes("Client"), [bytes("SetName"), "x"])?.name, "client|setname");
  assert.equal(commandInfo("client")?.name, "client");
  assert.equal(commandInfo("client", [])?.name, "client");
  assert.equal(commandInfo("client", ["no-such-subcommand"])?.name, "client", "unknown subcommand: the container");
  assert.ok(commandInfo("client")!.subcommands!.has("setname"));
  assert.equal(commandInfo("config", ["get", "x"])?.arity, -3);
  assert.equal(commandInfo("xinfo", ["stream", "s"])?.name, "xinfo|stream");
  assert.equal(commandInfo("GeT")?.name, "get");
  assert.equal(commandInfo(bytes("GET"))?.name, "get");
  assert.equal(commandInfo("json.get"), undefined);
  assert.equal(commandInfo(new Uint8Array(100).fill(97)), undefined);
  assert.equal(commandInfo("get", ["x"])?.name, "get", "a command without subcommands ignores its arguments");
});

test("key positions: every shape of key spec", () => {
  assert.deepEqual(keyPositions("get", ["k"]), [0]);
  assert.deepEqual(keyPositions("GET", [bytes("k")]), [0]);
  assert.deepEqual(keyPositions(bytes("get"), ["k"]), [0]);
  assert.deepEqual(keyPositions("set", ["k", "v", "EX", 10]), [0]);
  assert.deepEqual(keyPositions("lmove", ["a", "b", "LEFT", "RIGHT"]), [0, 1]);
  assert.deepEqual(keyPositions("mset", ["a", "1", "b", "2", "c", "3"]), [0, 2, 4]);
  assert.deepEqual(keyPositions("mget", ["a", "b", "c"]), [0, 1, 2]);
  assert.deepEqual(keyPositions("del", ["a"]), [0]);
  assert.deepEqual(keyPositions("blpop", ["a", "b", 0]), [0, 1]);
  // A count, then the keys.
  assert.deepEqual(keyPositions("eval", ["return 1", 2, "k1", "k2", "a1"]), [2, 3]);
  assert.deepEqual(keyPositions("evalsha", ["abc", "1", "k1", "a1"]), [2]);
  assert.deepEqual(keyPositions("eval", ["return 1", 0n, "a1"]), []);
  assert.deepEqual(keyPositions("fcall", ["f", bytes("2"), "k1", "k2"]), [2, 3]);
  assert.deepEqual(keyPositions("eval", [new Uint8Array(5000), 1, new Uint8Array(5000)]), [2]);
  assert.deepEqual(keyPositions("mset", [new Uint8Array(5000), "v"]), [0]);
  assert.deepEqual(keyPositions("zunionstore", ["dest", 2, "a", "b", "WEIGHTS", 1, 2]), [0, 2, 3]);
  assert.deepEqual(keyPositions("lmpop", [2, "a", "b", "LEFT"]), [1, 2]);
  assert.deepEqual(keyPositions("blmpop", [0, 1, "a", "LEFT"]), [2]);
  // A keyword, then the keys.
  assert.deepEqual(keyPositions("xread", ["STREAMS", "k1", "k2", "0-0", "0-0"]), [1, 2]);
  assert.deepEqual(keyPositions("xread", ["COUNT", 10, "BLOCK", 0, "streams", "k1", "k2", "$", "$"]), [5, 6]);
  assert.deepEqual(keyPositions("xreadgroup", ["GROUP", "g", "c", "STREAMS", "s", ">"]), [4]);
  assert.deepEqual(keyPositions("georadius", ["k", 0, 0, 1, "km", "STORE", "d"]), [0, 6]);
  assert.deepEqual(keyPositions("georadius", ["k", 0, 0, 1, "km"]), [0]);
  // The server's code completes these two.
  assert.deepEqual(keyPositions("migrate", ["h", 6379, "", 0, 5000, "KEYS", "a", "b"]), [6, 7]);
  assert.deepEqual(keyPositions("migrate", ["h", 6379, "", 0, 5000, "AUTH", "keys", "KEYS", "a"]), [8]);
  assert.deepEqual(keyPositions("migrate", ["h", 6379, "k", 0, 5000, "COPY"]), [2]);
  assert.deepEqual(keyPositions("sort", ["k", "BY", "store", "LIMIT", 0, 1, "STORE", "d"]), [0, 7]);
  assert.deepEqual(keyPositions("sort_ro", ["k", "ALPHA"]), [0]);
  // Subcommands.
  assert.deepEqual(keyPositions("object", ["encoding", "k"]), [1]);
  assert.deepEqual(keyPositions("OBJECT", [bytes("ENCODING"), "k"]), [1]);
  assert.deepEqual(keyPositions("xinfo", ["stream", "s", "FULL"]), [1]);
  assert.deepEqual(keyPositions("memory", ["usage", "k"]), [1]);
  // No keys.
  assert.deepEqual(keyPositions("ping", []), []);
  assert.deepEqual(keyPositions("client", ["setname", "x"]), []);
  assert.deepEqual(keyPositions("publish", ["ch", "m"]), []);
  assert.equal(keyPositions("json.get", ["k"]), undefined);
  // Shard channels are not keys, unless asked for.
  assert.deepEqual(keyPositions("spublish", ["ch", "m"]), []);
  assert.deepEqual(keyPositions("spublish", ["ch", "m"], { notKeys: true }), [0]);
  assert.deepEqual(keyPositions("ssubscribe", ["a", "b"], { notKeys: true }), [0, 1]);
});

test("key positions: arguments that do not fit a key spec give no keys at all, as COMMAND GETKEYS", () => {
  assert.deepEqual(keyPositions("zunionstore", ["dest", "x", "a"]), []);
  assert.deepEqual(keyPositions("pfmerge", ["dest"]), []);
  assert.deepEqual(keyPositions("get", []), []);
  assert.deepEqual(keyPositions("eval", ["s", "x", "k"]), []);
  assert.deepEqual(keyPositions("eval", ["s", -1]), []);
  assert.deepEqual(keyPositions("eval", ["s", 3, "k"]), []);
  assert.deepEqual(keyPositions("eval", ["s", "01", "k"]), [], "not the server's strict decimal");
  assert.deepEqual(keyPositions("xread", ["COUNT", 1]), []);
  assert.deepEqual(keyPositions("mset", []), []);
});

test("isBlocking", () => {
  assert.equal(isBlocking("blpop", ["a", 0]), true);
  assert.equal(isBlocking("BZPOPMIN", ["a", 0]), true);
  assert.equal(isBlocking("blmove", ["a", "b", "LEFT", "LEFT", 0]), true);
  assert.equal(isBlocking("wait", [1, 0]), true);
  assert.equal(isBlocking("waitaof", [1, 0, 0]), true);
  assert.equal(isBlocking("xread", ["STREAMS", "s", "$"]), false);
  assert.equal(isBlocking("xread", ["COUNT", 1, "BLOCK", 0, "STREAMS", "s", "$"]), true);
  assert.equal(isBlocking("xread", [bytes("block"), 0, "STREAMS", "s", "$"]), true);
  assert.equal(isBlocking("xread", ["STREAMS", "block", "$"]), false, "a stream named block");
  assert.equal(isBlocking("xread", [new Uint8Array(1000), "STREAMS", "s", "$"]), false, "long bytes are no keyword");
  assert.equal(isBlocking("xreadgroup", ["GROUP", "block", "c", "STREAMS", "s", ">"]), false, "a group named block");
  assert.equal(isBlocking("xreadgroup", ["GROUP", "g", "c", "BLOCK", 100, "STREAMS", "s", ">"]), true);
  assert.equal(isBlocking("get", ["k"]), false);
  assert.equal(isBlocking("no-such-command", []), false);
});

test("repliesOwed", () => {
  assert.equal(repliesOwed("get", ["k"]), 1);
  assert.equal(repliesOwed("no-such-command", []), 1);
  assert.equal(repliesOwed("subscribe", ["a", "b", "a"]), 3);
  assert.equal(repliesOwed("PSUBSCRIBE", ["p*"]), 1);
  assert.equal(repliesOwed("ssubscribe", ["a", "b"]), 2);
  assert.equal(repliesOwed("unsubscribe", ["a", "b"]), 2);
  assert.equal(repliesOwed("punsubscribe", [bytes("p*"), "q*"]), 2);
  assert.equal(repliesOwed("sunsubscribe", ["a"]), 1);
  assert.equal(repliesOwed("unsubscribe", []), REPLIES_PER_SUBSCRIPTION);
  assert.equal(repliesOwed("punsubscribe", []), REPLIES_PER_SUBSCRIPTION);
  assert.equal(repliesOwed("sunsubscribe", []), REPLIES_PER_SUBSCRIPTION);
  assert.equal(repliesOwed("subscribe", []), 1, "an arity error");
  assert.equal(repliesOwed("client", ["reply", "off"]), 0);
  assert.equal(repliesOwed("CLIENT", ["REPLY", "SKIP"]), 0);
  assert.equal(repliesOwed(bytes("client"), [bytes("reply"), bytes("Off")]), 0);
  assert.equal(repliesOwed("client", ["reply", "on"]), 1);
  assert.equal(repliesOwed("client", ["reply", "off", "x"]), 1, "a syntax error");
  assert.equal(repliesOwed("client", ["setname", "reply"]), 1);
});

test("keyPositions is fast for a one-key command", () => {
  const n = 1_000_000;
  const args = ["k"];
  for (let i = 0; i < 200_000; i++) keyPositions("get", args); // past the JITs' first tiers
  const t0 = performance.now();
  for (let i = 0; i < n; i++) keyPositions("get", args);
  const ns = (performance.now() - t0) * 1e6 / n;
  console.log(`keyPositions("get", ["k"]): ${ns.toFixed(0)} ns/call`);
  assert.ok(ns < 2000, `${ns} ns per call`);
});
