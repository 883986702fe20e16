/** The synchronous clients' bounded wait through a failover (src/offline_wait.ts), without a server. */
import assert from "node:assert/strict";
import { test } from "../harness/shim.ts";
import { ConnectionError } from "../../mod.ts";
import { OfflineWait } from "../../src/offline_wait.ts";

const refused = new ConnectionError("cpipe: 127.0.0.1:7000: cannot connect: Connection refused", { unsent: true });

test("OfflineWait pauses with a doubling delay, then throws an unsent ConnectionError naming what did not happen", () => {
  const wait = new OfflineWait(120, 10);
  const started = Date.now();
  let error: unknown = null;
  try {
    for (let i = 0; i < 100; i++) wait.pause(refused, "no node took slot 7");
  } catch (e) {
    error = e;
  }
  const took = Date.now() - started;
  assert(error instanceof ConnectionError, String(error));
  assert.equal(
    error.message,
    "cpipe: no node took slot 7 within offlineTimeout (120 ms): 127.0.0.1:7000: cannot connect: Connection refused",
  );
  assert.equal(error.cause, refused);
  assert(error.unsent, "the command still never left");
  // 10 + 20 + 40 ms, then what remains of the 120: the last pause ends at the limit, not past it.
  assert.equal(wait.pauses, 4);
  assert(took >= 115 && took < 400, `waited ${took} ms`);
});

test("OfflineWait with no limit keeps pausing, each pause at most 500 ms", () => {
  const wait = new OfflineWait(0, 400);
  const started = Date.now();
  wait.pause(refused, "x"); // 400
  wait.pause(refused, "x"); // 800, capped at 500
  const took = Date.now() - started;
  assert(took >= 890 && took < 1_400, `paused ${took} ms`);
});

test("ConnectionError.unsent is false unless said", () => {
  assert.equal(new ConnectionError("cpipe: the connection broke").unsent, false);
  assert.equal(new ConnectionError("x", { unsent: true, cause: refused }).cause, refused);
});
