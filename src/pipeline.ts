/**
 * A queue of commands sent together: one round trip (streamed in chunks) for
 * any number of commands, replies returned in order with errors in place.
 */
import { applyTransform, Commands, type Transform } from "./commands.ts";
import { CommandEncoder } from "./encoder.ts";
import { checkCommand } from "./guards.ts";
import type { Arg, Reply } from "./types.ts";

/** Runs encoded commands and returns their raw replies; `asBuffer` is for all replies or per reply. */
export type Runner = (encoder: CommandEncoder, asBuffer: boolean | readonly boolean[]) => Reply[];

/**
 * A queue that grows past this many encoded bytes is sent at once (its
 * replies are kept), so a queue of any size needs bounded memory.
 */
export const EARLY_SEND_BYTES = 32 * 1024 * 1024;

const utf8 = new TextDecoder();

/** Bulk strings received as bytes, back to text (status replies are text already). */
function bytesToText(reply: Reply): Reply {
  if (reply instanceof Uint8Array) return utf8.decode(reply);
  if (Array.isArray(reply)) return reply.map(bytesToText);
  return reply;
}

/**
 * Commands queued with the typed methods or `addCommand`, sent by `execute()`.
 *
 * @example
 * ```ts
 * const replies = r.pipeline().set("a", "1").incr("a").get("a").execute(); // ["OK", 2, "2"]
 * ```
 */
export class Pipeline extends Commands<"queued", Pipeline> {
  readonly #run: Runner;
  readonly #encoder = new CommandEncoder();
  #transforms: (Transform<unknown> | null)[] = [];
  #asBuffer: boolean[] = [];
  /** Replies of commands already sent because the queue grew large; bulk strings as bytes. */
  #sent: Reply[] = [];

  /** @internal Pipelines come from `client.pipeline()`. */
  constructor(run: Runner) {
    super();
    this.#run = run;
  }

  /** Commands queued since the last `execute()`. */
  get length(): number {
    return this.#transforms.length;
  }

  /** Queues any command; its reply comes back from `execute()`. */
  addCommand(command: string, ...args: Arg[]): this {
    checkCommand(command, args[0]);
    return this.#queue(command, args, null, false);
  }

  /**
   * Sends every queued command and returns their replies in order; an error
   * reply is a `ReplyError` in its place. The queue is empty afterwards, also
   * when a connection error is thrown.
   */
  execute(): Reply[] {
    return this.#execute(false);
  }

  /** As `execute()`, with every bulk string returned as `Uint8Array`. */
  executeBuffer(): Reply[] {
    return this.#execute(true);
  }

  /** Forgets the queued commands. */
  discard(): void {
    this.#encoder.reset();
    this.#transforms = [];
    this.#asBuffer = [];
    this.#sent = [];
  }

  /** Runs (or queues) one command for the typed methods; see `Commands`. */
  protected dispatch<T>(command: string, args: Arg[], transform: Transform<T> | null, asBuffer: boolean): Pipeline {
    return this.#queue(command, args, transform, asBuffer);
  }

  #queue(command: string, args: Arg[], transform: Transform<unknown> | null, asBuffer: boolean): this {
    this.#encoder.add(command, args);
    this.#transforms.push(transform);
    this.#asBuffer.push(asBuffer);
    if (this.#encoder.length >= EARLY_SEND_BYTES) this.#sendEarly();
    return this;
  }

  #sendEarly(): void {
    try {
      const replies = this.#run(this.#encoder, true);
      for (let i = 0; i < replies.length; i++) this.#sent.push(replies[i]);
      this.#encoder.reset(true);
    } catch (e) {
      this.discard();
      throw e;
    }
  }

  #execute(allBuffers: boolean): Reply[] {
    const transforms = this.#transforms, asBuffer = this.#asBuffer, sent = this.#sent;
    if (transforms.length === 0) return [];
    try {
      const rest = this.#encoder.count === 0
        ? []
        : this.#run(this.#encoder, allBuffers ? true : sent.length === 0 ? asBuffer : asBuffer.slice(sent.length));
      const replies = sent.length === 0 ? rest : sent.concat(rest);
      for (let i = 0; i < replies.length; i++) {
        let reply = replies[i];
        if (i < sent.length && !allBuffers && !asBuffer[i]) reply = bytesToText(reply);
        replies[i] = transforms[i] === null ? reply : applyTransform(reply, transforms[i]) as Reply;
      }
      return replies;
    } finally {
      this.discard();
    }
  }
}
