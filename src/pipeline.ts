/**
 * A queue of commands sent together: one round trip for any number of
 * commands, replies returned in order with errors in place. Once the queue
 * holds SEND_EARLY_BYTES of commands they are streamed to the server while
 * the caller keeps queueing, so encoding overlaps the server's work and
 * memory stays bounded;
 * `execute()` then sends the rest and collects every reply.
 */
import {
  type Added,
  type ClientQueue,
  Commands,
  type ExecArgs,
  type Executed,
  type Queued,
  type RawExecuted,
  type RawReplies,
  type Replies,
} from "./commands.ts";
import { applyTransforms, ReplyPlan, type Transform } from "./replies.ts";
import { CommandEncoder, SEND_EARLY_BYTES } from "./encoder.ts";
import { RecordStash, type Streamed } from "./connection.ts";
import { checkCommand } from "./guards.ts";
import { type KeyPrefix, withKeyPrefix } from "./key_positions.ts";
import { execReply, notInTransaction } from "./transaction.ts";
import type { Arg, Reply } from "./types.ts";

/** Where a pipeline's commands go: the synchronous client's connection. */
export interface PipelineTarget {
  stream(encoder: CommandEncoder, streamed: Streamed): void;
  run(encoder: CommandEncoder, asBuffer: boolean | readonly boolean[], streamed: Streamed | null): Reply[];
}

/**
 * Commands queued with the typed methods or `addCommand`, sent by `execute()`.
 * `R` is the result type of each command queued so far in one chain, and
 * `Q`, inside a MULTI, of each command EXEC will return (null outside one).
 *
 * @example
 * ```ts
 * const [ok, n, v] = r.pipeline().set("a", "1").incr("a").get("a").execute(); // "OK", 2, "2"
 * ```
 */
export class Pipeline<R extends unknown[] = [], Q extends unknown[] | null = null>
  extends Commands<"queued", ClientQueue<R, Q>> {
  readonly #target: PipelineTarget;
  readonly #encoder = new CommandEncoder();
  readonly #plan = new ReplyPlan();
  /** Commands already handed to the core, and their replies so far; null until the queue first fills a chunk. */
  #streamed: Streamed | null = null;

  /** @internal Pipelines come from `client.pipeline()`. */
  constructor(target: PipelineTarget, keyPrefix: KeyPrefix | null = null) {
    super();
    this.#target = target;
    this.#keyPrefix = keyPrefix;
  }

  /** The client's `keyPrefix` option. */
  readonly #keyPrefix: KeyPrefix | null;

  /** Commands queued since the last `execute()`. */
  get length(): number {
    return this.#plan.length;
  }

  /**
   * Queues any command; its reply comes back from `execute()`. Inside
   * MULTI … EXEC (named here) the typed methods' results are in EXEC's reply.
   */
  addCommand<C extends string>(command: C, ...args: Arg[]): Added<ClientQueue<R, Q>, C> {
    checkCommand(command, args[0]);
    return this.#queue(command, args, null, false, true) as unknown as Added<ClientQueue<R, Q>, C>;
  }

  /**
   * Waits for the reply of every queued command and returns them in order,
   * typed as the chain that queued them; an error reply is a `ReplyError` in
   * its place. The queue is empty afterwards, also when a connection error
   * is thrown.
   */
  execute(): Replies<R> {
    return this.#execute(false) as Replies<R>;
  }

  /** As `execute()`, with every bulk string returned as `Uint8Array` and no typed method's shaping applied. */
  executeBuffer(): RawReplies<R> {
    return this.#execute(true) as RawReplies<R>;
  }

  /**
   * Ends the transaction `multi()` began: queues EXEC, sends the pipeline and returns EXEC's reply alone — the
   * results of the commands queued since MULTI, typed and in order, errors in place — or null when a WATCHed key
   * changed. EXECABORT (a command refused as it was queued; none ran) is thrown as a `ReplyError`.
   */
  exec(..._noMultiOpenCallExecuteInstead: ExecArgs<Q>): Executed<Q> {
    return execReply(this.#close(false)) as Executed<Q>;
  }

  /** As `exec()`, with every bulk string as `Uint8Array` and no typed method's shaping. */
  execBuffer(..._noMultiOpenCallExecuteInstead: ExecArgs<Q>): RawExecuted<Q> {
    return execReply(this.#close(true)) as RawExecuted<Q>;
  }

  /** Queues EXEC after an open MULTI and executes. */
  #close(allBuffers: boolean): Reply[] {
    if (!this.#plan.inTransaction) throw notInTransaction();
    this.addCommand("EXEC");
    return this.#execute(allBuffers);
  }

  /** Forgets the queued commands (those already streamed to the server still run there). */
  discard(): void {
    this.#encoder.reset();
    this.#plan.reset();
    this.#streamed = null;
  }

  /** Runs (or queues) one command for the typed methods; see `Commands`. */
  protected dispatch<T>(
    command: string,
    args: Arg[],
    transform: Transform<T> | null,
    asBuffer: boolean,
  ): Queued<ClientQueue<R, Q>, T> {
    return this.#queue(command, args, transform, asBuffer, false) as unknown as Queued<ClientQueue<R, Q>, T>;
  }

  #queue(command: string, args: Arg[], transform: Transform<unknown> | null, asBuffer: boolean, byName: boolean): this {
    this.#encoder.add(command, withKeyPrefix(this.#keyPrefix, command, args));
    this.#plan.add(command, transform, asBuffer, byName);
    if (this.#encoder.length >= SEND_EARLY_BYTES) this.#stream();
    return this;
  }

  /** Streams what is queued to the server while the caller goes on queueing. */
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
    const plan = this.#plan;
    if (plan.length === 0) return [];
    try {
      if (allBuffers) return this.#target.run(this.#encoder, true, this.#streamed);
      return applyTransforms(this.#target.run(this.#encoder, plan.asBuffer, this.#streamed), plan.transforms);
    } finally {
      this.discard();
    }
  }
}
