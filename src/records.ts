/**
 * Reads the records the core writes (layout in csrc/cpipe.h): replies to
 * calls, failures, pushes and connection events, each decoded here and
 * nowhere else.
 */
import { Event, Header, Record } from "../ffi/abi.ts";
import { ReplyError } from "./errors.ts";

const fromUtf8 = new TextDecoder();

/** A connection's change of state, as the core reported it. */
export interface ConnectionEvent {
  /** `"up"` (connected, handshake replayed), `"down"` (broke or could not connect), `"released"` (internal). */
  type: "up" | "down" | "released";
  /** The index of the connection in its pool (0 for a client). */
  connection: number;
  /** For `"down"`: the core's status code; 0 otherwise. */
  status: number;
  /** For `"up"`: failed attempts before this success; for `"down"`: failures in a row, this one included. */
  attempt: number;
  /** For `"down"`: milliseconds until the next attempt (0: none planned). */
  delay: number;
  /** For `"down"`: why. */
  message: string;
  /** The server's error reply when it refused the handshake (AUTH, HELLO, SELECT…). */
  serverError?: ReplyError;
}

const EVENT_TYPES: Record<number, ConnectionEvent["type"]> = {
  [Event.UP]: "up",
  [Event.DOWN]: "down",
  [Event.RELEASED]: "released",
};

/** A cursor over the records of one output buffer. */
export class RecordReader {
  bytes: Uint8Array = new Uint8Array(Header.SIZE);
  #view = new DataView(this.bytes.buffer);
  #left = 0;
  #next = 0;
  /** The current record's kind (`Record.*`), flags, connection, id; its payload is bytes[start, end). */
  kind = 0;
  flags = 0;
  connection = 0;
  id = 0;
  start = 0;
  end = 0;
  /**
   * Applied to every text the server or the core wrote, before anyone sees
   * it: the core already hides handshake secrets, and this hides them again
   * in every form the owner knows (percent-encoded, cut short…).
   */
  redact: (text: string) => string = (text) => text;

  /** Points at a buffer the core just filled; `next()` then steps through its records. */
  attach(bytes: Uint8Array): void {
    if (bytes !== this.bytes) {
      this.bytes = bytes;
      this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }
    this.#left = this.#view.getUint32(0, true);
    this.#next = Header.SIZE;
  }

  /** The header's fields: records, bytes used, flags, and the size of a record that did not fit. */
  header(field: 0 | 1 | 2 | 3): number {
    return this.#view.getUint32(field * 4, true);
  }

  /** Moves to the next record; false when there is none. */
  next(): boolean {
    if (this.#left === 0) return false;
    this.#left--;
    const view = this.#view, at = this.#next;
    this.kind = this.bytes[at]!;
    this.flags = this.bytes[at + 1]!;
    this.connection = view.getUint16(at + 2, true);
    this.id = view.getUint32(at + 4, true);
    this.start = at + Record.HEAD;
    this.end = this.start + view.getUint32(at + 8, true);
    this.#next = this.end;
    return true;
  }

  /** A reply record that more replies of the same call follow. */
  get partial(): boolean {
    return (this.flags & Record.PARTIAL) !== 0;
  }

  /** A failure record whose call never reached the server (its connection could not be made). */
  get unsent(): boolean {
    return (this.flags & Record.UNSENT) !== 0;
  }

  /** A failure record's status code. */
  get status(): number {
    return this.#view.getInt32(this.start, true);
  }

  /** A failure record's message. */
  get message(): string {
    return this.#text(this.start + 4);
  }

  /** The text at `at` (u32 length, then UTF-8), redacted: a failure's or an event's message, a server's error. */
  #text(at: number): string {
    const length = this.#view.getUint32(at, true);
    return this.redact(fromUtf8.decode(this.bytes.subarray(at + 4, at + 4 + length)));
  }

  /**
   * A failure record's command, packed as the encoder packs it, when the call never left and was flagged
   * `Call.RESEND`; null otherwise. A copy: the buffer is filled again by the next drain.
   */
  get command(): Uint8Array | null {
    const at = this.start + 8 + this.#view.getUint32(this.start + 4, true);
    return at < this.end ? this.bytes.slice(at, this.end) : null;
  }

  /** An event record. */
  event(): ConnectionEvent {
    const view = this.#view, at = this.start;
    const length = view.getUint32(at + 16, true);
    const event: ConnectionEvent = {
      type: EVENT_TYPES[this.bytes[at]!] ?? "down",
      connection: this.connection,
      status: view.getInt32(at + 4, true),
      attempt: view.getUint32(at + 8, true),
      delay: view.getUint32(at + 12, true),
      message: this.#text(at + 16),
    };
    const reply = at + 20 + length;
    if (reply + 5 <= this.end && this.bytes[reply] === 0x2d) event.serverError = new ReplyError(this.#text(reply + 1));
    return event;
  }
}
