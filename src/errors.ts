import { CpipeError } from "../ffi/error.ts";

export { CpipeError };

/**
 * The server answered a command with an error reply. `code` is its first word
 * (`ERR`, `WRONGTYPE`, `MOVED`, `NOAUTH`…). The client stays usable.
 *
 * @example
 * ```ts
 * try { r.send("INCR", "not-a-number-key"); } catch (e) { if (e instanceof ReplyError) console.log(e.code); }
 * ```
 */
export class ReplyError extends CpipeError {
  /** Always `"ReplyError"`. */
  override name = "ReplyError";
  /** The first word of the server's message, e.g. `WRONGTYPE`. */
  readonly code: string;
  /** Wraps the server's error message; `code` is taken from its first word. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    const space = message.indexOf(" ");
    this.code = space > 0 ? message.slice(0, space) : message;
  }
}

/**
 * The server could not be reached, or the connection broke. A command that failed so may have run, unless
 * `unsent` says it never left.
 */
export class ConnectionError extends CpipeError {
  /** Always `"ConnectionError"`. */
  override name = "ConnectionError";
  /**
   * True when the command never reached the server (its connection could not be made): it did not run, and
   * sending it again is safe. False when it may have run.
   */
  readonly unsent: boolean;
  /** `unsent`: see the field; false when not given. */
  constructor(message: string, options?: ErrorOptions & { unsent?: boolean }) {
    super(message, options);
    this.unsent = options?.unsent ?? false;
  }
}

/** The server sent bytes that are not the Redis protocol; the connection was dropped. */
export class ProtocolError extends ConnectionError {
  /** Always `"ProtocolError"`. */
  override name = "ProtocolError";
}

/** No reply came within the command timeout; the connection was dropped. */
export class TimeoutError extends CpipeError {
  /** Always `"TimeoutError"`. */
  override name = "TimeoutError";
}

/** The client or pool was closed. */
export class ClosedError extends CpipeError {
  /** Always `"ClosedError"`. */
  override name = "ClosedError";
}
