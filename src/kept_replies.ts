/**
 * The replies of a pipeline's commands sent before its `execute()`, kept as
 * the core encoded them until then: whether their bulk strings are wanted as
 * text or as bytes is known only when `execute()` or `executeBuffer()` is
 * called, and text decoded too early could not give the bytes back (a value
 * that is not UTF-8). They are decoded then, in one pass.
 */
import { HEADER_SIZE, ReplyDecoder } from "./decoder.ts";
import { ProtocolError } from "./errors.ts";
import type { Reply } from "./types.ts";

/** Room first made per reply of the block, when the first is kept: a short string takes a few bytes. */
const BYTES_PER_REPLY = 16;
const NOTHING = new Uint8Array(0);

/**
 * One block of a pipeline's commands: each reply that may hold a bulk string kept encoded, the others (integers,
 * statuses, error replies…) decoded as they came.
 */
export class KeptReplies {
  /**
   * The encoded replies, after a header's room (so that a `ReplyDecoder` reads them where they are); made for
   * the first (blocks of integer or status replies keep none).
   */
  #bytes: Uint8Array = NOTHING;
  #length = HEADER_SIZE;
  /** Per command: where its encoded reply starts, or -1 when `#decoded` holds it. */
  readonly #at: Int32Array;
  /** The replies kept decoded, by command; made for the first. */
  #decoded: Reply[] | null = null;

  constructor(readonly count: number) {
    this.#at = new Int32Array(count).fill(-1);
  }

  /** Keeps command `index`'s reply, encoded in src[start, end). */
  keep(index: number, src: Uint8Array, start: number, end: number): void {
    const size = end - start, need = this.#length + size;
    if (need > this.#bytes.length) {
      let grown = Math.max(this.#bytes.length * 2, HEADER_SIZE + this.count * BYTES_PER_REPLY);
      while (grown < need) grown *= 2;
      const bytes = new Uint8Array(grown);
      bytes.set(this.#bytes.subarray(0, this.#length));
      this.#bytes = bytes;
    }
    const bytes = this.#bytes, at = this.#length;
    // Most replies kept are a few bytes (short strings): a loop beats making a subarray for each.
    if (size <= 64) { for (let i = 0; i < size; i++) bytes[at + i] = src[start + i]!; }
    else bytes.set(src.subarray(start, end), at);
    this.#at[index] = at;
    this.#length = need;
  }

  /** Command `index`'s reply, already decoded (one whose form does not depend on bytes or text). */
  set(index: number, reply: Reply): void {
    this.#at[index] = -1;
    (this.#decoded ??= new Array(this.count).fill(null))[index] = reply;
  }

  /**
   * Every reply decoded, put in `into` at `indexes[k]` (or `base + k` when `indexes` is null); bulk strings as
   * bytes where `asBuffer` (by the same position) says so, or everywhere when `allBuffers`.
   */
  decodeInto(
    into: Reply[],
    indexes: readonly number[] | null,
    base: number,
    asBuffer: readonly boolean[],
    allBuffers: boolean,
  ): void {
    const at = this.#at, decoded = this.#decoded ?? [];
    let decoder: ReplyDecoder | null = null;
    for (let k = 0; k < this.count; k++) {
      const index = indexes === null ? base + k : indexes[k]!;
      const start = at[k]!;
      if (start < 0) {
        into[index] = decoded[k] ?? null;
        continue;
      }
      if (decoder === null) {
        decoder = new ReplyDecoder();
        decoder.stackless = true;
        decoder.attach(this.#bytes.subarray(0, this.#length)); // a reply cut short reads past the end, not zeros
      }
      decoder.pos = start;
      decoder.asBuffer = allBuffers || asBuffer[index] === true;
      try {
        into[index] = decoder.next();
      } catch (e) {
        // The core checked the reply's framing: only this one is lost, in its own place (as the pool does).
        into[index] = new ProtocolError(`cpipe: cannot decode a reply: ${e}`);
      }
    }
  }
}
