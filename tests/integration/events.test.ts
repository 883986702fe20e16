/** Connection events, as ops teams wire them to logs and metrics: ready, error, reconnecting, close. */
import assert from "node:assert/strict";
import { afterAll, test } from "../harness/shim.ts";
import { startRedis } from "../harness/server.ts";
import { connect, ConnectionError, type ConnectionEvents, connectPool } from "../../mod.ts";

const server = await startRedis({ args: ["--requirepass", "events-secret"] });
afterAll(() => server[Symbol.asyncDispose]());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("the pool: ready for each connection, then error and reconnecting after CLIENT KILL, ready again, close", async () => {
  const seen: [keyof ConnectionEvents, unknown][] = [];
  const pool = connectPool({ host: server.host, port: server.port, size: 2, password: "events-secret" });
  for (const type of ["ready", "error", "reconnecting", "close"] as const) pool.on(type, (e) => seen.push([type, e]));
  assert.equal(await pool.ping(), "PONG");
  while (seen.filter(([t]) => t === "ready").length < 2) await sleep(5);
  server.cli("CLIENT", "KILL", "TYPE", "normal");
  while (seen.filter(([t]) => t === "ready").length < 4) await sleep(5);
  const errors = seen.filter(([t]) => t === "error").map(([, e]) => (e as ConnectionEvents["error"]).error);
  assert.ok(errors.length >= 2 && errors.every((e) => e instanceof ConnectionError), String(errors[0]));
  const reconnecting = seen.filter(([t]) => t === "reconnecting").map(([, e]) => e as ConnectionEvents["reconnecting"]);
  assert.ok(reconnecting.length >= 2 && reconnecting.every((e) => e.delay > 0 && e.attempt === 1));
  const again = seen.filter(([t]) => t === "ready").slice(2).map(([, e]) => e as ConnectionEvents["ready"]);
  assert.ok(again.every((e) => e.attempt === 1), JSON.stringify(again));
  await pool.close();
  assert.equal(seen.at(-1)?.[0], "close");
  assert.ok(
    !JSON.stringify(seen).includes("events-secret") && !errors.some((e) => e.message.includes("events-secret")),
  );
});

test("the client: error when its connection dies under a call, ready when the next call reconnects", () => {
  const seen: string[] = [];
  const r = connect(server.host, server.port, { password: "events-secret" });
  r.on("ready", ({ attempt }) => seen.push(`ready ${attempt}`)).on("error", ({ error }) => seen.push(error.name));
  r.on("close", () => seen.push("close"));
  server.cli("CLIENT", "KILL", "TYPE", "normal");
  assert.equal(r.ping(), "PONG");
  r.close();
  r.close(); // once
  assert.deepEqual(seen, ["ConnectionError", "ready 1", "close"]);
});

test("the client: a listener may call the client; it hears of the events once the call that saw them has its reply", () => {
  const seen: string[] = [];
  const r = connect(server.host, server.port, { password: "events-secret" });
  r.on("error", () => seen.push(`error, then ${r.ping()}`));
  r.on("ready", ({ attempt }) => seen.push(`ready ${attempt}, then ${r.set("events:ready", String(attempt))}`));
  r.set("events:n", "1");
  server.cli("CLIENT", "KILL", "TYPE", "normal");
  assert.equal(r.incr("events:n"), 2); // the call whose records held the events, answered in its own place
  assert.deepEqual(seen, ["error, then PONG", "ready 1, then OK"]);
  assert.equal(r.get("events:ready"), "1");
  r.close();
});

test("an unknown event name or a listener that is not a function is a TypeError", async () => {
  const pool = connectPool({ host: server.host, port: server.port, size: 1, password: "events-secret" });
  assert.throws(() => pool.on("nope" as "ready", () => {}), /no event "nope"/);
  assert.throws(() => pool.on("ready", "x" as unknown as () => void), TypeError);
  await pool.close();
});
