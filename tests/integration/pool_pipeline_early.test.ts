/**
 * Long pool and cluster pipelines go out in blocks while they are queued (SEND_EARLY_BYTES): every reply still
 * comes back in order and shaped as asked, error replies in place, bytes intact for executeBuffer(); a
 * transaction stays whole; what follows a blocking command waits for what went before; keyPrefix applies.
 */
import assert from "node:assert/strict";
import { afterAll, test } from "../harness/shim.ts";
import { startCluster, startRedis } from "../harness/server.ts";
import { connectPool, ReplyError } from "../../mod.ts";
import { connectClusterPool } from "../../cluster.ts";
import { SEND_EARLY_BYTES } from "../../src/encoder.ts";

const server = await startRedis();
const pool = connectPool({ host: server.host, port: server.port, size: 3, exclusiveConnections: 1 });
afterAll(async () => {
  await pool.close();
  await server[Symbol.asyncDispose]();
});

/** Commands enough for several blocks: each SET below takes about 40 bytes. */
const LONG = Math.ceil((SEND_EARLY_BYTES * 4) / 40);

test("pool pipeline sent in blocks: order, shaping and error replies in place, other calls in between", async () => {
  await pool.set("early:text", "not a number");
  const p = pool.pipeline();
  const between: Promise<number>[] = [];
  for (let i = 0; i < LONG; i++) {
    p.set(`early:${i}`, String(i)).incr(`early:${i}`);
    if (i % 1000 === 0) between.push(pool.incr("early:between")); // lands between the pipeline's blocks
    if (i === LONG >> 1) p.incr("early:text").hgetall(`early:h`);
  }
  p.get(`early:${LONG - 1}`);
  assert.ok(p.length > 2 * LONG);
  const replies = await p.execute();
  assert.equal(replies.length, 2 * LONG + 3);
  let at = 0;
  for (let i = 0; i < LONG; i++) {
    assert.deepEqual([replies[at++], replies[at++]], ["OK", i + 1]);
    if (i === LONG >> 1) {
      const refused = replies[at++];
      assert.ok(refused instanceof ReplyError, String(refused));
      assert.deepEqual(replies[at++], {}); // hgetall's shaping, applied to a reply kept encoded
    }
  }
  assert.equal(replies[at], String(LONG));
  // Every call in between ran once; they may go out on different shared connections, so in any order.
  const counts = (await Promise.all(between)).sort((a, b) => a - b);
  assert.deepEqual(counts, Array.from({ length: between.length }, (_, k) => k + 1));
});

test("pool pipeline sent in blocks: executeBuffer() gives every bulk string as bytes, invalid UTF-8 intact", async () => {
  const raw = new Uint8Array([0xff, 0xfe, 0x00, 0x80, 0x41]);
  await pool.set("early:raw", raw);
  const p = pool.pipeline();
  for (let i = 0; i < LONG; i++) p.get("early:raw").set(`early:b${i}`, "x");
  const replies = await p.executeBuffer();
  assert.equal(replies.length, 2 * LONG);
  for (let i = 0; i < LONG; i++) {
    assert.deepEqual(replies[2 * i], raw);
    assert.equal(replies[2 * i + 1], "OK");
  }
  const texts = pool.pipeline();
  for (let i = 0; i < LONG; i++) texts.get(`early:b${i}`).getBuffer("early:raw");
  const mixed = await texts.execute();
  for (let i = 0; i < LONG; i++) assert.deepEqual([mixed[2 * i], mixed[2 * i + 1]], ["x", raw]);
});

test("pool pipeline sent in blocks: a long MULTI … EXEC stays whole while other calls run", async () => {
  await pool.del("early:tx");
  const p = pool.pipeline();
  for (let i = 0; i < LONG; i++) p.set(`early:t${i}`, "1");
  p.addCommand("MULTI");
  const others: Promise<number>[] = [];
  // The transaction alone is longer than a block: it must not be split where other calls could come between.
  for (let i = 0; i < LONG; i++) {
    p.incr("early:tx");
    if (i % 2000 === 0) others.push(pool.incr("early:other"));
  }
  p.addCommand("EXEC").get("early:tx");
  const replies = await p.execute();
  const exec = replies[2 * LONG + 1] as number[];
  assert.equal(replies[LONG], "OK");
  assert.equal(replies[LONG + 1], "QUEUED");
  assert.equal(exec.length, LONG);
  assert.deepEqual(exec.slice(0, 3), [1, 2, 3]);
  assert.equal(exec.at(-1), LONG);
  assert.equal(replies[2 * LONG + 2], String(LONG));
  await Promise.all(others);
});

