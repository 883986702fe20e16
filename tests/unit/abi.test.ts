/**
 * The TypeScript side's copies of the core's constants (ffi/abi.ts) against
 * their source, csrc/cpipe.h: a value changed on one side only fails here.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "../harness/shim.ts";
import {
  ABI_VERSION,
  Call,
  Event,
  Header,
  MAX_POOL_CONNECTIONS,
  Record,
  Role,
  Setting,
  Status,
} from "../../ffi/abi.ts";

const header = readFileSync(new URL("../../csrc/cpipe.h", import.meta.url), "utf8");
const defined = new Map<string, number>();
for (const m of header.matchAll(/^#define (CPIPE_[A-Z0-9_]+) \(?(-?(?:0x)?[0-9a-fA-F]+)\)?/gm)) {
  defined.set(m[1]!, Number(m[2]));
}

/** Every C name a TypeScript constant stands for. */
const expected: [string, number][] = [
  ["CPIPE_ABI_VERSION", ABI_VERSION],
  ...Object.entries(Status).map(([k, v]): [string, number] => [`CPIPE_${k}`, v]),
  ...Object.entries(Setting).map((
    [k, v],
  ): [string, number] => [k === "SETTINGS_VERSION" ? `CPIPE_${k}` : `CPIPE_SET_${k}`, v]),
  ...Object.entries(Call).map(([k, v]): [string, number] => [`CPIPE_CALL_${k}`, v]),
  ["CPIPE_RECORD_REPLY", Record.REPLY],
  ["CPIPE_RECORD_FAILURE", Record.FAILURE],
  ["CPIPE_RECORD_PUSH", Record.PUSH],
  ["CPIPE_RECORD_EVENT", Record.EVENT],
  ["CPIPE_RECORD_PARTIAL", Record.PARTIAL],
  ["CPIPE_RECORD_UNSENT", Record.UNSENT],
  ["CPIPE_RECORD_HEAD", Record.HEAD],
  ...Object.entries(Event).map(([k, v]): [string, number] => [`CPIPE_EVENT_${k}`, v]),
  ...Object.entries(Role).map(([k, v]): [string, number] => [`CPIPE_ROLE_${k}`, v]),
  ["CPIPE_FLAG_UNSENT", Header.FLAG_UNSENT],
  ["CPIPE_FLAG_MORE", Header.FLAG_MORE],
  ["CPIPE_HEADER_SIZE", Header.SIZE],
  ["CPIPE_MAX_POOL_CONNECTIONS", MAX_POOL_CONNECTIONS],
];

test("every constant in ffi/abi.ts is the value csrc/cpipe.h defines", () => {
  for (const [name, value] of expected) assert.equal(defined.get(name), value, name);
});

test("every status, setting, record, event and role cpipe.h defines has its TypeScript twin", () => {
  const mirrored = new Set(expected.map(([name]) => name));
  const families = /^CPIPE_(OK|ERR_|SET_|RECORD_|EVENT_|ROLE_|CALL_|FLAG_)/;
  const missing = [...defined.keys()].filter((name) => families.test(name) && !mirrored.has(name));
  assert.deepEqual(missing, []);
});

test("ffi/ imports nothing from src/: the layers point one way", () => {
  const dir = new URL("../../ffi/", import.meta.url);
  for (const file of ["abi.ts", "error.ts", "load.ts", "runtime.ts", "symbols.ts", "embedded.ts", "bun.ts"]) {
    const text = readFileSync(new URL(file, dir), "utf8");
    assert.doesNotMatch(text, /from\s+["']\.\.\/src\//, file);
  }
});
