/** Checks shared by every way of sending a command by name. */
import { CpipeError } from "./errors.ts";

/**
 * Commands after which the server answers with more (or fewer) replies than
 * commands sent; a request/reply client would hand them to the wrong caller.
 */
const STREAM_CHANGING = new Set(["SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "MONITOR", "SYNC", "PSYNC"]);

/** Names already checked and found harmless: a program uses few, and checks them often. */
const harmless = new Set<string>();

export function checkCommand(command: string, next?: unknown): void {
  if (harmless.has(command)) return;
  if (typeof command !== "string" || command.length === 0) {
    throw new TypeError(`cpipe: the command name must be a non-empty string, not ${typeof command}`);
  }
  const upper = command.toUpperCase();
  if (STREAM_CHANGING.has(upper)) {
    throw new CpipeError(`cpipe: ${upper} changes how the server replies and is not supported on this client`);
  }
  if (upper === "CLIENT") {
    if (typeof next === "string" && /^reply$/i.test(next)) {
      throw new CpipeError("cpipe: CLIENT REPLY changes how the server replies and is not supported on this client");
    }
    return; // depends on the subcommand: never cached
  }
  if (harmless.size < 1024) harmless.add(command);
}
