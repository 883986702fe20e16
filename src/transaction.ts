/**
 * The end of a transaction begun by `multi()`: every pipeline's `exec()` queues EXEC, runs the pipeline, and
 * returns what EXEC answered — the results of the commands queued since MULTI (errors in place, as in any
 * pipeline), or null when a WATCHed key changed — rather than the "OK" and "QUEUED" before it, as ioredis and
 * node-redis users expect of `multi().….exec()`.
 */
import { ReplyError } from "./errors.ts";
import type { Reply } from "./types.ts";

/**
 * Refuses `exec()` on a pipeline with no MULTI open: EXEC alone would fail on the server after the other
 * commands ran, and their replies would be lost.
 */
export function notInTransaction(): TypeError {
  return new TypeError('cpipe: exec() ends a transaction begun with multi() (or addCommand("MULTI")); use execute()');
}

/**
 * EXEC's reply, the last of a transaction pipeline's. EXECABORT (the server refused a command as it was queued,
 * so none ran) is thrown, naming the first refusal, which is also its `cause`.
 */
export function execReply(replies: Reply[]): Reply[] | null {
  const last = replies.length - 1, exec = replies[last];
  if (!(exec instanceof ReplyError)) return exec as Reply[] | null;
  // Back to MULTI's "OK": each command after it answered "QUEUED" or its refusal.
  let refused: ReplyError | null = null;
  for (let i = last - 1; i >= 0 && replies[i] !== "OK"; i--) {
    const reply = replies[i];
    if (reply instanceof ReplyError) refused = reply;
  }
  throw refused === null ? exec : new ReplyError(`${exec.message} (${refused.message})`, { cause: refused });
}
