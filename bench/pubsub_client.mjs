/**
 * One subscriber of the Pub/Sub benchmark (bench/pubsub.ts runs it, one process per client):
 * `<runtime> bench/pubsub_client.mjs <client> <port> <P1|P2> [messages]`, client one of cpipe, bun, node-redis,
 * ioredis, or raw (no client library: two of the runtime's own `node:net` sockets, P2 only, the floor a library
 * adds its latency to). Prints one JSON line.
 * P1: subscribes to `p1`, prints "ready", then counts `messages` messages that a flood of pipelined PUBLISH
 *     (redis-benchmark, run by the driver) sends, and reports messages/s from the first to the last.
 * P2: subscribes to `p2` and publishes to it with the same library at 1,000 messages/s, each carrying the
 *     time it was sent (performance.now()); reports the publish -> listener latency's p50 and p99 (µs).
 */
const [client, portText, mode, messagesText] = typeof Deno !== "undefined" ? Deno.args : process.argv.slice(2);
const port = Number(portText);
const messages = Number(messagesText ?? 1_000_000);
const url = `redis://127.0.0.1:${port}`;

/** Subscribes `onMessage(text)` to `channel` with the client under test; returns publish() and close(). */
async function open(channel, onMessage) {
  switch (client) {
    case "cpipe":
    case "cpipe-baseline": {
      // cpipe-baseline: another checkout's (CPIPE_BASELINE), for an A/B of a change.
      const baseline = globalThis.Deno?.env.get("CPIPE_BASELINE") ?? globalThis.process?.env?.CPIPE_BASELINE;
      const { connectPool } = await import(client === "cpipe" ? "../mod.ts" : `${baseline}/mod.ts`);
      const pool = connectPool({ host: "127.0.0.1", port, size: 1 });
      const sub = await pool.subscribe(channel, ({ message }) => onMessage(message));
      return {
        publish: (m) => pool.publish(channel, m),
        close: async () => (await sub.unsubscribe(), await pool.close()),
      };
    }
    case "bun": {
      const sub = new Bun.RedisClient(url), pub = new Bun.RedisClient(url);
      await Promise.all([sub.connect(), pub.connect()]);
      await sub.subscribe(channel, (message) => onMessage(message));
      return { publish: (m) => pub.publish(channel, m), close: () => (sub.close(), pub.close()) };
    }
    case "node-redis": {
      const { createClient } = await import("redis");
      const pub = await createClient({ url }).connect();
      const sub = await pub.duplicate().connect();
      await sub.subscribe(channel, (message) => onMessage(message));
      return { publish: (m) => pub.publish(channel, m), close: async () => (await sub.quit(), await pub.quit()) };
    }
    case "ioredis": {
      const { Redis } = await import("ioredis");
      const pub = new Redis(port, "127.0.0.1"), sub = new Redis(port, "127.0.0.1");
      sub.on("message", (_channel, message) => onMessage(message));
      await sub.subscribe(channel);
      return { publish: (m) => pub.publish(channel, m), close: () => (sub.disconnect(), pub.disconnect()) };
    }
    case "raw":
      return await openRaw(channel, onMessage);
  }
  throw new Error(`no client ${client}`);
}

/**
 * No client library: a subscriber socket whose bytes are scanned for each message's payload (the shape Redis sends,
 * `*3 $7 message $<n> <channel> $<n> <payload>`, nothing else arrives once subscribed), and a publisher socket whose
 * replies are not read.
 */
async function openRaw(channel, onMessage) {
  const net = await import("node:net");
  const connect = () =>
    new Promise((resolve, reject) => {
      const socket = net.connect(port, "127.0.0.1", () => resolve(socket));
      socket.setNoDelay(true);
      socket.once("error", reject);
    });
  const sub = await connect(), pub = await connect();
  await new Promise((resolve) => {
    sub.once("data", resolve); // the confirmation
    sub.write(`SUBSCRIBE ${channel}\r\n`);
  });
  const frame = /\*3\r\n\$7\r\nmessage\r\n\$\d+\r\n[^\r]*\r\n\$\d+\r\n([^\r]*)\r\n/y;
  let pending = "";
  sub.on("data", (chunk) => {
    pending += chunk.toString("latin1");
    frame.lastIndex = 0;
    let taken = 0;
    for (let match; (match = frame.exec(pending)) !== null; taken = frame.lastIndex) onMessage(match[1]);
    pending = pending.slice(taken);
  });
  pub.on("data", () => {});
  return {
    publish: (m) => pub.write(`*3\r\n$7\r\nPUBLISH\r\n$${channel.length}\r\n${channel}\r\n$${m.length}\r\n${m}\r\n`),
    close: () => (sub.destroy(), pub.destroy()),
  };
}

const runtime = typeof Deno !== "undefined" ? "Deno" : typeof Bun !== "undefined" ? "Bun" : "Node";

if (mode === "P1") {
  let count = 0, first = 0, done;
  const finished = new Promise((resolve) => (done = resolve));
  const c = await open("p1", () => {
    if (count++ === 0) first = performance.now();
    if (count === messages) done(performance.now());
  });
  console.log("ready");
  const last = await finished;
  console.log(
    JSON.stringify({
      client,
      runtime,
      mode,
      messages,
      perSecond: Math.round((messages - 1) / ((last - first) / 1000)),
    }),
  );
  await c.close();
} else {
  const latencies = [];
  const rate = 1000, seconds = 6, warmup = 1000;
  let sent = 0;
  const c = await open("p2", (message) => {
    const at = Number(message);
    if (at >= 0) latencies.push(performance.now() - at);
  });
  const start = performance.now();
  await new Promise((resolve) => {
    const tick = () => {
      // On schedule: the n-th message goes at start + n ms, whatever the timer's own lateness.
      const due = Math.floor((performance.now() - start) * rate / 1000);
      for (; sent < due && sent < rate * seconds; sent++) {
        const warm = sent < warmup;
        void c.publish(warm ? "-1" : String(performance.now()));
      }
      if (sent < rate * seconds) setTimeout(tick, 1);
      else setTimeout(resolve, 200);
    };
    tick();
  });
  latencies.sort((a, b) => a - b);
  const pick = (q) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] * 1000);
  console.log(
    JSON.stringify({ client, runtime, mode, messages: latencies.length, p50us: pick(0.5), p99us: pick(0.99) }),
  );
  await c.close();
}
if (typeof Deno !== "undefined") Deno.exit(0);
if (typeof process !== "undefined") process.exit(0);
