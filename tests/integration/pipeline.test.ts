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
