/**
 * Decodes the core's encoded replies (layout in `csrc/cpipe.h`) in one pass.
 * Aggregates are built with an explicit stack, so nesting depth is bounded by
 * memory, not by the JavaScript call stack.
 */
import { ProtocolError, ReplyError } from "./errors.ts";
import type { Reply } from "./types.ts";

/** Bytes before the replies in the output buffer: replies, used, flags, need. */
export const HEADER_SIZE = 16;
/** A push (RESP3 out-of-band message) is tagged '>' and answers no command. */
export const PUSH_TAG = 0x3e;

const utf8 = new TextDecoder();

interface Frame {
  tag: number;
  items: Reply[];
  count: number;
}

export class ReplyDecoder {
  bytes: Uint8Array = new Uint8Array(0);
  #view = new DataView(this.bytes.buffer);
  pos = 0;
  /** Bulk strings as `Uint8Array` instead of `string`. */
  asBuffer = false;
  /**
   * Error replies without a stack trace, and one error object for equal error
   * replies of one buffer. Where replies are decoded away from the caller's
   * code (the pool's drain), a stack shows only cpipe's own frames; and making
   * 100,000 errors was nearly all the time a burst of 100,000 WRONGTYPE or
   * READONLY replies froze Deno's event loop (about 5 µs each, and the garbage
   * collector's work after them).
   */
  stackless = false;
  #lastError: ReplyError | null = null;

  /** Points the decoder at a new output buffer, positioned after its header. */
  attach(bytes: Uint8Array): void {
    this.bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = HEADER_SIZE;
    this.#lastError = null;
  }

  header(field: 0 | 1 | 2 | 3): number {
    return this.#view.getUint32(field * 4, true);
  }

  /** Tag of the reply at the current position (undefined past the end). */
  peekTag(): number | undefined {
    return this.bytes[this.pos];
  }

  /**
   * Decodes the reply at the current position and moves past it. Malformed
   * data (an unknown tag, a length past the end, a big number that is not
   * digits) throws `ProtocolError`. Fixed-size reads past the end are
   * caught here rather than checked each (a check per read measured 4 ns
   * more per integer reply in Deno; the try costs nothing); a string's
   * length is checked, as `subarray` would silently clamp it.
   */
  next(): Reply {
    try {
      return this.#next();
    } catch (e) {
      throw e instanceof ProtocolError ? e : this.#past(0, e);
    }
  }

  #next(): Reply {
    // Past the end this reads undefined: the unknown tag is then a ProtocolError.
    const tag = this.bytes[this.pos++]!;
    if (!isAggregate(tag)) return this.#scalar(tag);
    const count = this.#u32();
    if (count === 0) return finish(tag, []);
    // The aggregate being filled, and the ones it is nested in.
    let top: Frame = { tag, items: [], count };
    const parents: Frame[] = [];
    for (;;) {
      if (top.items.length === top.count) {
        const done = finish(top.tag, top.items);
        const parent = parents.pop();
        if (parent === undefined) return done;
        parent.items.push(done);
        top = parent;
        continue;
      }
      const t = this.#tag();
      if (!isAggregate(t)) {
        top.items.push(this.#scalar(t));
        continue;
      }
      const n = this.#u32();
      if (n === 0) top.items.push(finish(t, []));
      else {
        parents.push(top);
        top = { tag: t, items: [], count: n };
      }
    }
  }

  /**
   * Reads a tag byte. Past the end it is undefined, which #scalar reports as
   * an unknown tag; a check here would cost every reply for a core bug.
   */
  #tag(): number {
    return this.bytes[this.pos++]!;
  }

  #u32(): number {
    const v = this.#view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  #scalar(tag: number): Reply {
    switch (tag) {
      case 0x24: // '$' bulk
      case 0x3d: // '=' verbatim
        return this.asBuffer ? this.#bytes() : this.#string();
      case 0x3a: { // ':' integer, exact in an f64
        const v = this.#view.getFloat64(this.pos, true);
        this.pos += 8;
        return v;
      }
      case 0x2b: // '+' status
        return this.#string();
      case 0x5f: // '_' nil
        return null;
      case 0x2d: // '-' error
        return this.stackless ? this.#sharedError(this.#string()) : new ReplyError(this.#string());
      case 0x4c: { // 'L' integer beyond 2^53
        const v = this.#view.getBigInt64(this.pos, true);
        this.pos += 8;
        return v;
      }
      case 0x2c: { // ',' double
        const v = this.#view.getFloat64(this.pos, true);
        this.pos += 8;
        return v;
      }
      case 0x23: // '#' boolean
        return this.#tag() !== 0;
      case 0x28: // '(' big number
        return this.#bigNumber();
      default:
        throw this.#unknownTag(tag);
    }
  }

  #bytes(): Uint8Array {
    const len = this.#u32();
    const start = this.pos;
    if (start + len > this.bytes.length) throw this.#past(len);
    this.pos += len;
    return this.bytes.slice(start, start + len);
  }

  #bigNumber(): bigint {
    const digits = this.#string();
    if (!/^-?[0-9]+$/.test(digits)) {
      throw new ProtocolError(`cpipe: a big number reply must be digits, not ${JSON.stringify(digits.slice(0, 40))}`);
    }
    return BigInt(digits);
  }

  #unknownTag(tag: number | undefined): ProtocolError {
    return new ProtocolError(
      tag === undefined
        ? `cpipe: reply data ends early, at ${this.pos - 1}`
        : `cpipe: unknown reply tag ${tag} at ${this.pos - 1}`,
    );
  }

  /** A read past the end of the data: of a `len`-byte string, or a fixed-size value whose DataView read threw. */
  #past(len: number, cause?: unknown): ProtocolError {
    const what = cause === undefined ? `a reply of ${len} bytes` : "a reply";
    return new ProtocolError(`cpipe: ${what} at ${this.pos} runs past the end (${this.bytes.length})`, { cause });
  }

  /** The error reply `message`, as the same object as the last one of this buffer when equal (see `stackless`). */
  #sharedError(message: string): ReplyError {
    if (this.#lastError?.message !== message) this.#lastError = stacklessError(message);
    return this.#lastError;
  }

  #string(): string {
    const len = this.#u32();
    const start = this.pos, end = start + len;
    if (end > this.bytes.length) throw this.#past(len);
    this.pos = end;
    return decodeText(this.bytes, start, end);
  }
}

