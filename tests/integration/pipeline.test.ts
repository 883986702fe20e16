/** Pipelines: order, errors in place, typed chaining, any size in bounded memory, connection loss. */
import assert from "node:assert/strict";
import { afterAll, test } from "../harness/shim.ts";
import { startRedis } from "../harness/server.ts";
import { connect, ConnectionError, ReplyError } from "../../mod.ts";

const server = await startRedis();
afterAll(() => server[Symbol.asyncDispose]());

test("replies come back in order, one per command", () => {
  const r = connect(server.host, server.port);
  for (let i = 0; i < 50_000; i++) r.addCommand("INCR", "order:counter");
  const replies = r.execute();
  assert.equal(replies.length, 50_000);
  replies.forEach((v, i) => assert.equal(v, i + 1));
  assert.deepEqual(r.execute(), []); // the queue is empty afterwards
  r.close();
});

test("an error reply is a ReplyError in its place; the others are unaffected", () => {
  const r = connect(server.host, server.port);
  r.addCommand("SET", "pe:s", "text");
  r.addCommand("INCR", "pe:s");
  r.addCommand("GET", "pe:s");
  r.addCommand("NOSUCHCOMMAND", "x");
  r.addCommand("HGET", "pe:s", "f");
  r.addCommand("PING");
  const [ok, incr, get, unknown, wrongtype, pong] = r.execute();
  assert.equal(ok, "OK");
  assert.ok(incr instanceof ReplyError && incr.code === "ERR");
  assert.equal(get, "text");
  assert.ok(unknown instanceof ReplyError);
  assert.ok(wrongtype instanceof ReplyError && wrongtype.code === "WRONGTYPE");
  assert.equal(pong, "PONG");
  r.close();
});

test("pipeline(): typed, chainable, transforms applied, errors in place", () => {
  const r = connect(server.host, server.port);
  const p = r.pipeline()
    .set("pt:a", "1")
    .incr("pt:a")
    .get("pt:a")
    .hset("pt:h", { f: "v", g: "w" })
    .hgetall("pt:h")
    .zadd("pt:z", 2.5, "m")
    .zscore("pt:z", "m")
    .incr("pt:h")
    .getBuffer("pt:a")
    .addCommand("ECHO", "raw");
  assert.equal(p.length, 10);
  const replies = p.execute();
  assert.deepEqual(replies.slice(0, 7), ["OK", 2, "2", 2, { f: "v", g: "w" }, 1, 2.5]);
  assert.ok(replies[7] instanceof ReplyError && replies[7].code === "WRONGTYPE");
  assert.deepEqual(replies[8], new TextEncoder().encode("2"));
  assert.equal(replies[9], "raw");
  assert.equal(p.length, 0);
  r.close();
});

test("executeBuffer() returns bulk strings as bytes", () => {
  const r = connect(server.host, server.port);
  const bytes = new Uint8Array([0, 255, 13, 10]);
  r.addCommand("SET", "pb:k", bytes).addCommand("GET", "pb:k").addCommand("MGET", "pb:k", "pb:none");
  assert.deepEqual(r.executeBuffer(), ["OK", bytes, [bytes, null]]);
  r.close();
});

test("1,000,000 commands in one execute()", () => {
  const r = connect(server.host, server.port);
  for (let i = 0; i < 1_000_000; i++) r.addCommand("HSET", "p1m", `word|${i}`, "1");
  const replies = r.execute();
  assert.equal(replies.length, 1_000_000);
  let ones = 0;
  for (const v of replies) if (v === 1) ones++;
  assert.equal(ones, 1_000_000);
  assert.equal(r.hlen("p1m"), 1_000_000);
  r.del("p1m");
  r.close();
});

test("10,000 commands with 1 MB values stream in bounded memory", () => {
  const r = connect(server.host, server.port);
  const value = new Uint8Array(1024 * 1024).fill(120);
  const rssBefore = process.memoryUsage().rss;
  let peak = rssBefore;
  const p = r.pipeline();
  for (let i = 0; i < 10_000; i++) {
    p.set(`pbig:${i % 4}`, value);
    if (i % 500 === 0) peak = Math.max(peak, process.memoryUsage().rss);
  }
  const replies = p.execute();
  peak = Math.max(peak, process.memoryUsage().rss);
  assert.equal(replies.length, 10_000);
  assert.ok(replies.every((x) => x === "OK"));
  // 10 GB went through; the client never held more than a few queue chunks of it.
  assert.ok(peak - rssBefore < 1024 * 1024 * 1024, `RSS grew by ${((peak - rssBefore) / 2 ** 20).toFixed(0)} MB`);
  // Large replies stream back too, in order.
  for (let i = 0; i < 200; i++) p.getBuffer(`pbig:${i % 4}`);
  const got = p.execute();
  assert.equal(got.length, 200);
  assert.ok(got.every((x) => x instanceof Uint8Array && x.length === value.length && x[12345] === 120));
  r.del("pbig:0", "pbig:1", "pbig:2", "pbig:3");
  r.close();
});

