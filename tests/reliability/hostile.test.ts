/**
 * Peers that send what a real server never would: the rule is a typed
 * error, the process alive, and never a reply handed to a caller it was not
 * for. (More cases: connection.test.ts, pool_faults.test.ts.)
 */
import assert from "node:assert/strict";
import { test } from "../harness/shim.ts";
import { startPeer } from "../harness/peer.ts";
import { connect, connectPool, TimeoutError } from "../../mod.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("the client: a reply for which no command waits is never handed to the next command", async () => {
  const peer = await startPeer("surplus");
  try {
    const r = connect("127.0.0.1", peer.port);
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
  const pool = connectPool({ host: "127.0.0.1", port: peer.port, size: 1 });
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
    const r = connect("127.0.0.1", peer.port, { commandTimeout: 300 });
    let started = Date.now();
    assert.throws(() => r.ping(), TimeoutError);
    let took = Date.now() - started;
    assert.ok(took >= 250 && took < 650, `client: ${took} ms`);
    r.close();

    const pool = connectPool({ host: "127.0.0.1", port: peer.port, size: 1, commandTimeout: 300 });
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
