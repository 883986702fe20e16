/** The command arena's byte layout, argument checking and chunking; no server. */
import assert from "node:assert/strict";
import { test } from "../harness/shim.ts";
import { CHUNK_SIZE, CommandEncoder } from "../../src/encoder.ts";
import { native } from "../../ffi/load.ts";

/** Reads the arena back as commands of byte arrays. */
function unpack(e: CommandEncoder): Uint8Array[][] {
  const view = new DataView(e.bytes.buffer, 0, e.length);
  const commands: Uint8Array[][] = [];
  let pos = 0;
  while (pos < e.length) {
    const argc = view.getUint32(pos, true);
    pos += 4;
    const args: Uint8Array[] = [];
    for (let i = 0; i < argc; i++) {
      const len = view.getUint32(pos, true);
      args.push(e.bytes.slice(pos + 4, pos + 4 + len));
      pos += 4 + len;
    }
    commands.push(args);
  }
  return commands;
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** `xs[i]`, failing the test when there is none. */
function at<T>(xs: readonly T[], i: number): T {
  const x = xs[i];
  assert.ok(x !== undefined, `no element ${i} in ${xs.length}`);
  return x;
}

test("encodes strings, numbers, bigints and bytes as length-prefixed arguments", () => {
  const e = new CommandEncoder();
  e.add("HSET", ["words", "word|1", 1, -2.5, 12345678901234567890n, new Uint8Array([0, 13, 10, 255])]);
  const args = at(unpack(e), 0);
  assert.deepEqual(args.slice(0, 6).map(text), ["HSET", "words", "word|1", "1", "-2.5", "12345678901234567890"]);
  assert.deepEqual([...at(args, 6)], [0, 13, 10, 255]);
  assert.equal(e.count, 1);
  assert.equal(native.cpipe_commands_count(e.bytes, e.length), 1);
});

test("encodes unicode as UTF-8, short and long", () => {
  const e = new CommandEncoder();
  const long = "ü€😀".repeat(100);
  e.add("SET", ["κλειδί", long, "", "ascii then ü"]);
  const args = at(unpack(e), 0);
  assert.deepEqual(args.map(text), ["SET", "κλειδί", long, "", "ascii then ü"]);
  assert.equal(at(args, 2).length, 100 * (2 + 3 + 4));
});

test("encodes infinities as Redis spells them", () => {
  const e = new CommandEncoder();
  e.add("ZADD", ["z", Infinity, "a", -Infinity, "b"]);
  assert.deepEqual(at(unpack(e), 0).map(text), ["ZADD", "z", "inf", "a", "-inf", "b"]);
});

test("a bad argument is a TypeError and leaves the arena as it was", () => {
  const e = new CommandEncoder();
  e.add("PING", []);
  const before = e.length;
  for (const bad of [undefined, null, true, {}, [], Symbol("x"), () => 1, NaN, new Uint16Array(2)]) {
    assert.throws(() => e.add("SET", ["k", bad as never]), TypeError);
    assert.equal(e.length, before);
    assert.equal(e.count, 1);
  }
  assert.throws(() => e.add("SET", ["k", undefined as never]), /argument 2 of SET .* not undefined/);
});

test("addOne packs what add packs for one argument, and refuses what add refuses, appending nothing", () => {
  const one = new CommandEncoder(), many = new CommandEncoder();
  for (const arg of ["word|1", "", "é😀", "x".repeat(100), 7, -0.5, 2n ** 70n, new Uint8Array([0, 13, 10, 255])]) {
    one.addOne("GET", arg);
    many.add("GET", [arg]);
  }
  assert.deepEqual(one.bytes.subarray(0, one.length), many.bytes.subarray(0, many.length));
  assert.equal(one.count, many.count);
  const before = one.length;
  for (const bad of [undefined, null, true, {}, [], NaN, "\ud800"]) {
    assert.throws(() => one.addOne("GET", bad as never), TypeError);
    assert.equal(one.length, before);
    assert.equal(one.count, 8);
  }
  assert.throws(() => one.addOne("GET", undefined as never), /argument 1 of GET .* not undefined/);
});

test("long queues are split into chunks at command boundaries", () => {
  const e = new CommandEncoder();
  const n = 100_000;
  for (let i = 0; i < n; i++) e.add("HSET", ["words", `word|${i}`, "1"]);
  assert.ok(e.chunks > 1);
  let total = 0;
  for (let i = 0; i < e.chunks; i++) {
    const chunk = e.chunk(i);
    assert.ok(chunk.length <= CHUNK_SIZE + 64);
    total += native.cpipe_commands_count(chunk, chunk.length);
  }
  assert.equal(total, n);
  e.reset();
  assert.equal(e.length, 0);
  assert.equal(e.chunks, 1);
});

test("the native check refuses malformed arenas", () => {
  const e = new CommandEncoder();
  e.add("GET", ["k"]);
  assert.equal(native.cpipe_commands_count(e.bytes, e.length - 1), -1);
  assert.equal(native.cpipe_commands_count(e.bytes, e.length + 3), -1);
  assert.equal(native.cpipe_commands_count(new Uint8Array([0, 0, 0, 0]), 4), -1);
});

test("a lone surrogate is a TypeError naming the argument; nothing is appended; pairs still encode", () => {
  const e = new CommandEncoder();
  e.add("SET", ["k", "v"]);
  const before = e.length;
  for (
    const [args, message] of [
      [["\ud800"], /argument 1 of SET has a lone surrogate \(U\+D800 at index 0\)/],
      [["k", "ok", "x\udfff"], /argument 3 of SET .*U\+DFFF at index 1/],
      [["k", "é".repeat(80) + "\udc00"], /argument 2 of SET .*U\+DC00 at index 80/],
      [["k", "\udc00\ud800"], /U\+DC00 at index 0/],
    ] as const
  ) {
    assert.throws(
      () => e.add("SET", [...args]),
      (err: unknown) => err instanceof TypeError && message.test(err.message),
    );
    assert.equal(e.length, before);
    assert.equal(e.count, 1);
  }
  assert.throws(() => e.add("GET\ud800", []), /the command name has a lone surrogate/);
  e.add("SET", ["\ud83d\ude00", "a\u00e9\ud83d\ude00".repeat(30)]);
  const [, [, key = new Uint8Array(), value = new Uint8Array()] = []] = unpack(e);
  assert.equal(text(key), "😀");
  assert.equal(text(value), "aé😀".repeat(30));
});
