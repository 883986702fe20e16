/**
 * A queue of commands sent together: one round trip for any number of
 * commands, replies returned in order with errors in place. Once the queue
 * fills a 256 KB chunk it is streamed to the server while the caller keeps
 * queueing, so encoding overlaps the server's work and memory stays bounded;
 * `execute()` then sends the rest and collects every reply.
 */
import { applyTransforms, Commands, type Transform } from "./commands.ts";
import { CHUNK_SIZE, CommandEncoder } from "./encoder.ts";
import { RecordStash, type Streamed } from "./connection.ts";
import { checkCommand } from "./guards.ts";
import type { Arg, Reply } from "./types.ts";

/** Where a pipeline's commands go: the synchronous client's connection. */
export interface PipelineTarget {
  stream(encoder: CommandEncoder, streamed: Streamed): void;
  run(encoder: CommandEncoder, asBuffer: boolean | readonly boolean[], streamed: Streamed | null): Reply[];
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
  readonly #target: PipelineTarget;
  readonly #encoder = new CommandEncoder();
  #transforms: (Transform<unknown> | null)[] = [];
  #asBuffer: boolean[] = [];
  /** Commands already handed to the core, and their replies so far; null until the queue first fills a chunk. */
  #streamed: Streamed | null = null;

  /** @internal Pipelines come from `client.pipeline()`. */
  constructor(target: PipelineTarget) {
    super();
    this.#target = target;
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
   * Waits for the reply of every queued command and returns them in order;
   * an error reply is a `ReplyError` in its place. The queue is empty
   * afterwards, also when a connection error is thrown.
   */
  execute(): Reply[] {
    return this.#execute(false);
  }

  /** As `execute()`, with every bulk string returned as `Uint8Array`. */
  executeBuffer(): Reply[] {
    return this.#execute(true);
  }

  /** Forgets the queued commands (those already streamed to the server still run there). */
  discard(): void {
    this.#encoder.reset();
    this.#transforms = [];
    this.#asBuffer = [];
    this.#streamed = null;
  }

  /** Runs (or queues) one command for the typed methods; see `Commands`. */
  protected dispatch<T>(command: string, args: Arg[], transform: Transform<T> | null, asBuffer: boolean): Pipeline {
    return this.#queue(command, args, transform, asBuffer);
  }

  #queue(command: string, args: Arg[], transform: Transform<unknown> | null, asBuffer: boolean): this {
    this.#encoder.add(command, args);
    this.#transforms.push(transform);
    this.#asBuffer.push(asBuffer);
    if (this.#encoder.length >= CHUNK_SIZE) this.#stream();
    return this;
  }

  /** Streams a full chunk to the server while the caller goes on queueing. */
  #stream(): void {
    this.#streamed ??= { commands: 0, stash: new RecordStash() };
    try {
      this.#target.stream(this.#encoder, this.#streamed);
      this.#encoder.reset(true);
    } catch (e) {
      this.discard();
      throw e;
    }
  }

  #execute(allBuffers: boolean): Reply[] {
    const transforms = this.#transforms;
    if (transforms.length === 0) return [];
    try {
      return applyTransforms(
        this.#target.run(this.#encoder, allBuffers ? true : this.#asBuffer, this.#streamed),
        transforms,
      );
    } finally {
      this.discard();
    }
  }
}
