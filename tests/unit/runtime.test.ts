/** `ffi/runtime.ts` declares Deno's namespace by hand; Deno's own types must still fit it. */
import assert from "node:assert/strict";
import { test } from "../harness/shim.ts";
import { deno, type DenoLike, isDeno } from "../../ffi/runtime.ts";

// Checked by `deno check` (this file is type-checked with Deno's declarations):
// were DenoLike to drift from Deno's namespace, this line would not compile.
type DenoFits = typeof Deno extends DenoLike ? true : never;
const fits: DenoFits = true;

test("the runtime accessor sees Deno exactly when Deno runs the test", () => {
  assert.equal(fits, true);
  const underDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";
  assert.equal(isDeno, underDeno);
  assert.equal(deno !== undefined, underDeno);
});