test("a connection lost mid-execute() throws ConnectionError, empties the queue, and the client reconnects", () => {
  const r = connect(server.host, server.port);
  for (let i = 0; i < 100; i++) r.addCommand("PING");
  r.addCommand("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "no"); // the server drops us here
  for (let i = 0; i < 100; i++) r.addCommand("PING");
  assert.throws(() => r.execute(), (e: unknown) => {
    assert.ok(e instanceof ConnectionError);
    assert.match(e.message, /of 201 replies received/);
    return true;
  });
  assert.deepEqual(r.execute(), []);
  assert.equal(r.ping(), "PONG");
  r.addCommand("PING");
  assert.deepEqual(r.execute(), ["PONG"]);
  r.close();
});

/** Enough commands to fill several 256 KB chunks, so they stream before execute(). */
const STREAMING = 30_000;

test("a long pipeline streams while queued; other calls in between still get their own replies", () => {
  const r = connect(server.host, server.port);
  r.set("ps:x", "x-value");
  const p1 = r.pipeline(), p2 = r.pipeline();
  for (let i = 0; i < STREAMING; i++) p1.addCommand("INCR", "ps:one");
  assert.equal(r.get("ps:x"), "x-value"); // settles p1's replies first, then answers this
  for (let i = 0; i < STREAMING; i++) p2.addCommand("INCR", "ps:two");
  for (let i = 0; i < STREAMING; i++) r.addCommand("INCR", "ps:three");
  assert.equal(r.incr("ps:x:n"), 1);
  const two = p2.execute(), one = p1.execute(), three = r.execute();
  for (const [replies, name] of [[one, "one"], [two, "two"], [three, "three"]] as const) {
    assert.equal(replies.length, STREAMING, name);
    replies.forEach((v, i) => assert.equal(v, i + 1, `${name}[${i}]`));
  }
  r.close();
});

test("executeBuffer() after streaming returns every bulk string as bytes, invalid UTF-8 intact", () => {
  const r = connect(server.host, server.port);
  const raw = new Uint8Array([0xff, 0xfe, 0, 13, 10]);
  r.set("psb:k", raw);
  for (let i = 0; i < STREAMING; i++) r.addCommand("GET", "psb:k");
  const replies = r.executeBuffer();
  assert.equal(replies.length, STREAMING);
  assert.ok(replies.every((v) => v instanceof Uint8Array && Buffer.compare(v, raw) === 0));
  for (let i = 0; i < STREAMING; i++) r.addCommand("GET", "psb:k");
  assert.ok(r.execute().every((v) => typeof v === "string"));
  r.close();
});

test("a discarded streamed pipeline does not confuse later calls", () => {
  const r = connect(server.host, server.port);
  const p = r.pipeline();
  for (let i = 0; i < STREAMING; i++) p.addCommand("INCR", "pd:n");
  p.discard();
  assert.equal(r.ping("after"), "after");
  // The chunks already streamed ran on the server; the unsent tail did not.
  const ran = Number(r.get("pd:n"));
  assert.ok(ran > 0 && ran < STREAMING, `${ran} INCRs ran`);
  r.close();
});

test("a connection lost while a pipeline streams fails that pipeline's execute(), not later calls", () => {
  const r = connect(server.host, server.port);
  const killer = connect(server.host, server.port);
  const p = r.pipeline();
  // The BLPOP holds the streamed commands on the server until the kill: without it the server could answer them all
  // first, and the pipeline would have nothing on the dead connection.
  p.addCommand("BLPOP", "pd:never", "5");
  for (let i = 0; i < STREAMING; i++) p.addCommand("PING");
  killer.send("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes");
  // The ping first collects what the dead connection owed the pipeline, then
  // goes out on a new connection: only commands that were on the dead one fail.
  assert.equal(r.ping(), "PONG");
  assert.throws(() => p.execute(), (e: unknown) => e instanceof ConnectionError && /replies received/.test(e.message));
  assert.equal(p.length, 0);
  assert.equal(r.ping(), "PONG");
  killer.close();
  r.close();
});

test("MULTI … EXEC: typed methods answer QUEUED, their results come shaped in EXEC's array, errors in place", () => {
  const r = connect(server.host, server.port);
  r.del("pm:h", "pm:n", "pm:s", "pm:z");
  r.hset("pm:h", "a", "1");
  r.zadd("pm:z", 2.5, "m");
  r.set("pm:s", "text");
  const tx = r.pipeline().addCommand("MULTI").hgetall("pm:h").incr("pm:n").addCommand("EXEC").execute();
  assert.deepEqual(tx, ["OK", "QUEUED", "QUEUED", [{ a: "1" }, 1]]);
  // An error at run time is a ReplyError in EXEC's array; the others are shaped.
  const [, , , , exec] = r.pipeline().addCommand("multi").zscore("pm:z", "m").incr("pm:s").hgetall("pm:h")
    .addCommand("exec").execute();
  assert.ok(Array.isArray(exec));
  assert.equal(exec[0], 2.5);
  assert.ok(exec[1] instanceof ReplyError);
  assert.deepEqual(exec[2], { a: "1" });
  // Outside the transaction, transforms apply as usual; raw commands stay raw inside it.
  const mixed = r.pipeline().hgetall("pm:h").addCommand("MULTI").addCommand("HGETALL", "pm:h").zscore("pm:z", "m")
    .addCommand("EXEC").zscore("pm:z", "m").execute();
  assert.deepEqual(mixed, [{ a: "1" }, "OK", "QUEUED", "QUEUED", [["a", "1"], 2.5], 2.5]);
  r.close();
});

test("MULTI … EXEC: an aborted EXEC, a refused command and DISCARD leave the replies as they are", () => {
  const r = connect(server.host, server.port), other = connect(server.host, server.port);
  r.hset("pa:h", "a", "1");
  // A command refused at queue time aborts the transaction (EXECABORT).
  const aborted = r.pipeline().addCommand("MULTI").hgetall("pa:h").addCommand("SET", "pa:only-key").incr("pa:n")
    .addCommand("EXEC").execute();
  assert.deepEqual(aborted.slice(0, 2), ["OK", "QUEUED"]);
  assert.ok(aborted[2] instanceof ReplyError);
  assert.equal(aborted[3], "QUEUED");
  assert.ok(aborted[4] instanceof ReplyError && aborted[4].code === "EXECABORT");
  // A WATCHed key changed: EXEC answers null.
  r.send("WATCH", "pa:h");
  other.hset("pa:h", "b", "2");
  assert.deepEqual(r.pipeline().addCommand("MULTI").hgetall("pa:h").addCommand("EXEC").execute(), [
    "OK",
    "QUEUED",
    null,
  ]);
  // DISCARD: nothing ran; a typed method after it is shaped again.
  const discarded = r.pipeline().addCommand("MULTI").hgetall("pa:h").addCommand("DISCARD").hgetall("pa:h").execute();
  assert.deepEqual(discarded, ["OK", "QUEUED", "OK", { a: "1", b: "2" }]);
  // EXEC without MULTI in the same pipeline is left raw.
  r.send("MULTI");
  r.send("HGETALL", "pa:h");
  assert.deepEqual(r.pipeline().addCommand("EXEC").execute(), [[["a", "1", "b", "2"]]]);
  other.close();
  r.close();
});

test("MULTI … EXEC: bytes and text results in one transaction, and a transaction that streams", () => {
  const r = connect(server.host, server.port);
  const raw = new Uint8Array([0xff, 0, 13, 10]);
  r.set("pb:raw", raw);
  r.hset("pb:h", "f", "ü");
  const [, , , exec] = r.pipeline().addCommand("MULTI").getBuffer("pb:raw").hgetall("pb:h").addCommand("EXEC")
    .execute();
  assert.ok(Array.isArray(exec));
  assert.deepEqual(exec[0], raw);
  assert.deepEqual(exec[1], { f: "ü" });
  // A transaction longer than a chunk: its commands stream, its results are shaped.
  r.zadd("pb:z", 1.5, "m");
  const p = r.pipeline(); // built by statements, not one chain: typed Reply[]
  p.addCommand("MULTI");
  for (let i = 0; i < STREAMING; i++) p.zscore("pb:z", "m");
  p.addCommand("EXEC");
  const replies = p.execute();
  const results = replies[STREAMING + 1] as unknown[];
  assert.equal(results.length, STREAMING);
  assert.ok(results.every((v) => v === 1.5));
  r.close();
});
