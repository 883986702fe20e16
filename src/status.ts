/** The core's status codes (`CPIPE_ERR_*` in csrc/cpipe.h) and the typed error each becomes. */
import { ClosedError, ConnectionError, CpipeError, ProtocolError, ReplyError, TimeoutError } from "./errors.ts";

export const ERR_ARG = -1;
export const ERR_CLOSED = -2;
export const ERR_CONN = -3;
export const ERR_TIMEOUT = -4;
export const ERR_PROTOCOL = -5;
export const ERR_NOMEM = -6;
export const ERR_HANDSHAKE = -7;
export const ERR_BUSY = -8;

/** The typed error for a failed status and the core's message (without the `cpipe: ` prefix). */
export function errorFromStatus(code: number, message: string): CpipeError {
  const text = `cpipe: ${message}`;
  switch (code) {
    case ERR_CLOSED:
      return new ClosedError(text);
    case ERR_CONN:
      return new ConnectionError(text);
    case ERR_HANDSHAKE: {
      const reply = message.replace(/^.*handshake failed: /, "");
      return new ConnectionError(text, { cause: new ReplyError(reply) });
    }
    case ERR_TIMEOUT:
      return new TimeoutError(text);
    case ERR_PROTOCOL:
      return new ProtocolError(text);
    case ERR_ARG:
      return new CpipeError(`${text} (a bug in cpipe: please report it)`);
    default:
      return new CpipeError(text);
  }
}