test("pool pipeline sent in blocks: a blocking command at the end runs after the rest, on its own connection", async () => {
  await pool.del("early:list");
  const p = pool.pipeline();
  for (let i = 0; i < LONG; i++) p.rpush("early:list", String(i));
  p.blpop("early:list", 1);
  const replies = await p.execute();
  assert.equal(replies[LONG - 1], LONG);
  assert.deepEqual(replies[LONG], ["early:list", "0"]);
});

test("pool pipeline sent in blocks: discard() after a block leaves later calls their own replies", async () => {
  const p = pool.pipeline();
  for (let i = 0; i < LONG; i++) p.set(`early:d${i}`, "sent");
  const before = p.length;
  p.discard();
  assert.equal(p.length, 0);
  assert.equal(before, LONG);
  assert.deepEqual(await p.set("early:after", "1").get("early:after").execute(), ["OK", "1"]);
  assert.equal(await pool.get("early:d0"), "sent"); // the first block had gone out before discard()
});

test("pool pipeline sent in blocks: keyPrefix applies to every block", async () => {
  const prefixed = connectPool({ host: server.host, port: server.port, size: 2, keyPrefix: "pre:" });
  try {
    const p = prefixed.pipeline();
    for (let i = 0; i < LONG; i++) p.set(`k${i}`, String(i));
    p.get(`k${LONG - 1}`);
    const replies = await p.execute();
    assert.equal(replies.at(-1), String(LONG - 1));
    assert.equal(await pool.get(`pre:k0`), "0");
    assert.equal(await pool.get(`k0`), null);
  } finally {
    await prefixed.close();
  }
});

test("cluster pool pipeline sent in blocks: order across the nodes, shaping, bytes, error replies in place", async () => {
  await using cluster = await startCluster({ masters: 3, replicas: 0 });
  await using c = await connectClusterPool([`redis://${cluster.addresses[0]}`]);
  const raw = new Uint8Array([0xff, 0x00, 0x41]);
  await c.set("{early}raw", raw);
  await c.set("{early}text", "nope");
  const p = c.pipeline();
  for (let i = 0; i < LONG; i++) p.set(`ce:${i}`, String(i)).incr(`ce:${i}`);
  p.incr("{early}text").getBuffer("{early}raw").hgetall("ce:h");
  const replies = await p.execute();
  assert.equal(replies.length, 2 * LONG + 3);
  for (let i = 0; i < LONG; i++) assert.deepEqual([replies[2 * i], replies[2 * i + 1]], ["OK", i + 1]);
  assert.ok(replies[2 * LONG] instanceof ReplyError);
  assert.deepEqual(replies[2 * LONG + 1], raw);
  assert.deepEqual(replies[2 * LONG + 2], {});
  const b = c.pipeline();
  for (let i = 0; i < LONG; i++) b.get("{early}raw").get(`ce:${i}`);
  const bytes = await b.executeBuffer();
  for (let i = 0; i < LONG; i++) {
    assert.deepEqual(bytes[2 * i], raw);
    assert.deepEqual(bytes[2 * i + 1], new TextEncoder().encode(String(i + 1)));
  }
  // A transaction after blocks went out: one slot, as ever, and it goes whole to that slot's node.
  const t = c.pipeline();
  for (let i = 0; i < LONG; i++) t.set(`{early}${i}`, "0");
  t.addCommand("MULTI").incr("{early}n").incr("{early}n").addCommand("EXEC");
  const tx = await t.execute();
  assert.equal(tx.length, LONG + 4);
  assert.deepEqual(tx.slice(LONG), ["OK", "QUEUED", "QUEUED", [1, 2]]);
});
