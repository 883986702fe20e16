/** The module-level functions over the default client, as in the seed's examples. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { afterAll, runtime, test } from "../harness/shim.ts";
import { startRedis } from "../harness/server.ts";
import * as cpipe from "../../mod.ts";

const server = await startRedis();
afterAll(() => server[Symbol.asyncDispose]());

test("before connect(), module functions say to connect first", () => {
  // A fresh process: Bun runs every test file in one, where other files connect.
  const modUrl = new URL("../../mod.ts", import.meta.url).href;
  const script = `import * as cpipe from ${JSON.stringify(modUrl)};
    try { cpipe.hget("hashmap", "key"); } catch (e) { console.log(e.name + ": " + e.message); }`;
  const [exe, args] = runtime === "deno"
    ? [Deno.execPath(), ["eval", "--ext=ts", script]]
    : [process.execPath, ["--eval", script]];
  const out = spawnSync(exe, args, { encoding: "utf8" });
  assert.match(out.stdout, /^CpipeError: cpipe: no client yet: call cpipe\.connect\(\) first/, out.stderr);
});

test("the seed's example: connect, hset, hget, and a 10,000-command pipeline", () => {
  const r = cpipe.connect(server.host, server.port);
  assert.equal(cpipe.defaultClient(), r);
  cpipe.hset("hashmap", "key", "value");
  assert.equal(cpipe.hget("hashmap", "key"), "value");
  for (let i = 0; i < 10_000; i++) cpipe.addCommand("hset", "words", `word|${i}`, "1");
  const replies = cpipe.execute();
  assert.equal(replies.length, 10_000);
  assert.ok(replies.every((x) => x === 1));
  assert.equal(r.hlen("words"), 10_000);
  assert.equal(cpipe.set("s", "v", { ex: 10 }), "OK");
  assert.equal(cpipe.get("s"), "v");
  assert.equal(cpipe.send("STRLEN", "s"), 1);
  assert.equal(cpipe.del("s", "hashmap"), 2);
});

test("the last connect() becomes the default; a closed default throws ClosedError", () => {
  const first = cpipe.defaultClient();
  const second = cpipe.connect(server.host, server.port, { db: 1 });
  assert.equal(cpipe.defaultClient(), second);
  cpipe.set("which", "db1");
  assert.equal(first.get("which"), null);
  second.close();
  assert.throws(() => cpipe.get("which"), cpipe.ClosedError);
  first.close();
});
