/** Replies of a pipeline's early blocks kept encoded, decoded at execute(): encodings built by hand; no server. */
import assert from "node:assert/strict";
import { test } from "../harness/shim.ts";
import { KeptReplies } from "../../src/kept_replies.ts";
import { ProtocolError, ReplyError } from "../../src/errors.ts";
import { mayHoldBulk } from "../../src/decoder.ts";

/** A bulk string reply as the core encodes it: '$', u32 length, bytes; with `before` bytes of other data first. */
function bulk(bytes: number[], before = 0): { src: Uint8Array; start: number; end: number } {
  const n = bytes.length;
  const encoded = [0x24, n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24, ...bytes];
  return {
    src: new Uint8Array([...new Array(before).fill(7), ...encoded]),
    start: before,
    end: before + encoded.length,
  };
}

test("KeptReplies: kept and decoded replies come back in place, bulk strings as text or bytes as asked", () => {
  const invalid = [0xff, 0xfe, 0x41];
  const kept = new KeptReplies(4);
  const a = bulk([0x68, 0x69], 3), b = bulk(invalid), c = bulk(new Array(100).fill(0x7a), 1);
  kept.keep(0, a.src, a.start, a.end);
  kept.set(1, 42);
  kept.keep(2, b.src, b.start, b.end);
  kept.keep(3, c.src, c.start, c.end);
  const asText: unknown[] = new Array(6).fill("other");
  kept.decodeInto(asText as never, null, 2, [], false);
  assert.deepEqual(asText.slice(0, 3), ["other", "other", "hi"]);
  assert.equal(asText[3], 42);
  assert.equal(asText[5], "z".repeat(100));
  const asBytes: unknown[] = [];
  kept.decodeInto(asBytes as never, [9, 7, 5, 3], 0, [], true);
  assert.deepEqual(asBytes[9], new Uint8Array([0x68, 0x69]));
  assert.equal(asBytes[7], 42);
  assert.deepEqual(asBytes[5], new Uint8Array(invalid)); // not through text: the bytes as they were
  const some: unknown[] = [];
  kept.decodeInto(some as never, null, 0, [false, false, true, false], false);
  assert.deepEqual([some[0], some[2]], ["hi", new Uint8Array(invalid)]);
});

test("KeptReplies: an error reply stays in place; undecodable data is a ProtocolError in its place only", () => {
  const kept = new KeptReplies(3);
  kept.set(0, new ReplyError("WRONGTYPE no"));
  const ok = bulk([0x6f, 0x6b]);
  kept.keep(1, ok.src, ok.start, ok.end);
  const cut = bulk([1, 2, 3]);
  kept.keep(2, cut.src, cut.start, cut.end - 2); // its length says 3 bytes, 1 is there
  const out: unknown[] = [];
  kept.decodeInto(out as never, null, 0, [], false);
  assert.ok(out[0] instanceof ReplyError);
  assert.equal(out[1], "ok");
  assert.ok(out[2] instanceof ProtocolError, String(out[2]));
});

test("mayHoldBulk: bulk, verbatim and aggregates wait for text-or-bytes; integers, statuses and errors do not", () => {
  for (const tag of "$=*%~|>") assert.ok(mayHoldBulk(tag.charCodeAt(0)), tag);
  for (const tag of ":+-_,#(L") assert.ok(!mayHoldBulk(tag.charCodeAt(0)), tag);
});
