/** defineScript: one Lua script, run by SHA-1 on every kind of target, reloaded after NOSCRIPT. */
import assert from "node:assert/strict";
import { afterAll, test } from "../harness/shim.ts";
import { startRedis } from "../harness/server.ts";
import { connect, connectPool, defineScript, ReplyError } from "../../mod.ts";

const server = await startRedis();
afterAll(() => server[Symbol.asyncDispose]());

const incrBy = defineScript("return redis.call('INCRBY', KEYS[1], ARGV[1])");
const evalCalls = () => Number(server.cli("INFO", "commandstats").match(/cmdstat_eval:calls=(\d+)/)?.[1] ?? 0);

test("on the client: EVALSHA after one SCRIPT LOAD, and loaded again after SCRIPT FLUSH", () => {
  const r = connect(server.host, server.port);
  assert.equal(incrBy(r, ["script:a"], [5]), 5);
  assert.equal(incrBy(r, ["script:a"], [5]), 10);
  assert.match(server.cli("INFO", "commandstats"), /cmdstat_evalsha:calls=2,/);
  r.send("SCRIPT", "FLUSH");
  assert.equal(incrBy(r, ["script:a"], [1]), 11); // NOSCRIPT, loaded again, run
  assert.throws(() => defineScript("return redis.call('NOPE')")(r), ReplyError);
  assert.throws(() => incrBy({} as never), TypeError);
  assert.throws(() => defineScript(""), TypeError);
  r.close();
});

test("on the pool, an acquired connection, and in pipelines (as EVAL)", async () => {
  const pool = connectPool({ host: server.host, port: server.port, size: 2 });
  assert.equal(await incrBy(pool, ["script:b"], [2]), 2);
  const c = await pool.acquire();
  assert.equal(await incrBy(c, ["script:b"], [2]), 4);
  c.release();
  await pool.send("SCRIPT", "FLUSH");
  assert.equal(await incrBy(pool, ["script:b"], [2]), 6);
  const before = evalCalls();
  assert.deepEqual(await incrBy(pool.pipeline(), ["script:b"], [1]).get("script:b").execute(), [7, "7"]);
  const r = connect(server.host, server.port);
  assert.deepEqual(incrBy(r.pipeline(), ["script:b"], [1]).execute(), [8]);
  assert.equal(evalCalls(), before + 2);
  r.close();
  await pool.close();
});
