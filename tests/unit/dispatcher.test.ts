/** The dispatcher's calls by id, settled and failed by hand; no server. */
import assert from "node:assert/strict";
import { test } from "../harness/shim.ts";
import { Dispatcher } from "../../src/dispatcher.ts";
import { ConnectionError } from "../../src/errors.ts";

test("dispatcher: what a router notes for a call is dropped when the call is done, replied or failed", async () => {
  const dispatcher = new Dispatcher();
  const ids: number[] = [];
  const single = dispatcher.call(null, false, ids, 0);
  const failed = dispatcher.call(null, false, ids, 1);
  const pipeline = dispatcher.group([null, null], [false, false], ids);
  for (const id of ids) dispatcher.notes[id] = { command: "set", args: ["k", "v"], slot: 0 };
  const [first, second, member, other] = ids as [number, number, number, number];

  dispatcher.settle(first, "OK");
  assert.equal(await single, "OK");
  assert.equal(dispatcher.notes[first], undefined);
  assert.notEqual(dispatcher.notes[second], undefined, "a pending call keeps its note");

  dispatcher.fail(second, new ConnectionError("cpipe: gone"));
  await assert.rejects(failed, ConnectionError);
  assert.equal(dispatcher.notes[second], undefined);

  dispatcher.settle(member, 1);
  assert.equal(dispatcher.notes[member], undefined);
  assert.notEqual(dispatcher.notes[other], undefined, "the pipeline's other call is still pending");
  dispatcher.settle(other, 2);
  assert.deepEqual(await pipeline, [1, 2]);
  assert.equal(dispatcher.notes[other], undefined);
});
