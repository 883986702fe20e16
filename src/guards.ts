/** Checks shared by every way of sending a command by name. */
import { CpipeError } from "./errors.ts";

/**
 * Commands after which the server answers with more (or fewer) replies than
 * commands sent, or that answer once per channel: sent by name they would
 * shift replies. Pub/Sub's own methods (subscribe, psubscribe, ssubscribe…)
 * send the subscription commands with their reply counts (csrc/cpipe.h: calls).
 */
const STREAM_CHANGING = new Set([
  "SUBSCRIBE",
  "PSUBSCRIBE",
  "SSUBSCRIBE",
  "UNSUBSCRIBE",
  "PUNSUBSCRIBE",
  "SUNSUBSCRIBE",
  "MONITOR",
  "SYNC",
  "PSYNC",
]);

/**
 * An argument as upper-case text when it is short enough to be a keyword,
 * given as a string or as bytes (a subcommand passed as a Uint8Array must be
 * recognised as surely as its string form); "" otherwise.
 */
export function keyword(value: unknown): string {
  if (typeof value === "string") return value.length <= 32 ? value.toUpperCase() : "";
  if (!(value instanceof Uint8Array) || value.length > 32) return "";
  let text = "";
  for (let i = 0; i < value.length; i++) text += String.fromCharCode(value[i]!);
  return text.toUpperCase();
}

/** Names already checked and found harmless: a program uses few, and checks them often. */
const harmless = new Set<string>();

export function checkCommand(command: string, next?: unknown): void {
  if (harmless.has(command)) return;
  if (typeof command !== "string" || command.length === 0) {
    throw new TypeError(`cpipe: the command name must be a non-empty string, not ${typeof command}`);
  }
  const upper = command.toUpperCase();
  if (STREAM_CHANGING.has(upper)) {
    const instead = upper.endsWith("SUBSCRIBE") ? `: use the ${upper.toLowerCase()}() method` : " on this client";
    throw new CpipeError(`cpipe: ${upper} changes how the server replies and is not supported${instead}`);
  }
  if (upper === "CLIENT") {
    if (keyword(next) === "REPLY") {
      throw new CpipeError("cpipe: CLIENT REPLY changes how the server replies and is not supported on this client");
    }
    return; // depends on the subcommand: never cached
  }
  if (harmless.size < 1024) harmless.add(command);
}
