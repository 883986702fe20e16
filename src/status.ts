/** The typed error each of the core's status codes (`Status` in ffi/abi.ts) becomes. */
import { Status } from "../ffi/abi.ts";
import { ClosedError, ConnectionError, CpipeError, ProtocolError, type ReplyError, TimeoutError } from "./errors.ts";

/**
 * The typed error for a failed status and the core's message (without the
 * `cpipe: ` prefix). `serverError` is the server's own refusal of a
 * handshake command, when that is why: it becomes the error's cause.
 * `unsent`: the call never reached the server (a failure record's flag).
 */
export function errorFromStatus(code: number, message: string, serverError?: ReplyError, unsent = false): CpipeError {
  const text = `cpipe: ${message}`;
  switch (code) {
    case Status.ERR_CLOSED:
      return new ClosedError(text);
    case Status.ERR_CONN:
      return new ConnectionError(text, { unsent });
    case Status.ERR_HANDSHAKE:
      return new ConnectionError(text, serverError === undefined ? { unsent } : { cause: serverError, unsent });
    case Status.ERR_TIMEOUT:
      return new TimeoutError(text);
    case Status.ERR_PROTOCOL:
      return new ProtocolError(text);
    case Status.ERR_ARG:
      return new CpipeError(`${text} (a bug in cpipe: please report it)`);
    default:
      return new CpipeError(text);
  }
}
