/**
 * Pub/Sub against a real server: the pool's subscriptions (listeners and
 * iterators, patterns, shard channels, bytes), order over a million
 * messages, a lost subscriber connection, the connection given back, the
 * synchronous client's nextMessage, RESP3 pushes, keyspace notifications,
 * and replies that never go to another caller while messages flow.
 */
import assert from "node:assert/strict";
import { afterAll, test } from "../harness/shim.ts";
import { startRedis } from "../harness/server.ts";
import { sleep, until } from "../harness/wait.ts";
import { connect, connectPool, type Message, type Pool, ReplyError } from "../../mod.ts";

const server = await startRedis();
afterAll(() => server[Symbol.asyncDispose]());

const pools: Pool[] = [];
function pool(options: { protocol?: 2 | 3; size?: number } = {}): Pool {
  const p = connectPool({ host: server.host, port: server.port, size: options.size ?? 2, protocol: options.protocol });
  pools.push(p);
  return p;
}
afterAll(async () => void await Promise.all(pools.map((p) => p.close())));

/**
 * Publishes `count` numbered messages on each channel, interleaved, from a pool of its own, a batch at a
 * time: the event loop runs between batches, as it would in a server, so the subscriber keeps up.
 */
async function flood(channels: string[], count: number, batch = 10_000): Promise<void> {
  const publisher = pool({ size: 1 });
  for (let from = 0; from < count; from += batch) {
    const to = Math.min(count, from + batch), sent: Promise<number>[] = [];
    for (let i = from; i < to; i++) for (const channel of channels) sent.push(publisher.publish(channel, String(i)));
    await Promise.all(sent);
  }
}

for (const protocol of [2, 3] as const) {
  test(`RESP${protocol}: a listener gets each channel's messages in order (1,000,000 messages)`, async () => {
    const p = pool({ protocol });
    const next = new Map<string, number>([["order:a", 0], ["order:b", 0]]);
    let wrong = "";
    const sub = await p.subscribe(["order:a", "order:b"], ({ channel, message }) => {
      const expected = next.get(channel)!;
      if (message !== String(expected) && wrong === "") wrong = `${channel}: ${message} instead of ${expected}`;
      next.set(channel, expected + 1);
    });
    await flood(["order:a", "order:b"], 500_000);
    await until(() => next.get("order:a")! + next.get("order:b")! === 1_000_000, 60_000, "1,000,000 messages");
    assert.equal(wrong, "");
    await sub.unsubscribe();
  });
}

test("patterns and shard channels; an iterator; several subscriptions on one channel each get every message", async () => {
  const p = pool();
  const patterns = await p.psubscribe(["news.*", "alerts.?"]);
  const shard = await p.ssubscribe("shard:1");
  const first: string[] = [], second: string[] = [];
  const one = await p.subscribe("news.sport", ({ message }) => void first.push(message));
  const two = await p.subscribe(["news.sport", "other"], ({ message }) => void second.push(message));
  assert.equal(await p.publish("news.sport", "goal"), 2); // one connection: counted once per pattern and channel
  assert.equal(await p.publish("alerts.x", "fire"), 1);
  assert.equal(await p.spublish("shard:1", "s"), 1);
  const it = patterns[Symbol.asyncIterator]();
  assert.deepEqual((await it.next()).value, { channel: "news.sport", message: "goal", pattern: "news.*" });
  assert.deepEqual((await it.next()).value, { channel: "alerts.x", message: "fire", pattern: "alerts.?" });
  for await (const message of shard) {
    assert.deepEqual(message, { channel: "shard:1", message: "s" });
    break; // leaving the loop unsubscribes
  }
  assert.equal(shard.closed, true);
  assert.equal(await p.spublish("shard:1", "gone"), 0);
  await until(() => first.length === 1 && second.length === 1);
  await one.unsubscribe();
  assert.equal(await p.publish("news.sport", "again"), 2); // `two` still holds the channel, and the pattern
  await until(() => second.length === 2);
  assert.deepEqual([first, second], [["goal"], ["goal", "again"]]);
  await Promise.all([two.unsubscribe(), patterns.unsubscribe()]);
});

