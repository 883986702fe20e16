/**
 * `deno bench -A bench/`: cpipe (the baseline of each group) against ioredis
 * and node-redis running under Deno, on a private redis-server this file
 * starts (pinned to CPU 0 where there are two CPUs) and stops.
 * The full cross-runtime comparison is `make bench`.
 */
import { KEY } from "./spec.mjs";
import { openPeers } from "./peers.ts";

const peers = await openPeers();
const { r, io, nr, pool, fields } = peers;

globalThis.addEventListener("unload", () => void peers.close());

// ---- W1: one HSET, answered before the next --------------------------------------
Deno.bench({
  name: "cpipe hset",
  group: "W1 one HSET round trip",
  baseline: true,
  fn: () => void r.hset(KEY, "f", "1"),
});
Deno.bench({
  name: "ioredis hset",
  group: "W1 one HSET round trip",
  fn: async () => void await io.hset(KEY, "f", "1"),
});
Deno.bench({
  name: "node-redis hSet",
  group: "W1 one HSET round trip",
  fn: async () => void await nr.hSet(KEY, "f", "1"),
});

// ---- W2: 10,000 HSET in one pipeline -----------------------------------------------
Deno.bench({
  name: "cpipe addCommand + execute",
  group: "W2 10,000 HSET, one pipeline",
  baseline: true,
  fn() {
    for (const f of fields) r.addCommand("hset", KEY, f, "1");
    r.execute();
  },
});
Deno.bench({
  name: "cpipe pipeline().hset + execute",
  group: "W2 10,000 HSET, one pipeline",
  fn() {
    const p = r.pipeline();
    for (const f of fields) p.hset(KEY, f, "1");
    p.execute();
  },
});
Deno.bench({
  name: "ioredis pipeline + exec",
  group: "W2 10,000 HSET, one pipeline",
  async fn() {
    const p = io.pipeline();
    for (const f of fields) p.hset(KEY, f, "1");
    await p.exec();
  },
});
Deno.bench({
  name: "node-redis Promise.all",
  group: "W2 10,000 HSET, one pipeline",
  async fn() {
    await Promise.all(fields.map((f) => nr.hSet(KEY, f, "1")));
  },
});

// ---- W4: 10,000 HGET in one pipeline, values as strings --------------------------
Deno.bench({
  name: "cpipe addCommand + execute",
  group: "W4 10,000 HGET, one pipeline",
  baseline: true,
  fn() {
    for (const f of fields) r.addCommand("hget", KEY, f);
    r.execute();
  },
});
Deno.bench({
  name: "ioredis pipeline + exec",
  group: "W4 10,000 HGET, one pipeline",
  async fn() {
    const p = io.pipeline();
    for (const f of fields) p.hget(KEY, f);
    await p.exec();
  },
});
Deno.bench({
  name: "node-redis Promise.all",
  group: "W4 10,000 HGET, one pipeline",
  async fn() {
    await Promise.all(fields.map((f) => nr.hGet(KEY, f)));
  },
});

// ---- W3: 10,000 HSET at once through a pool of 10 --------------------------------
Deno.bench({
  name: "cpipe pool of 10",
  group: "W3 10,000 HSET at once, 10 connections",
  baseline: true,
  async fn() {
    await Promise.all(fields.map((f) => pool.hset(KEY, f, "1")));
  },
});
Deno.bench({
  name: "cpipe one connection, one pipeline",
  group: "W3 10,000 HSET at once, 10 connections",
  fn() {
    for (const f of fields) r.addCommand("hset", KEY, f, "1");
    r.execute();
  },
});
