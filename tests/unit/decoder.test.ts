/** Decoding the core's reply format, built by hand; no server. */
import assert from "node:assert/strict";
import { test } from "../harness/shim.ts";
import { HEADER_SIZE, ReplyDecoder } from "../../src/decoder.ts";
import { CpipeError, ProtocolError, ReplyError } from "../../src/errors.ts";

/** Builds an output buffer: header, then the given encoded parts. */
class Out {
  bytes: number[] = new Array(HEADER_SIZE).fill(0);
  tag(t: string): this {
    this.bytes.push(t.charCodeAt(0));
    return this;
  }
  u8(v: number): this {
    this.bytes.push(v);
    return this;
  }
  u32(v: number): this {
    this.bytes.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
    return this;
  }
  f64(v: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, true);
    this.bytes.push(...b);
    return this;
  }
  i64(v: bigint): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigInt64(0, v, true);
    this.bytes.push(...b);
    return this;
  }
  str(t: string, s: string | number[]): this {
    const b = typeof s === "string" ? [...new TextEncoder().encode(s)] : s;
    this.tag(t).u32(b.length);
    this.bytes.push(...b);
    return this;
  }
  decoder(asBuffer = false): ReplyDecoder {
    const d = new ReplyDecoder();
    d.attach(new Uint8Array(this.bytes));
    d.asBuffer = asBuffer;
    return d;
  }
}

test("scalars: status, bulk, nil, integers, doubles, booleans, big numbers, errors", () => {
  const out = new Out()
    .str("+", "OK").str("$", "héllo").tag("_").tag(":").f64(-42).tag("L").i64(-(2n ** 63n))
    .tag(",").f64(3.5).tag("#").u8(1)
    .str("(", "123456789012345678901234567890").str("-", "WRONGTYPE Operation against a key").str("=", "verbatim");
  const dec = out.decoder();
  assert.equal(dec.next(), "OK");
  assert.equal(dec.next(), "héllo");
  assert.equal(dec.next(), null);
  assert.equal(dec.next(), -42);
  assert.equal(dec.next(), -(2n ** 63n));
  assert.equal(dec.next(), 3.5);
  assert.equal(dec.next(), true);
  assert.equal(dec.next(), 123456789012345678901234567890n);
  const err = dec.next();
  assert.ok(err instanceof ReplyError);
  assert.equal(err.code, "WRONGTYPE");
  assert.equal(err.message, "WRONGTYPE Operation against a key");
  assert.equal(dec.next(), "verbatim");
  assert.equal(dec.pos, out.bytes.length);
});

test("bulk strings as bytes keep every byte, invalid UTF-8 included", () => {
  const raw = [0, 13, 10, 0xff, 0xfe, 0xc3];
  const dec = new Out().str("$", raw).str("+", "status stays text").decoder(true);
  assert.deepEqual([...(dec.next() as Uint8Array)], raw);
  assert.equal(dec.next(), "status stays text");
});

test("short and long strings decode the same way", () => {
  for (const s of ["", "a", "x".repeat(32), "x".repeat(33), "ü", "€".repeat(40), "ascii" + "ü"]) {
    assert.equal(new Out().str("$", s).decoder().next(), s);
  }
});

test("every length up to 40, with a non-ASCII character at each place, decodes as TextDecoder does", () => {
  const utf8 = new TextDecoder();
  for (let length = 0; length <= 40; length++) {
    const ascii = Array.from({ length }, (_, i) => String.fromCharCode(0x21 + (i % 90))).join("");
    assert.equal(new Out().str("$", ascii).decoder().next(), ascii);
    for (let at = 0; at < length; at++) {
      for (const odd of ["é", "\u{1f600}"]) {
        const text = ascii.slice(0, at) + odd + ascii.slice(at + 1);
        assert.equal(new Out().str("$", text).decoder().next(), text);
      }
      // A lone byte past ASCII: replaced as TextDecoder replaces it.
      const bytes = new TextEncoder().encode(ascii);
      bytes[at] = 0xff;
      const raw = new Out().tag("$").u32(bytes.length);
      raw.bytes.push(...bytes);
      assert.equal(raw.decoder().next(), utf8.decode(bytes));
    }
  }
});

test("arrays nest, maps become Map, sets and pushes become arrays", () => {
  const out = new Out()
    .tag("*").u32(3).str("$", "a").tag("*").u32(2).tag(":").f64(1).tag("*").u32(0).tag("_")
    .tag("%").u32(4).str("+", "k1").tag(":").f64(1).str("+", "k2").tag("*").u32(1).str("$", "v")
    .tag("~").u32(2).str("$", "m1").str("$", "m2");
  const dec = out.decoder();
  assert.deepEqual(dec.next(), ["a", [1, []], null]);
  assert.deepEqual(dec.next(), new Map<unknown, unknown>([["k1", 1], ["k2", ["v"]]]));
  assert.deepEqual(dec.next(), ["m1", "m2"]);
});

test("an error inside an array stays in its place", () => {
  const dec = new Out().tag("*").u32(2).str("-", "ERR one").str("$", "two").decoder();
  const [first, second] = dec.next() as unknown[];
  assert.ok(first instanceof ReplyError);
  assert.equal(second, "two");
});

test("nesting 100,000 deep decodes without exhausting the call stack", () => {
  const depth = 100_000;
  const out = new Out();
  for (let i = 0; i < depth; i++) out.tag("*").u32(1);
  out.tag(":").f64(7);
  let v = out.decoder().next();
  let levels = 0;
  while (Array.isArray(v)) {
    v = v[0] ?? null;
    levels++;
  }
  assert.equal(levels, depth);
  assert.equal(v, 7);
});

test("malformed data throws ProtocolError (a CpipeError), never a plain Error or SyntaxError", () => {
  const cases: [string, Out, RegExp][] = [
    ["an unknown tag", new Out().tag("?"), /unknown reply tag 63/],
    ["a big number that is only a sign", new Out().str("(", "-"), /big number.*"-"/],
    ["an empty big number", new Out().str("(", ""), /big number/],
    ["a big number with spaces", new Out().str("(", " 12"), /big number/],
    ["a big number with a fraction", new Out().str("(", "1.5"), /big number/],
    ["a bulk string past the end", new Out().tag("$").u32(100).u8(0x61), /runs past the end/],
    ["bytes past the end", new Out().tag("$").u32(100).u8(0x61), /runs past the end/],
    ["a double cut short", new Out().tag(",").u8(0), /runs past the end/],
    ["an array missing elements", new Out().tag("*").u32(3).tag("_"), /ends early/],
    ["a nested array missing elements", new Out().tag("*").u32(1).tag("*").u32(2).tag("_"), /ends early/],
  ];
  for (const [what, out, message] of cases) {
    const asBuffer = what === "bytes past the end";
    assert.throws(() => out.decoder(asBuffer).next(), (e: unknown) => {
      assert.ok(e instanceof ProtocolError && e instanceof CpipeError, `${what}: ${e}`);
      assert.match((e as Error).message, message, what);
      return true;
    });
  }
  // A well-formed big number still decodes.
  assert.equal(new Out().str("(", "-12345678901234567890").decoder().next(), -12345678901234567890n);
});
