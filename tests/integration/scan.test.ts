/** The SCAN family as iterators: every element seen, options passed, on the client, the pool and a lease. */
import assert from "node:assert/strict";
import { afterAll, test } from "../harness/shim.ts";
import { startRedis } from "../harness/server.ts";
import { connect, connectPool } from "../../mod.ts";

const server = await startRedis();
afterAll(() => server[Symbol.asyncDispose]());

const N = 1_000;
const r = connect(server.host, server.port);
for (let i = 0; i < N; i++) r.addCommand("SET", `scan:k:${i}`, i);
r.addCommand("HSET", "scan:h", ...Array.from({ length: 2 * N }, (_, i) => (i % 2 ? `v${i >> 1}` : `f${i >> 1}`)));
r.addCommand("SADD", "scan:s", ...Array.from({ length: N }, (_, i) => `m${i}`));
r.addCommand("ZADD", "scan:z", ...Array.from({ length: 2 * N }, (_, i) => (i % 2 ? `z${i >> 1}` : (i >> 1) + 0.5)));
r.execute();
afterAll(() => r.close());

test("the client's iterators see every key, field, member and score; MATCH, COUNT and TYPE are passed", () => {
  const keys = new Set(r.scanIterator({ match: "scan:k:*", count: 50 }));
  assert.equal(keys.size, N);
  assert.deepEqual([...r.scanIterator({ match: "scan:*", type: "hash" })], ["scan:h"]);
  const fields = new Map([...r.hscanIterator("scan:h", { count: 100 })].map(({ field, value }) => [field, value]));
  assert.equal(fields.size, N);
  assert.equal(fields.get("f7"), "v7");
  assert.equal(new Set(r.sscanIterator("scan:s", { match: "m1*" })).size, 111); // m1, m10–m19, m100–m199
  const scores = new Map([...r.zscanIterator("scan:z")].map(({ member, score }) => [member, score]));
  assert.equal(scores.size, N);
  assert.equal(scores.get("z41"), 41.5);
  assert.throws(() => [...r.hscanIterator("scan:h", { type: "hash" })], TypeError);
  assert.throws(() => [...r.scanIterator({ count: 0 })], TypeError);
});

test("the pool's async iterators see the same", async () => {
  const pool = connectPool({ host: server.host, port: server.port, size: 2 });
  const keys = new Set<string>();
  for await (const key of pool.scanIterator({ match: "scan:k:*", count: 50 })) keys.add(key);
  assert.equal(keys.size, N);
  let fields = 0, members = 0, scored = 0;
  for await (const { field, value } of pool.hscanIterator("scan:h")) {
    fields += field.slice(1) === value.slice(1) ? 1 : 0;
  }
  for await (const _ of pool.sscanIterator("scan:s")) members++;
  for await (const { member, score } of pool.zscanIterator("scan:z")) {
    scored += Number(member.slice(1)) + 0.5 === score ? 1 : 0;
  }
  assert.deepEqual([fields, members, scored], [N, N, N]);
  const typed: number = await pool.send<number>("SCARD", "scan:s"); // send<T>
  assert.equal(typed, N);
  {
    // An acquired connection has them too.
    await using c = await pool.acquire();
    const seen = new Set<string>();
    for await (const member of c.sscanIterator("scan:s", { count: 100 })) seen.add(member);
    assert.equal(seen.size, N);
  }
  await pool.close();
});
