/**
 * Packs commands into one byte arena in the layout the native core reads:
 * per command `u32 argc`, then per argument `u32 len` and its bytes.
 */
import type { Arg } from "./types.ts";

const INITIAL_SIZE = 64 * 1024;
/** A larger arena is dropped on reset, so one huge value does not stay resident. */
const RETAIN_LIMIT = 16 * 1024 * 1024;
/** Commands are sent to the core in chunks of about this many bytes. */
export const CHUNK_SIZE = 256 * 1024;
/**
 * A pipeline whose queued commands pass this many bytes sends them before its `execute()` (where order and
 * transactions allow), so that the server works while the caller queues the rest: measured on 10,000 HSETs (about
 * 400 KB), a pool pipeline then took the server's time and little more, where it took the server's time plus the time
 * the caller took to queue it; the synchronous client's pipeline went from 256 KB blocks to these and did 23–35 % more
 * per second (W2, plaintext and TLS, both runtimes; 16 and 32 KB measured no different).
 */
export const SEND_EARLY_BYTES = 64 * 1024;
/** FFI lengths are signed 32-bit: no single buffer may reach 2 GiB. */
const MAX_BUFFER = 0x7fff_ffff;

const utf8 = new TextEncoder();

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? (value.constructor?.name ?? "an object") : typeof value;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Whether a string is valid UTF-16 (no lone surrogate), natively where the runtime has `isWellFormed`. */
const isWellFormed: (value: string) => boolean = typeof String.prototype.isWellFormed === "function"
  ? (value) => value.isWellFormed()
  : (value) => !LONE_SURROGATE.test(value);

/**
 * A lone surrogate has no UTF-8 form: encodeInto would write U+FFFD, so two
 * different strings would name one key. Refused instead, saying where.
 */
function loneSurrogate(value: string, command: string, index: number): TypeError {
  const at = value.search(LONE_SURROGATE);
  const code = value.charCodeAt(at).toString(16).toUpperCase();
  const what = index === 0 ? "the command name" : `argument ${index} of ${command}`;
  return new TypeError(
    `cpipe: ${what} has a lone surrogate (U+${code} at index ${at}), which UTF-8 cannot carry; ` +
      "pass a Uint8Array for binary data",
  );
}