test("binary payloads round-trip byte for byte (Buffer variants), text stays text", async () => {
  const p = pool();
  const every = Uint8Array.from({ length: 256 }, (_, i) => i);
  const got: Message<Uint8Array>[] = [];
  const sub = await p.subscribeBuffer("bin", (m) => void got.push(m));
  const psub = await p.psubscribeBuffer("bi?", (m) => void got.push(m));
  const text: string[] = [];
  const plain = await p.subscribe("bin", ({ message }) => void text.push(message));
  await p.publish("bin", every);
  await p.publish("bin", new Uint8Array(0));
  await until(() => got.length === 4 && text.length === 2);
  assert.deepEqual(got[0], { channel: "bin", message: every });
  assert.deepEqual(got[1], { channel: "bin", message: every, pattern: "bi?" });
  assert.deepEqual(got[2]!.message, new Uint8Array(0));
  assert.equal(text[1], "");
  await Promise.all([sub.unsubscribe(), psub.unsubscribe(), plain.unsubscribe()]);
});

test("CLIENT KILL of the subscriber connection: subscriptions made again, the gap reported, messages flow", async () => {
  const p = pool();
  const gaps: { since: number; until: number }[] = [];
  p.on("gap", (gap) => gaps.push(gap));
  const got: string[] = [];
  const sub = await p.subscribe("killed", ({ message }) => void got.push(message));
  const psub = await p.psubscribe("kil*", () => {});
  const ssub = await p.ssubscribe("killed:shard", ({ message }) => void got.push(message));
  assert.equal(await p.publish("killed", "before"), 2);
  server.cli("CLIENT", "KILL", "TYPE", "pubsub");
  await until(() => gaps.length === 1, 10_000, "the gap event");
  assert.ok(gaps[0]!.since <= gaps[0]!.until);
  assert.equal(await p.publish("killed", "after"), 2); // channel and pattern both back
  assert.equal(await p.spublish("killed:shard", "shard after"), 1);
  await until(() => got.length === 3);
  assert.deepEqual(got, ["before", "after", "shard after"]);
  await Promise.all([sub.unsubscribe(), psub.unsubscribe(), ssub.unsubscribe()]);
});

test("a listener that issues a long burst (an early drain inside the drain that called it) loses no message or reply", async () => {
  const p = pool();
  const got: string[] = [];
  const burst: Promise<string | null>[] = [];
  const sub = await p.subscribe("burst", ({ message }) => {
    got.push(message);
    // In one go: the 4,096th call is sent early and drains, while this drain still holds the next messages.
    if (message === "a") { for (let i = 0; i < 5_000; i++) burst.push(p.echo(String(i))); }
  });
  const publisher = pool({ size: 1 });
  assert.deepEqual(await Promise.all(["a", "b", "c", "d"].map((m) => publisher.publish("burst", m))), [1, 1, 1, 1]);
  await until(() => got.length === 4, 10_000, "all four messages");
  assert.deepEqual(got, ["a", "b", "c", "d"]);
  const echoed = await Promise.all(burst);
  assert.equal(echoed.length, 5_000);
  echoed.forEach((reply, i) => assert.equal(reply, String(i)));
  await sub.unsubscribe();
});

test("a listener handed a message that waited gets the next one only after it: not inside its own long burst", async () => {
  const p = pool();
  using publisher = connect(server.host, server.port);
  const seen: string[] = [];
  const burst: Promise<string | null>[] = [];
  const sub = await p.subscribe("queued:burst", async ({ message }) => {
    seen.push(`start ${message}`);
    if (message === "2") {
      // Outside the pool's drain (2 waited for 1's promise): "3" is read by the burst's early drain, mid-call.
      publisher.publish("queued:burst", "3");
      const until = Date.now() + 50;
      while (Date.now() < until) { /* the I/O thread reads it meanwhile */ }
      for (let i = 0; i < 5_000; i++) burst.push(p.echo(String(i)));
    }
    seen.push(`end ${message}`);
    await sleep(20);
  });
  publisher.publish("queued:burst", "1");
  await sleep(5);
  publisher.publish("queued:burst", "2"); // waits in the queue while 1's promise is pending
  await until(() => seen.length === 6, 10_000, "three messages");
  assert.deepEqual(seen, ["start 1", "end 1", "start 2", "end 2", "start 3", "end 3"]);
  assert.equal((await Promise.all(burst)).length, 5_000);
  await sub.unsubscribe();
});

