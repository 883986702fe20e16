/**
 * How a synchronous client rides out a failover: a command whose server cannot be reached (it never left, see
 * `ConnectionError.unsent`) pauses, blocking the thread as every call of such a client does, and is tried again
 * where the topology says to send it now, until `offlineTimeout` has passed since its first failure.
 */
import { ConnectionError } from "./errors.ts";

/** The longest pause between two attempts, in milliseconds: a promoted replica is found soon after it takes over. */
const MAX_PAUSE = 500;

/**
 * The error of a command that waited `offlineTimeout` (`limit` ms) in vain: `what` did not happen (e.g. "no node
 * took slot 12") and `why` (the last failure's message). It never left, so it is `unsent`.
 */
export function offlineTimeoutError(what: string, limit: number, why: string, cause?: unknown): ConnectionError {
  const message = `cpipe: ${what} within offlineTimeout (${limit} ms): ${why.replace(/^cpipe: /, "")}`;
  return new ConnectionError(message, cause === undefined ? { unsent: true } : { cause, unsent: true });
}

/** Blocks the thread for `ms` (a synchronous client's pause before a retry). */
export function sleepSync(ms: number): void {
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** One command's wait: made when it is issued, asked to `pause` after each failure it may be sent again after. */
export class OfflineWait {
  #since = 0;
  #pauses = 0;

  /** `limit`: `offlineTimeout` (0: no limit); `firstPause`: doubled after each pause, up to 500 ms. */
  constructor(readonly limit: number, readonly firstPause: number) {}

  /** Pauses taken so far. */
  get pauses(): number {
    return this.#pauses;
  }

  /**
   * Pauses before the next attempt; throws a `ConnectionError` saying `what` did not happen (e.g. "no node took
   * slot 12") once the limit has passed since the first failure, with `failure` as its cause.
   */
  pause(failure: ConnectionError, what: string): void {
    if (this.#pauses === 0) this.#since = Date.now();
    const waited = Date.now() - this.#since;
    if (this.limit > 0 && waited >= this.limit) throw offlineTimeoutError(what, this.limit, failure.message, failure);
    const pause = Math.min(MAX_PAUSE, this.firstPause * 2 ** this.#pauses++);
    sleepSync(this.limit > 0 ? Math.min(pause, this.limit - waited) : pause);
  }
}