function utf8Length(value: string): number {
  let bytes = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < value.length) {
      const next = value.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/** A number or bigint argument as Redis reads it; anything else is refused, saying which argument. */
export function argString(arg: unknown, command: string, index: number): string {
  if (typeof arg === "number") {
    if (Number.isNaN(arg)) throw new TypeError(`cpipe: argument ${index} of ${command} is NaN`);
    return arg === Infinity ? "inf" : arg === -Infinity ? "-inf" : String(arg);
  }
  if (typeof arg === "bigint") return arg.toString();
  throw new TypeError(
    `cpipe: argument ${index} of ${command} must be a string, number, bigint or Uint8Array, not ${describe(arg)}`,
  );
}

/** The arena of an encoder made for a handful of commands (a pipeline in a request handler); it grows as needed. */
export const SMALL_SIZE = 512;

export class CommandEncoder {
  bytes: Uint8Array;
  #view: DataView;
  /** Bytes used. */
  length = 0;
  /** Commands packed. */
  count = 0;
  /** Offsets where chunks start after the first, at command boundaries. */
  readonly chunkStarts: number[] = [];

  /** `initialSize`: the arena's first size in bytes (64 KiB by default, for batches). */
  constructor(initialSize: number = INITIAL_SIZE) {
    this.bytes = new Uint8Array(initialSize);
    this.#view = new DataView(this.bytes.buffer);
  }

  /** Appends one command; on a bad argument nothing is appended and a TypeError is thrown. */
  add(command: string, args: readonly Arg[]): void {
    const start = this.length;
    try {
      this.#writeName(command, args.length);
      for (let i = 0; i < args.length; i++) {
        const arg = args[i];
        // Strings straight to #writeString, the rest through #writeArg, which makes them strings: when #writeArg
        // called #writeString on each of its paths, the JIT compiled (inlined) it four times (Bun, a script run once).
        if (typeof arg === "string") this.#writeString(arg, command, i + 1);
        else this.#writeArg(arg as Arg, command, i + 1);
      }
    } catch (e) {
      this.length = start;
      throw e;
    }
    this.#counted(start);
  }

  /** `add` of a command with one argument, for callers that have no array of it (one fewer allocation a call). */
  addOne(command: string, arg: Arg): void {
    const start = this.length;
    try {
      this.#writeName(command, 1);
      if (typeof arg === "string") this.#writeString(arg, command, 1);
      else this.#writeArg(arg, command, 1);
    } catch (e) {
      this.length = start;
      throw e;
    }
    this.#counted(start);
  }

  /** A command's argument count (the name included) and its name. */
  #writeName(command: string, argc: number): void {
    this.#ensure(4);
    this.#view.setUint32(this.length, argc + 1, true);
    this.length += 4;
    this.#writeString(command, command, 0);
  }

  /** Appends one command another encoder packed, `bytes[start, end)`, as it is. */
  addPacked(bytes: Uint8Array, start: number, end: number): void {
    this.#counted(this.#copy(bytes, start, end));
  }

  /** Counts the command just packed at `start`, which begins a new chunk when the last one is full. */
  #counted(start: number): void {
    // No `chunkStarts[-1] ?? 0`: a negative index is a slow property lookup (measured: 1.6x per command).
    const chunks = this.chunkStarts.length;
    const lastChunk = chunks === 0 ? 0 : (this.chunkStarts[chunks - 1] ?? 0);
    if (start - lastChunk >= CHUNK_SIZE) this.chunkStarts.push(start);
    this.count++;
  }

  /** Appends every command `other` packed, as they are. */
  append(other: CommandEncoder): void {
    const base = this.#copy(other.bytes, 0, other.length);
    this.count += other.count;
    for (const start of other.chunkStarts) this.chunkStarts.push(base + start);
  }

  /** Copies `bytes[start, end)` (whole commands) to the end; returns where they begin. */
  #copy(bytes: Uint8Array, start: number, end: number): number {
    const at = this.length;
    this.#ensure(end - start);
    this.bytes.set(bytes.subarray(start, end), at);
    this.length += end - start;
    return at;
  }

  /** The packed bytes of chunk i (0 ≤ i ≤ chunkStarts.length). */
  chunk(i: number): Uint8Array {
    const from = i === 0 ? 0 : this.chunkStarts[i - 1];
    if (from === undefined) throw new RangeError(`cpipe: no chunk ${i} (there are ${this.chunks})`);
    const to = this.chunkStarts[i] ?? this.length;
    return this.bytes.subarray(from, to);
  }

  get chunks(): number {
    return this.chunkStarts.length + 1;
  }

  /** Empties the arena; `keepStorage` keeps a large one for the next batch instead of dropping it. */
  reset(keepStorage = false): void {
    this.length = 0;
    this.count = 0;
    this.chunkStarts.length = 0;
    if (!keepStorage && this.bytes.length > RETAIN_LIMIT) this.#replace(new Uint8Array(INITIAL_SIZE));
  }

  #replace(bytes: Uint8Array): void {
    this.bytes = bytes;
    this.#view = new DataView(bytes.buffer);
  }

  #ensure(extra: number): void {
    const need = this.length + extra;
    if (need <= this.bytes.length) return;
    if (need > MAX_BUFFER) {
      throw new RangeError(`cpipe: commands too large (${need} bytes; the limit is 2 GiB at once)`);
    }
    let size = this.bytes.length * 2;
    while (size < need) size *= 2;
    const grown = new Uint8Array(Math.min(size, MAX_BUFFER));
    grown.set(this.bytes.subarray(0, this.length));
    this.#replace(grown);
  }

  /** Any argument but a string (see `add`); a hole in a sparse array reads undefined and is refused as any other. */
  #writeArg(arg: Arg, command: string, index: number): void {
    if (arg instanceof Uint8Array) return this.#writeBytes(arg);
    this.#writeString(argString(arg, command, index), command, index);
  }

  #writeBytes(value: Uint8Array): void {
    this.#ensure(4 + value.length);
    this.#view.setUint32(this.length, value.length, true);
    this.bytes.set(value, this.length + 4);
    this.length += 4 + value.length;
  }

  /** Writes a string as UTF-8; `command` and `index` (0: the name) only name it in an error. */
  #writeString(value: string, command: string, index: number): void {
    const n = value.length;
    // Short ASCII strings are the common case; a loop beats encodeInto there.
    if (n <= 64) {
      this.#ensure(4 + n * 3);
      const bytes = this.bytes, at = this.length + 4;
      let i = 0;
      for (; i < n; i++) {
        const c = value.charCodeAt(i);
        if (c >= 0x80) break;
        bytes[at + i] = c;
      }
      if (i === n) {
        this.#view.setUint32(this.length, n, true);
        this.length = at + n;
        return;
      }
    }
    this.#writeUtf8(value, command, index);
  }

  /** #writeString for strings longer than 64 units or not ASCII: apart, so the JIT compiles it only when they come. */
  #writeUtf8(value: string, command: string, index: number): void {
    const n = value.length;
    // Three bytes per UTF-16 unit is the worst case; measure only when that bound is too large.
    this.#ensure(4 + (this.length + n * 3 < MAX_BUFFER ? n * 3 : utf8Length(value)));
    if (!isWellFormed(value)) throw loneSurrogate(value, command, index);
    const written = utf8.encodeInto(value, this.bytes.subarray(this.length + 4)).written;
    this.#view.setUint32(this.length, written, true);
    this.length += 4 + written;
  }
}