test("calls a listener makes count as in flight: a close() it then calls lets them finish", async () => {
  const p = connectPool({ host: server.host, port: server.port, size: 2 });
  const echoed: Promise<string | null>[] = [];
  let closing: Promise<void> | undefined;
  await p.subscribe("closing", () => {
    for (let i = 0; i < 10; i++) echoed.push(p.echo(String(i)));
    closing = p.close();
  });
  assert.equal(await pool({ size: 1 }).publish("closing", "now"), 1);
  await until(() => closing !== undefined, 10_000, "the message");
  assert.deepEqual(await Promise.all(echoed), ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
  await closing;
});

test("unsubscribing from everything gives the connection back; the next subscription opens one again", async () => {
  const p = pool({ size: 2 });
  await p.ping();
  await until(() => p.connected === 2);
  const clients = () =>
    server.cli("CLIENT", "LIST", "TYPE", "pubsub").split("\n").filter((l) => l.includes("id=")).length;
  await until(() => clients() === 0, 5000, "earlier tests' subscribers to be gone"); // each gave its connection back
  const before = 0;
  const a = await p.subscribe(["back:1", "back:2"], () => {});
  const b = await p.psubscribe("back:*", () => {});
  assert.equal(p.connected, 3);
  assert.equal(clients(), before + 1);
  await a.unsubscribe();
  assert.equal(await p.publish("back:1", "x"), 1); // the pattern is still there
  await b.unsubscribe();
  await until(() => p.connected === 2, 5000, "the connection given back");
  await until(() => clients() === before, 5000, "the server to see it go");
  assert.equal(await p.publish("back:1", "x"), 0);
  const again: string[] = [];
  const c = await p.subscribe("back:1", ({ message }) => void again.push(message));
  assert.equal(p.connected, 3);
  await p.publish("back:1", "y");
  await until(() => again.length === 1);
  await c.unsubscribe();
  await c.unsubscribe(); // twice is fine
});

test("a refused subscription rejects with the server's error and shifts no reply (ACL: one error for two channels)", async () => {
  server.cli("ACL", "SETUSER", "limited", "on", "nopass", "~*", "+@all", "resetchannels", "&allowed");
  const p = connectPool({ host: server.host, port: server.port, size: 1, username: "limited", password: "x" });
  pools.push(p);
  await assert.rejects(
    p.subscribe(["allowed", "forbidden"]),
    (e: Error) => e instanceof ReplyError && /NOPERM/.test(e.message),
  );
  const ok = await p.subscribe("allowed", () => {});
  assert.equal(await p.set("acl:k", "v"), "OK");
  assert.equal(await p.get("acl:k"), "v");
  await ok.unsubscribe();

  using r = connect(server.host, server.port, { username: "limited", password: "x" });
  assert.throws(() => r.subscribe(["allowed", "forbidden"]), /NOPERM/);
  r.subscribe(["allowed"]);
  assert.deepEqual(r.ping(), ["pong", ""]); // RESP2 subscribed mode
  r.unsubscribe();
  assert.equal(r.ping(), "PONG");
});

test("replies never reach another caller while messages flood the subscriber (pool and RESP3 client)", async () => {
  const p = pool({ size: 2 });
  let received = 0;
  const sub = await p.subscribe("busy", () => void received++);
  const publishing = (async () => {
    for (let round = 0; round < 20; round++) {
      await Promise.all(Array.from({ length: 2000 }, (_, i) => p.publish("busy", `m${i}`)));
    }
  })();
  for (let round = 0; round < 20; round++) {
    const values = await Promise.all(
      Array.from({ length: 500 }, (_, i) => p.set(`mr:${i}`, `v${round}:${i}`).then(() => p.get(`mr:${i}`))),
    );
    values.forEach((v, i) => assert.equal(v, `v${round}:${i}`));
  }
  await publishing;
  await until(() => received === 40_000);
  await sub.unsubscribe();

  using r = connect(server.host, server.port, { protocol: 3 });
  r.subscribe(["busy3"]);
  using publisher = connect(server.host, server.port);
  for (let i = 0; i < 200; i++) {
    publisher.addCommand("PUBLISH", "busy3", `n${i}`);
    if (i % 50 === 0) publisher.execute();
    r.set(`r3:${i}`, i); // messages arrive between these replies
    assert.equal(r.get(`r3:${i}`), String(i));
  }
  publisher.execute();
  const seen: string[] = [];
  for (let m = r.nextMessage(200); m !== null; m = r.nextMessage(200)) seen.push(m.message);
  assert.deepEqual(seen, Array.from({ length: 200 }, (_, i) => `n${i}`));
});

test("the synchronous client: nextMessage, its timeout, patterns, bytes, unsubscribe all, the gap after CLIENT KILL", () => {
  using r = connect(server.host, server.port);
  using publisher = connect(server.host, server.port);
  const gaps: number[] = [];
  r.on("gap", ({ since, until }) => gaps.push(until - since));
  assert.throws(() => r.nextMessage(10), /subscription first/);
  r.subscribe(["sync:a", "sync:b"]);
  r.psubscribe("sync:p*");
  const started = Date.now();
  assert.equal(r.nextMessage(50), null);
  assert.ok(Date.now() - started >= 45, "waited for the timeout");
  publisher.publish("sync:a", "1");
  publisher.publish("sync:pq", Uint8Array.of(0, 255));
  assert.deepEqual(r.nextMessage(1000), { channel: "sync:a", message: "1" });
  assert.deepEqual(r.nextMessageBuffer(1000), {
    channel: "sync:pq",
    message: Uint8Array.of(0, 255),
    pattern: "sync:p*",
  });
  publisher.send("CLIENT", "KILL", "TYPE", "pubsub");
  assert.equal(r.nextMessage(20), null); // sees the connection gone, subscribes again, reports the gap
  assert.equal(gaps.length, 1);
  assert.equal(publisher.publish("sync:b", "2"), 1);
  assert.equal(publisher.publish("sync:px", "3"), 1);
  assert.deepEqual(r.nextMessage(1000), { channel: "sync:b", message: "2" });
  assert.deepEqual(r.nextMessage(1000), { channel: "sync:px", message: "3", pattern: "sync:p*" });
  r.unsubscribe("sync:a");
  assert.equal(publisher.publish("sync:a", "x"), 0);
  r.unsubscribe(); // the rest
  r.unsubscribe(); // none left: one confirmation with a null channel
  r.punsubscribe();
  assert.equal(r.get("sync:none"), null); // out of subscribed mode, replies in place
});

test("RESP3: pushes that are not messages go to onPush (client tracking's invalidations), on the pool and the client", async () => {
  const p = pool({ protocol: 3, size: 1 });
  const pushes: unknown[] = [];
  p.onPush = (push) => void pushes.push(push);
  await p.set("tracked", "1");
  const own = await p.acquire(); // tracking changes a connection's state: one of its own
  await own.send("CLIENT", "TRACKING", "ON");
  assert.equal(await own.get("tracked"), "1");
  server.cli("SET", "tracked", "2");
  await until(() => pushes.length === 1, 5000, "the invalidation");
  assert.deepEqual(pushes[0], ["invalidate", ["tracked"]]);
  own.release();

  using r = connect(server.host, server.port, { protocol: 3 });
  const seen: unknown[] = [];
  r.onPush = (push) => void seen.push(push);
  r.send("CLIENT", "TRACKING", "ON");
  r.get("tracked");
  server.cli("SET", "tracked", "3");
  r.subscribe("tracking:other"); // reads the invalidation on the way
  r.ping();
  assert.deepEqual(seen, [["invalidate", ["tracked"]]]);
});

test("keyspace notifications through psubscribe", async () => {
  server.cli("CONFIG", "SET", "notify-keyspace-events", "KEA");
  const p = pool();
  const events: Message[] = [];
  const sub = await p.psubscribe(["__keyspace@0__:ks:*", "__keyevent@0__:del"], (m) => void events.push(m));
  await p.set("ks:one", "1");
  await p.del("ks:one");
  await until(() => events.length === 3);
  assert.deepEqual(events, [
    { channel: "__keyspace@0__:ks:one", message: "set", pattern: "__keyspace@0__:ks:*" },
    { channel: "__keyspace@0__:ks:one", message: "del", pattern: "__keyspace@0__:ks:*" },
    { channel: "__keyevent@0__:del", message: "ks:one", pattern: "__keyevent@0__:del" },
  ]);
  await sub.unsubscribe();
  server.cli("CONFIG", "SET", "notify-keyspace-events", "");
});

test("names are checked: none, an empty one, a number; a closed pool refuses", async () => {
  const p = pool();
  await assert.rejects(p.subscribe([]), TypeError);
  await assert.rejects(p.subscribe(""), TypeError);
  await assert.rejects(p.psubscribe([1 as unknown as string]), TypeError);
  await assert.rejects(p.subscribe("x", "nope" as never), TypeError);
  await assert.rejects(p.subscribe("x", undefined, { maxQueued: 0 }), TypeError);
  await p.close();
  await assert.rejects(p.subscribe("x"), /closed/);
});

/** The subscriber connection's output buffer in the server (omem), in bytes; 0 when it has none. */
function serverBacklog(): number {
  return Number(/omem=(\d+)/.exec(server.cli("CLIENT", "LIST", "TYPE", "pubsub"))?.[1] ?? 0);
}

test("a slow listener, overflow 'pause': the queue stays near maxQueued, the rest waits outside, nothing is lost", async () => {
  const p = pool();
  const publisher = pool({ size: 1 });
  let next = 0, wrong = "", maxQueued = 0;
  const sub = await p.subscribe("slow:pause", async ({ message }) => {
    if (!message.startsWith(`${next}:`) && wrong === "") wrong = `${message.slice(0, 10)} instead of ${next}`;
    next++;
    if (next % 20 === 0) await sleep(1); // 20 messages per millisecond at best
  }, { maxQueued: 200 });
  const total = 40_000, padding = "x".repeat(100);
  for (let from = 0; from < total; from += 1000) {
    await Promise.all(
      Array.from({ length: 1000 }, (_, i) => publisher.publish("slow:pause", `${from + i}:${padding}`)),
    );
    maxQueued = Math.max(maxQueued, sub.queued);
  }
  // Published, not yet delivered, and not in the queue: held by the server and the sockets while the pool does not read.
  const outside = total - next - sub.queued;
  await until(() => next === total, 60_000, "every message");
  assert.equal(wrong, "");
  // Past 200 the pool stops reading. What the core held by then still comes: at most 256 KiB of messages
  // waiting to be drained plus one read of 512 KiB, each message here over 120 bytes in RESP. Without the
  // pause most of the 40,000 would wait here.
  assert.ok(maxQueued <= 200 + (768 * 1024) / 120, `queued ${maxQueued}`);
  assert.ok(outside > 10_000, `${outside} messages waited outside the process`);
  await sub.unsubscribe();
});

test("a slow listener past the server's output-buffer limit: disconnected, subscribed again, the gap reported", async () => {
  server.cli("CONFIG", "SET", "client-output-buffer-limit", "pubsub 64kb 32kb 1");
  try {
    const p = pool();
    const gaps: unknown[] = [];
    p.on("gap", (gap) => gaps.push(gap));
    let got = 0;
    const sub = await p.subscribe("slow:limit", async () => {
      if (++got % 10 === 0) await sleep(1);
    }, { maxQueued: 100 });
    const publisher = pool({ size: 1 });
    // Until the server gave up on it: first the sockets' buffers fill (megabytes on loopback), then its own. A
    // backlog alone is not enough (one under the limit drains again): the subscriber must be gone from the server.
    const subscribed = () => server.cli("CLIENT", "LIST", "TYPE", "pubsub").includes("sub=1");
    for (let round = 0; round < 200 && subscribed() && gaps.length === 0; round++) {
      await Promise.all(Array.from({ length: 2000 }, (_, i) => publisher.publish("slow:limit", `m${i}`.padEnd(1000))));
    }
    await until(() => gaps.length >= 1, 20_000, "the gap");
    const before = got;
    await publisher.publish("slow:limit", "after the gap");
    await until(() => got > before, 20_000, "a message after the gap");
    await sub.unsubscribe();
  } finally {
    server.cli("CONFIG", "SET", "client-output-buffer-limit", "pubsub 32mb 8mb 60");
  }
});

test("a slow listener, overflow 'dropOldest': at most maxQueued wait, every message delivered or counted dropped", async () => {
  const p = pool();
  let delivered = 0, maxQueued = 0, last = -1, ordered = true;
  const sub = await p.subscribe("slow:drop", async ({ message }) => {
    const n = Number(message);
    if (n <= last) ordered = false;
    last = n;
    delivered++;
    if (delivered % 20 === 0) await sleep(1);
  }, { maxQueued: 100, overflow: "dropOldest" });
  const publisher = pool({ size: 1 });
  const total = 20_000;
  for (let from = 0; from < total; from += 1000) {
    await Promise.all(Array.from({ length: 1000 }, (_, i) => publisher.publish("slow:drop", String(from + i))));
    maxQueued = Math.max(maxQueued, sub.queued);
  }
  await until(() => delivered + sub.dropped === total, 30_000, "every message delivered or dropped");
  assert.ok(maxQueued <= 100, `queued ${maxQueued}`);
  assert.ok(sub.dropped > 0, "a listener this slow loses some");
  assert.ok(ordered, "what is delivered stays in order");
  assert.equal(serverBacklog(), 0);
  await sub.unsubscribe();
});