/** The UTF-8 text of bytes[start, end), short ASCII strings the fast way (see below). */
export function decodeText(bytes: Uint8Array, start: number, end: number): string {
  if (end - start <= 32) {
    const text = shortAscii(bytes, start, end);
    if (text !== null) return text;
  }
  return utf8.decode(bytes.subarray(start, end));
}

// In the loops below, `end` ≤ bytes.length (set from a length the core
// wrote), so `bytes[i]!` holds; checking would cost each string.

/*
 * Short ASCII strings (keys, small values, Pub/Sub messages) are most
 * replies, and TextDecoder's per-call cost dominates there. What builds them
 * fastest differs by engine. V8 (Deno) prefers few String.fromCharCode calls
 * of eight codes, then four, then one each: every call makes a string and
 * every `+=` past 12 characters a rope, so fewer pieces cost less. Measured
 * in CPU time per string: 97 ns for 16 bytes (152 in calls of four, 290
 * one code a call), 58 for 8. Each checks as it goes (null at the first
 * byte past ASCII) instead of a pass over the bytes first: 2,000,000
 * 16-byte strings took Deno 1.1 s before, 0.5-0.6 s after.
 * JavaScriptCore (Bun): one call per code below 8 bytes (49 ns for 4 bytes,
 * 95 for 8); from 8, a pass that checks for ASCII and then Buffer's native
 * latin1Slice, which is the same text for ASCII (100 ns for 16 bytes against
 * 167 a code at a time, 135 for 32 against 330).
 */
function byOctets(bytes: Uint8Array, start: number, end: number): string | null {
  let s = "", i = start;
  for (; i + 8 <= end; i += 8) {
    const a = bytes[i]!, b = bytes[i + 1]!, c = bytes[i + 2]!, d = bytes[i + 3]!;
    const e = bytes[i + 4]!, f = bytes[i + 5]!, g = bytes[i + 6]!, h = bytes[i + 7]!;
    if ((a | b | c | d | e | f | g | h) >= 0x80) return null;
    s += String.fromCharCode(a, b, c, d, e, f, g, h);
  }
  if (i + 4 <= end) {
    const a = bytes[i]!, b = bytes[i + 1]!, c = bytes[i + 2]!, d = bytes[i + 3]!;
    if ((a | b | c | d) >= 0x80) return null;
    s += String.fromCharCode(a, b, c, d);
    i += 4;
  }
  for (; i < end; i++) {
    const a = bytes[i]!;
    if (a >= 0x80) return null;
    s += String.fromCharCode(a);
  }
  return s;
}

function byCodes(bytes: Uint8Array, start: number, end: number): string | null {
  let s = "";
  for (let i = start; i < end; i++) {
    const a = bytes[i]!;
    if (a >= 0x80) return null;
    s += String.fromCharCode(a);
  }
  return s;
}

/** What Bun's global Buffer gives: a view over the same memory, read as Latin-1 by native code. */
interface Latin1View {
  latin1Slice(start: number, end: number): string;
}
interface BufferMaker {
  from(buffer: ArrayBufferLike, byteOffset: number, length: number): Latin1View;
}

const bunBuffer = "Bun" in globalThis ? (globalThis as unknown as { Buffer: BufferMaker }).Buffer : null;
/** The last bytes read through latin1Slice, and their Buffer view (the output buffer is the same for long). */
let viewed: Uint8Array | null = null;
let view: Latin1View | null = null;

function bunAscii(bytes: Uint8Array, start: number, end: number): string | null {
  if (end - start < 8) return byCodes(bytes, start, end);
  let any = 0;
  for (let i = start; i < end; i++) any |= bytes[i]!;
  if (any >= 0x80) return null;
  if (viewed !== bytes) {
    view = bunBuffer!.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    viewed = bytes;
  }
  return view!.latin1Slice(start, end);
}

const shortAscii = bunBuffer !== null ? bunAscii : byOctets;

/** Whether a reply with this tag may hold a bulk string, so that how it decodes depends on `asBuffer`. */
export function mayHoldBulk(tag: number): boolean {
  return tag === 0x24 || tag === 0x3d || isAggregate(tag);
}

function isAggregate(tag: number): boolean {
  // '*' array, '%' map, '~' set, '>' push, '|' attribute
  return tag === 0x2a || tag === 0x25 || tag === 0x7e || tag === 0x3e || tag === 0x7c;
}

function finish(tag: number, items: Reply[]): Reply {
  if (tag !== 0x25 && tag !== 0x7c) return items;
  const map = new Map<Reply, Reply>();
  // i + 1 < items.length: both are there (a Reply is never undefined).
  for (let i = 0; i + 1 < items.length; i += 2) map.set(items[i] as Reply, items[i + 1] as Reply);
  return map;
}

/** A ReplyError made with no stack trace captured (see `stackless` above). */
function stacklessError(message: string): ReplyError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    const error = new ReplyError(message);
    // Bun leaves `stack` undefined with no frames; code that reads it expects a string.
    error.stack ??= `${error.name}: ${message}`;
    return error;
  } finally {
    Error.stackTraceLimit = limit;
  }
}
