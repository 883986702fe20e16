/** The loader's naming of platforms and files, and its agreement with the Makefile's cross targets. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "../harness/shim.ts";
import { assertSupported, hostTarget, libraryFile, SUPPORTED_TARGETS } from "../../ffi/load.ts";
import { CpipeError } from "../../mod.ts";
import { ROOT } from "./tools.ts";

test("platforms map to zig's target names and the platform's library names", () => {
  assert.equal(hostTarget({ os: "linux", arch: "x86_64", abi: "gnu" }), "x86_64-linux-gnu");
  assert.equal(hostTarget({ os: "linux", arch: "aarch64", abi: "gnu" }), "aarch64-linux-gnu");
  assert.equal(hostTarget({ os: "linux", arch: "x86_64", abi: "musl" }), "x86_64-linux-musl");
  assert.equal(hostTarget({ os: "macos", arch: "aarch64", abi: "gnu" }), "aarch64-macos");
  assert.equal(hostTarget({ os: "windows", arch: "x86_64", abi: "gnu" }), "x86_64-windows-gnu");
  assert.equal(libraryFile("linux"), "libcpipe.so");
  assert.equal(libraryFile("macos"), "libcpipe.dylib");
  assert.equal(libraryFile("windows"), "cpipe.dll");
});

test("an unsupported platform is an error that lists the supported ones", () => {
  assert.doesNotThrow(() => assertSupported("x86_64-linux-gnu"));
  assert.throws(() => assertSupported(hostTarget({ os: "freebsd", arch: "x86_64", abi: "gnu" })), (e: unknown) => {
    assert.ok(e instanceof CpipeError);
    assert.equal(
      e.message,
      "cpipe: no native library for x86_64-freebsd; supported: x86_64-linux-gnu, aarch64-linux-gnu, " +
        "x86_64-linux-musl, x86_64-macos, aarch64-macos, x86_64-windows-gnu",
    );
    return true;
  });
});

test("`make cross` builds exactly the targets the loader supports", () => {
  const line = readFileSync(`${ROOT}/Makefile`, "utf8").match(/^CROSS_TARGETS\s*:=\s*(.*)$/m);
  const targets = line?.[1];
  assert.ok(targets, "no CROSS_TARGETS in the Makefile");
  assert.deepEqual(targets.trim().split(/\s+/).sort(), [...SUPPORTED_TARGETS].sort());
});
