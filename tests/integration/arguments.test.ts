/**
 * Arguments that would be sent wrong without a word: SET's expiry in
 * ioredis' form or as a bare number, pairs given as arrays, lone surrogates,
 * CLIENT REPLY given as bytes. Each is done as meant or refused with a
 * TypeError (a CpipeError for CLIENT REPLY), on the client and on the pool.
 */
import assert from "node:assert/strict";
import { afterAll, test } from "../harness/shim.ts";
import { startRedis } from "../harness/server.ts";
import { connect, connectPool, CpipeError } from "../../mod.ts";

const server = await startRedis();
const r = connect(server.host, server.port);
const pool = connectPool({ host: server.host, port: server.port, size: 1 });
afterAll(async () => {
  r.close();
  await pool.close();
  await server[Symbol.asyncDispose]();
});

/** Calls a method as a plain JavaScript caller would, past TypeScript's checks. */
function loose(target: object, method: string, ...args: unknown[]): unknown {
  return (target as Record<string, (...a: unknown[]) => unknown>)[method]!(...args);
}

test("set() takes ioredis' option tokens and does what they say", async () => {
  assert.equal(r.set("ag:ex", "v", "EX", 100), "OK");
  const ttl = r.ttl("ag:ex");
  assert.ok(ttl > 90 && ttl <= 100, `ttl ${ttl}`);
  assert.equal(r.set("ag:px", "v", "px", 50_000, "NX"), "OK");
  const pttl = r.send("PTTL", "ag:px") as number;
  assert.ok(pttl > 40_000 && pttl <= 50_000, `pttl ${pttl}`);
  assert.equal(r.set("ag:px", "w", "PX", 50_000, "NX"), null); // NX: the key exists
  assert.equal(r.set("ag:px", "w", "XX", "GET"), "v"); // the old value; XX without an expiry clears the TTL
  assert.equal(r.ttl("ag:px"), -1);
  assert.equal(r.set("ag:ex", "w", "KEEPTTL"), "OK");
  assert.ok(r.ttl("ag:ex") > 90);
  assert.equal(r.set("ag:at", "v", "EXAT", Math.floor(Date.now() / 1000) + 100), "OK");
  assert.ok(r.ttl("ag:at") > 90);
  assert.equal(await pool.set("ag:pool", "v", "EX", 100), "OK");
  assert.ok((await pool.ttl("ag:pool")) > 90);
  assert.deepEqual(r.pipeline().set("ag:pipe", "v", "EX", 100).ttl("ag:pipe").execute(), ["OK", 100]);
});

