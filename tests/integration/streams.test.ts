/**
 * Typed Streams against a real server: XADD (objects, options, the server's own order), XRANGE / XREVRANGE,
 * XREAD (with BLOCK on the pool's exclusive connection), XREADGROUP, XACK, XPENDING (both forms), XAUTOCLAIM,
 * under RESP2 and RESP3, on the client, the pool and pipelines.
 */
import assert from "node:assert/strict";
import { afterAll, test } from "../harness/shim.ts";
import { startRedis } from "../harness/server.ts";
import { connect, connectPool } from "../../mod.ts";

const server = await startRedis();
afterAll(() => server[Symbol.asyncDispose]());

for (const protocol of [2, 3] as const) {
  test(`RESP${protocol}: xadd, xrange, xrevrange, xread shape entries as { id, fields } on the client`, () => {
    const r = connect({ host: server.host, port: server.port, protocol });
    try {
      const key = `st:${protocol}`;
      const a = r.xadd(key, { type: "login", user: "42" });
      const b = r.xadd(key, new Map([["type", "logout"]]), { maxlen: 10, approximate: true });
      const c = r.xadd(key, "*", "type", "again");
      assert.match(a!, /^\d+-\d+$/);
      assert.equal(r.xadd(`${key}:none`, { f: "v" }, { nomkstream: true }), null);
      assert.deepEqual(r.xrange(key), [
        { id: a, fields: { type: "login", user: "42" } },
        { id: b, fields: { type: "logout" } },
        { id: c, fields: { type: "again" } },
      ]);
      assert.deepEqual(r.xrevrange(key, "+", "-", 1), [{ id: c, fields: { type: "again" } }]);
      assert.deepEqual(r.xread({ [key]: b! }), [{ stream: key, entries: [{ id: c, fields: { type: "again" } }] }]);
      assert.equal(r.xread([[key, "$"]], { block: 10 }), null, "BLOCK that runs out is null");
      assert.equal(r.xlen(key), 3, "generated methods beside them");
      const info = r.xinfoStream(key);
      assert.equal(info.length, 3);
      assert.equal(info.groups, 0);
      assert.equal(info.lastGeneratedId, c);
      assert.deepEqual(info.firstEntry, { id: a, fields: { type: "login", user: "42" } });
      assert.deepEqual(info.lastEntry, { id: c, fields: { type: "again" } });
      assert.equal(typeof info.radixTreeKeys, "number");
      r.xadd(key, { n: "1" }, { id: "99999999999999-0" });
      r.xadd(key, { n: "2" }, { minid: "99999999999999-0" });
      assert.equal(r.xlen(key), 2, "MINID trimmed the older entries");
      assert.throws(() => r.xadd(key, {}), TypeError);
      assert.throws(() => r.xadd(key, { f: "v" }, { maxlen: 1, minid: "0-1" }), TypeError);
      assert.throws(() => r.xadd(key, { f: "v" }, { maxlen: 1, limit: 5 }), TypeError);
      const [added, range] = r.pipeline().xadd(key, { p: "1" }).xrange(key, "-", "+", 1).execute();
      assert.match(added as string, /^\d+-\d+$/);
      assert.deepEqual(range, [{ id: "99999999999999-0", fields: { n: "1" } }]);
    } finally {
      r.close();
    }
  });

  test(`RESP${protocol}: consumer groups: xreadgroup, xack, xpending, xautoclaim`, () => {
    const r = connect({ host: server.host, port: server.port, protocol });
    try {
      const key = `group:${protocol}`;
      r.xgroupCreate(key, "g", "$", "MKSTREAM");
      const ids = [r.xadd(key, { job: "a" })!, r.xadd(key, { job: "b" })!, r.xadd(key, { job: "c" })!];
      const read = r.xreadgroup("g", "alice", { [key]: ">" }, { count: 2 });
      assert.deepEqual(read, [{
        stream: key,
        entries: [{ id: ids[0], fields: { job: "a" } }, { id: ids[1], fields: { job: "b" } }],
      }]);
      assert.equal(r.xack(key, "g", ids[0]!), 1);
      const summary = r.xpending(key, "g");
      assert.deepEqual(summary, { count: 1, min: ids[1], max: ids[1], consumers: [{ name: "alice", count: 1 }] });
      const pending = r.xpending(key, "g", { count: 10 });
      assert.equal(pending.length, 1);
      assert.equal(pending[0]!.id, ids[1]);
      assert.equal(pending[0]!.consumer, "alice");
      assert.equal(pending[0]!.deliveries, 1);
      assert.equal(typeof pending[0]!.idle, "number");
      assert.deepEqual(r.xpending(key, "g", { count: 10, consumer: "bob" }), []);
      const claimed = r.xautoclaim(key, "g", "bob", 0, "0-0", { count: 10 });
      assert.equal(claimed.next, "0-0");
      assert.deepEqual(claimed.entries, [{ id: ids[1], fields: { job: "b" } }]);
      assert.deepEqual(claimed.deleted, []);
      // A pending entry deleted from the stream: its ID with null fields when the consumer reads its history.
      r.xdel(key, ids[1]!);
      const history = r.xreadgroup("g", "bob", { [key]: "0" });
      assert.deepEqual(history, [{ stream: key, entries: [{ id: ids[1], fields: null }] }]);
      assert.equal(r.xreadgroup("g", "carol", [[key, ">"]], { block: 10, count: 5, noack: true })?.length, 1);
      assert.equal(r.xreadgroup("g", "carol", [[key, ">"]], { block: 10 }), null);
    } finally {
      r.close();
    }
  });
}

test("the pool: xread with block runs on a connection of its own; xadd and xrange as promises", async () => {
  const pool = connectPool({ host: server.host, port: server.port, size: 1 });
  try {
    const key = "st:pool";
    const waiting = pool.xread({ [key]: "$" }, { block: 5000 });
    // The shared connection is not held by the blocked read: this goes through while it waits.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const id = await pool.xadd(key, { hello: "world" });
    assert.deepEqual(await waiting, [{ stream: key, entries: [{ id, fields: { hello: "world" } }] }]);
    assert.deepEqual(await pool.xrange(key), [{ id, fields: { hello: "world" } }]);
    const [ranged] = await pool.pipeline().xrevrange(key).execute();
    assert.deepEqual(ranged, [{ id, fields: { hello: "world" } }]);
  } finally {
    await pool.close();
  }
});
