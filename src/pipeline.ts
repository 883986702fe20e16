/**
 * A queue of commands sent together: one round trip (streamed in chunks) for
 * any number of commands, replies returned in order with errors in place.
 */
import { applyTransform, Commands, type Transform } from "./commands.ts";
import { CommandEncoder } from "./encoder.ts";
import { checkCommand } from "./guards.ts";
import type { Arg, Reply } from "./types.ts";

/** Runs encoded commands and returns their raw replies; bufferMask marks replies wanted as bytes. */
export type Runner = (encoder: CommandEncoder, asBuffer: boolean | readonly boolean[]) => Reply[];

export class Pipeline extends Commands<"queued", Pipeline> {
  readonly #run: Runner;
  readonly #encoder = new CommandEncoder();
  #transforms: (Transform<unknown> | null)[] = [];
  #asBuffer: boolean[] = [];

  /** @internal Pipelines come from `client.pipeline()`. */
  constructor(run: Runner) {
    super();
    this.#run = run;
  }

  /** Commands queued and not yet executed. */
  get length(): number {
    return this.#encoder.count;
  }

  /** Queues any command; its reply comes back from `execute()`. */
  addCommand(command: string, ...args: Arg[]): this {
    checkCommand(command);
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
  }

  protected dispatch<T>(command: string, args: Arg[], transform: Transform<T> | null, asBuffer: boolean): Pipeline {
    return this.#queue(command, args, transform, asBuffer);
  }

  #queue(command: string, args: Arg[], transform: Transform<unknown> | null, asBuffer: boolean): this {
    this.#encoder.add(command, args);
    this.#transforms.push(transform);
    this.#asBuffer.push(asBuffer);
    return this;
  }

  #execute(allBuffers: boolean): Reply[] {
    if (this.#encoder.count === 0) return [];
    const transforms = this.#transforms;
    try {
      const replies = this.#run(this.#encoder, allBuffers ? true : this.#asBuffer);
      for (let i = 0; i < replies.length; i++) {
        if (transforms[i] !== null) replies[i] = applyTransform(replies[i], transforms[i]) as Reply;
      }
      return replies;
    } finally {
      this.discard();
    }
  }
}
