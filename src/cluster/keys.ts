/**
 * Which slot a command goes to, from the key positions of the generated
 * key specs (src/key_positions.ts): every key of a command must hash to
 * one slot; a command without keys may run on any node. Not from the whole
 * command table (src/command_info.ts), which importing mod.ts would then load
 * too, for every program, cluster or not.
 */
import { hasSubcommands, keyIsFirstArgument, keyPositions, tableName } from "../key_positions.ts";
import { READ_ONLY } from "../command_lists.ts";
import { CpipeError } from "../errors.ts";
import type { Arg } from "../types.ts";
import { slotOf } from "./slot.ts";

/** `commandSlot` for a command that names no key: any node will do. */
export const ANY_SLOT = -1;

/** Commands whose only key is their first argument whatever the count (GET, SET, HSET…), by spelling. */
const firstKeyOnly = new Map<string, boolean>();

function isFirstKeyOnly(command: string): boolean {
  let known = firstKeyOnly.get(command);
  if (known !== undefined) return known;
  known = keyIsFirstArgument(command);
  if (firstKeyOnly.size < 1024) firstKeyOnly.set(command, known);
  return known;
}

/** The slot of a key, remembered for the last key seen: a hot key (one hash written many times) is hashed once. */
let lastKey: Arg | undefined;
let lastSlot = 0;

function keySlot(key: Arg): number {
  if (key === lastKey) return lastSlot;
  const slot = slotOf(key);
  if (typeof key === "string") {
    lastKey = key;
    lastSlot = slot;
  }
  return slot;
}

/**
 * The slot every key of the command hashes to, `ANY_SLOT` when it has no key (or the table does not know it),
 * and a `CpipeError` that says so when its keys hash to different slots (the server would answer CROSSSLOT).
 * Shard channels (SPUBLISH) count as keys.
 *
 * @example
 * ```ts
 * commandSlot("mset", ["{u1}a", "1", "{u1}b", "2"]); // 5474
 * commandSlot("ping", []); // ANY_SLOT
 * ```
 */
export function commandSlot(command: string, args: readonly Arg[]): number | CpipeError {
  if (args.length > 0 && isFirstKeyOnly(command)) return keySlot(args[0]!);
  const positions = keyPositions(command, args, { notKeys: true });
  if (positions === undefined || positions.length === 0) return ANY_SLOT;
  const slot = keySlot(args[positions[0]!]!);
  for (let i = 1; i < positions.length; i++) {
    const other = keySlot(args[positions[i]!]!);
    if (other !== slot) {
      return new CpipeError(
        `cpipe: ${command.toUpperCase()}'s keys hash to different slots (${slot} and ${other}): in a cluster every key ` +
          "of one command must be in one slot; give related keys a common {hash tag}",
      );
    }
  }
  return slot;
}

/** Whether the table marks a command read-only (a replica may run it under READONLY), by spelling. */
const readOnly = new Map<string, boolean>();
/** `READ_ONLY` as a set, made on first use. */
let readOnlyNames: Set<string> | undefined;

/** Whether a command only reads (`readonly` and not `write` in the specs), so that a replica may serve it. */
export function isReadOnly(command: string, args: readonly Arg[]): boolean {
  let known = readOnly.get(command);
  if (known !== undefined) return known;
  const name = tableName(command, args);
  readOnlyNames ??= new Set(READ_ONLY.split(" "));
  known = name !== undefined && readOnlyNames.has(name);
  // A container's answer depends on its subcommand: not remembered by name.
  if (name !== undefined && !name.includes("|") && !hasSubcommands(name) && readOnly.size < 1024) {
    readOnly.set(command, known);
  }
  return known;
}
