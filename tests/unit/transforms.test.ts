/** Shaping a pipeline's replies (ReplyPlan + applyTransforms), MULTI … EXEC included; no server. */
import assert from "node:assert/strict";
import { test } from "../harness/shim.ts";
import { applyTransforms, ReplyPlan, type Transform } from "../../src/replies.ts";
import { ReplyError } from "../../src/errors.ts";
import type { Reply } from "../../src/types.ts";

const double: Transform<number> = (r) => (r as number) * 2;
const upper: Transform<string> = (r) => (r as string).toUpperCase();

/** Plans the commands ([name, transform, asBuffer, byName]) and shapes the replies. */
function shape(commands: [string, Transform<unknown> | null, boolean?][], replies: Reply[]): Reply[] {
  const plan = new ReplyPlan();
  for (const [name, transform, asBuffer] of commands) plan.add(name, transform, asBuffer ?? false, transform === null);
  return applyTransforms(replies, plan.transforms);
}

test("outside MULTI every reply goes through its transform; errors stay in place", () => {
  const err = new ReplyError("WRONGTYPE x");
  assert.deepEqual(shape([["INCR", double], ["GET", upper], ["INCR", double]], [1, "a", err]), [2, "A", err]);
});

test("inside MULTI: QUEUED stays, EXEC's elements are shaped in order, refused commands skipped", () => {
  const refused = new ReplyError("ERR wrong number of arguments");
  const failed = new ReplyError("WRONGTYPE x");
  const replies = shape(
    [["MULTI", null], ["INCR", double], ["SET", null], ["GET", upper], ["INCR", double], ["EXEC", null], [
      "INCR",
      double,
    ]],
    ["OK", "QUEUED", refused, "QUEUED", "QUEUED", [1, "a", failed], 5],
  );
  assert.deepEqual(replies, ["OK", "QUEUED", refused, "QUEUED", "QUEUED", [2, "A", failed], 10]);
});

test("EXEC that did not run (null, EXECABORT), a length mismatch and DISCARD leave replies raw", () => {
  const abort = new ReplyError("EXECABORT Transaction discarded");
  assert.deepEqual(shape([["multi", null], ["INCR", double], ["exec", null]], ["OK", "QUEUED", null]), [
    "OK",
    "QUEUED",
    null,
  ]);
  assert.deepEqual(shape([["MULTI", null], ["INCR", double], ["EXEC", null]], ["OK", "QUEUED", abort])[2], abort);
  assert.deepEqual(shape([["MULTI", null], ["INCR", double], ["EXEC", null]], ["OK", "QUEUED", [1, 2]])[2], [1, 2]);
  assert.deepEqual(
    shape([["MULTI", null], ["INCR", double], ["DISCARD", null], ["INCR", double]], ["OK", "QUEUED", "OK", 3]),
    ["OK", "QUEUED", "OK", 6],
  );
  // EXEC with no MULTI before it in the pipeline: raw.
  assert.deepEqual(shape([["EXEC", null], ["INCR", double]], [[1], 1]), [[1], 2]);
  // A nested MULTI is refused by the server and does not end the transaction.
  const nested = new ReplyError("ERR MULTI calls can not be nested");
  assert.deepEqual(
    shape([["MULTI", null], ["INCR", double], ["MULTI", null], ["INCR", double], ["EXEC", null]], [
      "OK",
      "QUEUED",
      nested,
      "QUEUED",
      [1, 2],
    ])[4],
    [2, 4],
  );
});

test("a command wanting bytes inside MULTI makes EXEC decode as bytes; the others get their text back", () => {
  const plan = new ReplyPlan();
  plan.add("MULTI", null, false, true);
  plan.add("GET", null, true, false); // getBuffer
  plan.add("GET", upper, false, false);
  plan.add("HGETALL", null, false, true);
  plan.add("EXEC", null, false, true);
  assert.deepEqual(plan.asBuffer, [false, true, false, false, true]);
  const bytes = new Uint8Array([0xff, 0]), utf8 = new TextEncoder();
  const replies = applyTransforms(
    ["OK", "QUEUED", "QUEUED", "QUEUED", [bytes, utf8.encode("é"), [utf8.encode("f"), utf8.encode("v")]]],
    plan.transforms,
  );
  assert.deepEqual(replies[4], [bytes, "É", ["f", "v"]]);
  plan.reset();
  assert.equal(plan.length, 0);
});
