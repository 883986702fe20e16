/** Nothing leaks: native allocations, sockets and memory stay flat over many cycles. */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { afterAll, test } from "../harness/shim.ts";
import { startRedis } from "../harness/server.ts";
import { connect } from "../../mod.ts";
import { native } from "../../ffi/load.ts";

const server = await startRedis();
afterAll(() => server[Symbol.asyncDispose]());

const liveAllocations = () => Number(native.cpipe_live_allocations());
/*
 * Counts are compared with "at most the baseline": in Bun every test file
 * shares one process, and a client another file left open may be collected
 * (and freed) while these tests run. A leak only ever adds.
 */
function assertNoGrowth(before: number): void {
  const now = liveAllocations();
  assert.ok(now <= before, `native heap blocks grew from ${before} to ${now}`);
}
const openFds = () => readdirSync("/proc/self/fd").length;

test("10,000 connect/close cycles leak no socket and no native memory", () => {
  const fdsBefore = openFds(), allocsBefore = liveAllocations();
  for (let i = 0; i < 10_000; i++) {
    const r = connect(server.host, server.port, { name: "cycle", db: 1 });
    if (i % 1000 === 0) assert.equal(r.ping(), "PONG");
    r.close();
  }
  assertNoGrowth(allocsBefore);
  assert.ok(openFds() <= fdsBefore + 2, `fds ${fdsBefore} -> ${openFds()}`);
});

test("failed connects and failed handshakes free what they allocated", () => {
  const allocsBefore = liveAllocations();
  for (let i = 0; i < 500; i++) {
    assert.throws(() => connect(server.host, 1));
    assert.throws(() => connect(server.host, server.port, { password: "wrong" }));
  }
  assertNoGrowth(allocsBefore);
});

test("commands, pipelines, big values and errors keep native memory flat", () => {
  const allocsBefore = liveAllocations();
  const r = connect(server.host, server.port);
  const round = () => {
    for (let i = 0; i < 2000; i++) r.hset("leak:h", `f${i}`, "v");
    for (let i = 0; i < 20_000; i++) r.addCommand("HGET", "leak:h", `f${i % 2000}`);
    r.execute();
    r.set("leak:big", new Uint8Array(8 * 1024 * 1024));
    r.getBuffer("leak:big");
    try {
      r.incr("leak:h");
    } catch { /* WRONGTYPE, expected */ }
  };
  round();
  const allocsAfterWarmup = liveAllocations();
  const rssAfterWarmup = process.memoryUsage().rss;
  for (let i = 0; i < 20; i++) round();
  assertNoGrowth(allocsAfterWarmup);
  const growth = process.memoryUsage().rss - rssAfterWarmup;
  assert.ok(growth < 256 * 1024 * 1024, `RSS grew by ${(growth / 2 ** 20).toFixed(0)} MB`);
  r.close();
  assertNoGrowth(allocsBefore);
});
