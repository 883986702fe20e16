/**
 * Peers that send what a real server never would: the rule is a typed
 * error, the process alive, and never a reply handed to a caller it was not
 * for. (More cases: connection.test.ts, pool_faults.test.ts.)
 */
import assert from "node:assert/strict";
import process from "node:process";
import { afterAll, test } from "../harness/shim.ts";
import { PEER_OPTIONS, startPeer } from "../harness/peer.ts";
import { startRedis } from "../harness/server.ts";
import { connect, ConnectionError, connectPool, ProtocolError, TimeoutError } from "../../mod.ts";

const server = await startRedis();
afterAll(() => server[Symbol.asyncDispose]());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("the client: a reply for which no command waits is never handed to the next command", async () => {
  const peer = await startPeer("surplus");
  try {
    const r = connect("127.0.0.1", peer.port, PEER_OPTIONS);
    for (let i = 0; i < 3; i++) {
      assert.equal(r.send("PING"), "OK");
      await sleep(120); // the surplus reply arrives while nothing is pending
    }
    r.close();
  } finally {
    peer.stop();
  }
});

test("the pool: a reply for which no command waits is never handed to the next command", async () => {
  const peer = await startPeer("surplus");
  const pool = connectPool({ host: "127.0.0.1", port: peer.port, size: 1, ...PEER_OPTIONS });
  try {
    for (let i = 0; i < 3; i++) {
      assert.equal(await pool.send("PING"), "OK");
      await sleep(120);
    }
  } finally {
    await pool.close();
    peer.stop();
  }
});

test("a peer that dribbles a byte every 100 ms does not defeat commandTimeout (client and pool)", async () => {
  const peer = await startPeer("dribble");
  try {
    const r = connect("127.0.0.1", peer.port, { commandTimeout: 300, ...PEER_OPTIONS });
    let started = Date.now();
    assert.throws(() => r.ping(), TimeoutError);
    let took = Date.now() - started;
    assert.ok(took >= 250 && took < 650, `client: ${took} ms`);
    r.close();

    const pool = connectPool({ host: "127.0.0.1", port: peer.port, size: 1, commandTimeout: 300, ...PEER_OPTIONS });
    await pool.send("CLIENT", "ID").catch(() => {}); // times out, and the connection is dropped
    while (pool.connected === 0) await sleep(5); // a new one
    started = Date.now();
    await assert.rejects(pool.ping(), TimeoutError);
    took = Date.now() - started;
    assert.ok(took >= 250 && took < 1000, `pool: ${took} ms`);
    await pool.close();
  } finally {
    peer.stop();
  }
});

/** Every hostile reply of peer.mjs, and what the error must say. */
const HOSTILE: [name: string, says: RegExp][] = [
  ["huge-bulk", /larger than maxReplyBytes/],
  ["endless-line", /line longer than 65536 bytes/],
  ["huge-map", /aggregate length out of range/],
  ["huge-array", /aggregate length out of range/],
  ["deep", /nested deeper than 10000/],
  ["bad-bignum", /big number/],
  ["bad-integer", /integer/],
  ["bad-double", /double/],
  ["negative-length", /length out of range/],
  ["unknown-type", /reply type byte/],
  ["missing-crlf", /not followed by CRLF/],
];
const MB = 1 << 20;
const rss = () => process.memoryUsage().rss;

for (const [name, says] of HOSTILE) {
  test(`hostile reply "${name}": ProtocolError, memory bounded, the process still correct (client and pool)`, async () => {
    const peer = await startPeer(`reply:${name}`);
    try {
      const before = rss();
      let started = Date.now();
      const r = connect("127.0.0.1", peer.port, { commandTimeout: 10_000, ...PEER_OPTIONS });
      assert.throws(() => r.get("k"), (e: unknown) => e instanceof ProtocolError && says.test(e.message));
      r.close();
      const client = Date.now() - started;

      started = Date.now();
      const pool = connectPool({
        host: "127.0.0.1",
        port: peer.port,
        size: 1,
        commandTimeout: 10_000,
        ...PEER_OPTIONS,
      });
      await assert.rejects(pool.get("k"), (e: unknown) => e instanceof ProtocolError && says.test(e.message));
      await pool.close();
      const pooled = Date.now() - started;
      // Far below what the peer offers (256 MB of "huge-bulk", 64 MB of "endless-line").
      assert.ok(rss() - before < 48 * MB, `RSS grew by ${((rss() - before) / MB).toFixed(0)} MB`);
      assert.ok(client < 3000 && pooled < 3000, `client ${client} ms, pool ${pooled} ms`);
    } finally {
      peer.stop();
    }
    // The same process against a real server: values still exact.
    const value = new Uint8Array([0, 13, 10, 255, 128, 0]);
    const r = connect("127.0.0.1", server.port);
    r.set("hostile:after", value);
    assert.deepEqual(r.getBuffer("hostile:after"), value);
    r.close();
    const pool = connectPool({ host: "127.0.0.1", port: server.port, size: 2 });
    assert.deepEqual(await pool.getBuffer("hostile:after"), value);
    await pool.close();
  });
}

test("a hostile reply to the ready check: connect is a ProtocolError saying why, and a pool's commands a ConnectionError that says it", async () => {
  for (const [name, says] of HOSTILE) {
    const peer = await startPeer(`reply:${name}`);
    try {
      assert.throws(
        () => connect("127.0.0.1", peer.port, { connectTimeout: 10_000 }),
        (e: unknown) => e instanceof ProtocolError && says.test(e.message),
        name,
      );
      // The pool never counts the connection as up: its commands wait out offlineTimeout, told why.
      const pool = connectPool({
        host: "127.0.0.1",
        port: peer.port,
        size: 1,
        offlineTimeout: 300,
        reconnectMaxDelay: 50,
      });
      await assert.rejects(pool.get("k"), (e: unknown) => e instanceof ConnectionError && says.test(e.message), name);
      await pool.close();
    } finally {
      peer.stop();
    }
  }
});
