/**
 * Riding out an outage: with the offline queue (the default), commands
 * issued while no connection is up wait for one, at most `offlineTimeout`,
 * instead of failing in the first millisecond; commands that were in flight
 * when the server died reject (never resent).
 */
import assert from "node:assert/strict";
import { afterAll, test } from "../harness/shim.ts";
import { freePort, startRedis } from "../harness/server.ts";
import { ConnectionError, connectPool } from "../../mod.ts";

const server = await startRedis();
afterAll(() => server[Symbol.asyncDispose]());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("a restart under steady load: every command issued while the server was down resolves once it is back", async () => {
  const pool = connectPool({ host: server.host, port: server.port, size: 4, reconnectMaxDelay: 100 });
  await pool.set("outage:k", "v");
  let stop = false, issued = 0, resolved = 0, inFlightAtCrash = 0;
  const failures: unknown[] = [];
  // A steady load: batches of 50 GETs, each batch awaited.
  const load = (async () => {
    while (!stop) {
      const batch = Array.from({ length: 50 }, () => pool.set("outage:n", String(issued++)));
      for (const r of await Promise.allSettled(batch)) {
        if (r.status === "fulfilled") resolved++;
        else failures.push(r.reason);
      }
    }
  })();
  await sleep(100);
  await server.stop();
  // Until the pool has seen its connections close, a command may still be written into one of them (and fail with
  // it, as one in flight): "down" starts when the pool knows.
  while (pool.connected > 0) await sleep(1);
  const duringOutage = Promise.allSettled(Array.from({ length: 200 }, (_, i) => pool.set(`outage:down:${i}`, "x")));
  await sleep(300); // down for a while
  await server.restart();
  const settled = await duringOutage;
  assert.deepEqual(settled.map((s) => s.status === "fulfilled" ? s.value : String(s.reason)), Array(200).fill("OK"));
  await sleep(100);
  stop = true;
  await load;
  inFlightAtCrash = failures.length;
  // Only commands on the wire when the server died may fail, and only with ConnectionError.
  assert.ok(failures.every((e) => e instanceof ConnectionError), String(failures[0]));
  assert.ok(inFlightAtCrash <= 200, `${inFlightAtCrash} failed`);
  assert.ok(resolved > 0);
  assert.equal(server.cli("GET", "outage:down:199"), "x");
  await pool.close();
});

test("offlineTimeout bounds the wait: an unreachable server rejects with ConnectionError that says so", async () => {
  const port = await freePort();
  const pool = connectPool({ host: "127.0.0.1", port, size: 2, reconnectMaxDelay: 50, offlineTimeout: 200 });
  const started = Date.now();
  const calls = await Promise.allSettled(Array.from({ length: 100 }, () => pool.get("k")));
  const waited = Date.now() - started;
  for (const c of calls) {
    assert.equal(c.status, "rejected");
    const reason = (c as PromiseRejectedResult).reason;
    assert.ok(reason instanceof ConnectionError);
    assert.ok(reason.unsent, "it never left");
    assert.match(reason.message, /offlineTimeout \(200 ms\)/);
  }
  assert.ok(waited >= 150 && waited < 2000, `${waited} ms`);
  await pool.close();
});

test("commands issued right after connectPool() wait for the first connection instead of failing", async () => {
  const pool = connectPool({ host: server.host, port: server.port, size: 2 });
  assert.deepEqual(await Promise.all([pool.ping(), pool.set("outage:first", "1"), pool.get("outage:first")]), [
    "PONG",
    "OK",
    "1",
  ]);
  await pool.close();
});