test("set() refuses a bare number, a misspelt option and a missing expiry, writing nothing", async () => {
  r.del("ag:bad");
  const bad: [unknown[], RegExp][] = [
    [[100], /bare number \(100\).*\{ ex: 100 \}/],
    [["100"], /unknown option "100"/],
    [[{ EX: 100 }], /unknown option "EX"/],
    [[{ ttl: 100 }], /unknown option "ttl"/],
    [[{ ex: "soon" }], /ex must be a number, not "soon"/],
    [["EX"], /EX must be followed by a number, not undefined/],
    [["EX", "abc"], /EX must be followed by a number/],
    [["EXPIRE", 10], /unknown option "EXPIRE"/],
    [[null], /unknown option null/],
    [[["EX", 100]], /unknown option an array/],
    [[{ ex: 100 }, "NX"], /either as one object or as ioredis' tokens/],
  ];
  for (const [options, message] of bad) {
    assert.throws(() => loose(r, "set", "ag:bad", "v", ...options), (e: unknown) => {
      assert.ok(e instanceof TypeError, `${JSON.stringify(options)}: ${e}`);
      assert.match(e.message, message);
      return true;
    });
    await assert.rejects(Promise.resolve().then(() => loose(pool, "set", "ag:bad", "v", ...options)), TypeError);
  }
  assert.equal(r.exists("ag:bad"), 0);
  // The option object's own names still work, with undefined values skipped.
  assert.equal(r.set("ag:ok", "v", { ex: 100, px: undefined, nx: false }), "OK");
  assert.ok(r.ttl("ag:ok") > 90);
});

test("mset() and hset() take a flat array of pairs (ioredis' form); nested or odd arrays are refused", async () => {
  r.del("ag:k1", "ag:k2", "ag:h", "ag:0", "ag:1");
  assert.equal(r.mset(["ag:k1", "v1", "ag:k2", 2]), "OK");
  assert.deepEqual(r.mget("ag:k1", "ag:k2"), ["v1", "2"]);
  assert.equal(r.hset("ag:h", ["f", "v", "g", new Uint8Array([0x77])]), 2);
  assert.deepEqual(r.hgetall("ag:h"), { f: "v", g: "w" });
  assert.equal(await pool.hset("ag:ph", ["f", "v"]), 1);
  assert.deepEqual(await pool.hgetall("ag:ph"), { f: "v" });
  const bad: [string, unknown[], RegExp][] = [
    ["mset", [["ag:k1", "v1", "ag:k2"]], /even length, not 3/],
    ["mset", [[["ag:k1", "v1"], ["ag:k2", "v2"]]], /flat \(\[f1, v1, f2, v2\]\); item 0 is an array/],
    ["hset", ["ag:h", [["f", "v"]]], /flat/],
    ["hset", ["ag:h", ["f"]], /even length, not 1/],
    ["hset", ["ag:h", [{ f: "v" }]], /flat/],
    ["hset", ["ag:h", new Set(["f", "v"])], /not Set/],
    ["hset", ["ag:h", new Int8Array([1, 2])], /not Int8Array/],
    ["hset", ["ag:h", null], /not null/],
    ["mset", [{ a: "1" }, "b"], /either as one object or as arguments/],
  ];
  for (const [method, args, message] of bad) {
    assert.throws(() => loose(r, method, ...args), (e: unknown) => {
      assert.ok(e instanceof TypeError, `${method} ${String(args)}: ${e}`);
      assert.match(e.message, message);
      return true;
    });
  }
  // No array index ever became a key or a field.
  assert.equal(r.exists("ag:0", "ag:1", "0", "1"), 0);
  assert.deepEqual(r.hgetall("ag:h"), { f: "v", g: "w" });
});

test("a lone surrogate is refused with a TypeError naming the argument; a surrogate pair is sent", async () => {
  r.del("ag:\ud83d\ude00");
  for (
    const [args, message] of [
      [["ag:\ud800", "v"], /argument 1 of SET has a lone surrogate \(U\+D800 at index 3\)/],
      [["ag:k", "a\udc00b"], /argument 2 of SET has a lone surrogate \(U\+DC00 at index 1\)/],
      [["ag:k", "x".repeat(100) + "\udbff"], /argument 2 of SET .*U\+DBFF at index 100/],
    ] as const
  ) {
    assert.throws(() => r.set(args[0], args[1]), (e: unknown) => e instanceof TypeError && message.test(e.message));
    await assert.rejects(pool.set(args[0], args[1]), TypeError);
  }
  assert.throws(() => r.send("GET\udfff"), /the command name has a lone surrogate/);
  assert.equal(r.exists("ag:\ufffd", "ag:k"), 0);
  assert.equal(r.set("ag:\ud83d\ude00", "\ud83d\ude00"), "OK");
  assert.equal(r.get("ag:\ud83d\ude00"), "😀");
});

test("CLIENT REPLY given as bytes is refused like its string form", async () => {
  const reply = new TextEncoder().encode("reply"), upper = new TextEncoder().encode("REPLY");
  for (const sub of ["reply", reply, upper]) {
    assert.throws(() => r.send("client", sub, "off"), CpipeError);
    assert.throws(() => r.sendBuffer("CLIENT", sub, "SKIP"), CpipeError);
    assert.throws(() => r.pipeline().addCommand("client", sub, "off"), CpipeError);
    await assert.rejects(pool.send("client", sub, "off"), CpipeError);
    assert.throws(() => pool.pipeline().addCommand("CLIENT", sub, "OFF"), CpipeError);
  }
  // The connection still answers in step.
  assert.equal(r.ping("after"), "after");
  assert.equal(await pool.ping("after"), "after");
  // Other CLIENT subcommands as bytes still run.
  assert.equal(typeof r.send("CLIENT", new TextEncoder().encode("ID")), "number");
});

test("a one-argument method given no usable argument is refused with a TypeError on every path, nothing sent", async () => {
  // The pool sends these without an array of their argument (PoolCore.callOne); a missing argument must not
  // become an empty key on the way.
  await using prefixed = connectPool({ host: server.host, port: server.port, size: 1, keyPrefix: "ag:" });
  const methods = ["get", "getBuffer", "ttl", "incr", "decr", "hgetall", "hlen", "llen", "smembers", "scard"];
  for (const method of methods) {
    for (const bad of [undefined, null, {}, [], true]) {
      assert.throws(() => loose(r, method, bad), TypeError, `client.${method}(${String(bad)})`);
      for (const target of [pool, prefixed]) {
        await assert.rejects(
          loose(target, method, bad) as Promise<unknown>,
          (e: Error) => e instanceof TypeError && new RegExp(`argument 1 of [A-Z]+ `).test(e.message),
          `pool.${method}(${String(bad)})`,
        );
      }
    }
  }
  assert.equal(r.send("DBSIZE"), r.send("DBSIZE")); // the connection still answers in order
  assert.equal(await pool.get(""), null);
});
