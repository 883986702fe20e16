/**
 * A pipeline on a pool: its commands go to one connection as one contiguous
 * block, so a MULTI ... EXEC inside it stays whole; `execute()` resolves with
 * every reply in order, error replies in place. A long one on the shared
 * connections goes in several blocks, the first ones while it is still being
 * queued (see `SEND_EARLY_BYTES`), all to the same connection, each ending
 * outside any MULTI or WATCH.
 */
import {
  type Added,
  Commands,
  type ExecArgs,
  type Executed,
  type PoolQueue,
  type Queued,
  type RawExecuted,
  type RawReplies,
  type Replies,
} from "./commands.ts";
import { Pin } from "./batcher.ts";
import type { KeptReplies } from "./kept_replies.ts";
import { applyTransforms, ReplyPlan, type Transform } from "./replies.ts";
import { CommandEncoder, SEND_EARLY_BYTES, SMALL_SIZE } from "./encoder.ts";
import { checkCommand } from "./guards.ts";
import { type KeyPrefix, withKeyPrefix } from "./key_positions.ts";
import type { PoolCore } from "./pool_core.ts";
import { BLOCKING, classify, TransactionTracker } from "./pool_routing.ts";
import { execReply, notInTransaction } from "./transaction.ts";
import type { Arg, Reply } from "./types.ts";

/**
 * Sends a pipeline's block on a pool's core and may send it again on another (a sentinel pool's `#issue`: a block
 * that never left the old server's core at a failover goes to the new server's).
 */
export type Issuer = (send: (core: PoolCore) => Promise<Reply[]>) => Promise<Reply[]>;

/** The blocks of a pipeline sent before its `execute()`: commands [0, count) of its plan. */
interface SentEarly {
  readonly pin: Pin;
  readonly blocks: Promise<KeptReplies>[];
  count: number;
}

/**
 * A pipeline on a pool, from `pool.pipeline()`: queue commands with its
 * methods, then `await execute()`. `R` and `Q` are as in `Pipeline`.
 *
 * @example
 * ```ts
 * await pool.pipeline().addCommand("MULTI").incr("n").addCommand("EXEC").execute(); // ["OK", "QUEUED", [1]]
 * ```
 */
export class PoolPipeline<R extends unknown[] = [], Q extends unknown[] | null = null>
  extends Commands<"queued", PoolQueue<R, Q>> {
  readonly #core: PoolCore;
  /** -1: the pool's shared connections; else an exclusive connection's index. */
  readonly #route: number;
  /**
   * Called with the names of the commands of each executed pipeline (exclusive connections track state); what it
   * throws rejects `execute()` and nothing is sent. True when the pipeline needs the session its connection's
   * earlier commands gave state to (see `PoolCore.call`'s `sameSession`).
   */
  readonly #onExecute: ((commands: readonly string[]) => boolean) | null;
  // Small: a pipeline in a request handler holds a few commands, and a 64 KiB arena per request costs more than they.
  #encoder = new CommandEncoder(SMALL_SIZE);
  #starts: number[] = [];
  #names: string[] = [];
  readonly #plan = new ReplyPlan();
  /** The commands that block by design (indices in the plan): they go to an exclusive connection, untimed. */
  #blocking: number[] = [];
  readonly #tracker: TransactionTracker | null;
  /** Commands already sent, when the pipeline grew long; null before. */
  #early: SentEarly | null = null;
  /** The keys the queued commands write, for the client-side cache (`ClientCache.wrote`). */
  #written: string[] = [];

  /** The `keyPrefix` put on its keys: the pool's, or a cluster pool's (whose nodes' core has none). */
  readonly #keyPrefix: KeyPrefix | null;
  /** What sends a short pipeline on the shared connections, when it may go to another core than `#core`. */
  readonly #issue: Issuer | null;

  /** @internal Pipelines come from `pool.pipeline()` or `connection.pipeline()`. */
  constructor(
    core: PoolCore,
    route: number,
    onExecute: ((commands: readonly string[]) => boolean) | null = null,
    keyPrefix: KeyPrefix | null = core.keyPrefix,
    issue: Issuer | null = null,
  ) {
    super();
    this.#core = core;
    this.#route = route;
    this.#onExecute = onExecute;
    this.#tracker = route < 0 ? new TransactionTracker() : null;
    this.#keyPrefix = keyPrefix;
    this.#issue = issue;
  }

  /** Commands queued and not yet executed. */
  get length(): number {
    return this.#plan.length;
  }

  /**
   * Queues any command. On the pool's shared connections MULTI / EXEC /
   * DISCARD / WATCH / UNWATCH are accepted when the pipeline closes what it
   * opens; other commands that change a connection (SELECT, AUTH…) are not.
   * Inside MULTI … EXEC the typed methods' results are in EXEC's reply.
   */
  addCommand<C extends string>(command: C, ...args: Arg[]): Added<PoolQueue<R, Q>, C> {
    checkCommand(command, args[0]);
    this.#tracker?.check(command, args);
    const blocking = classify(command, args) === BLOCKING;
    return this.#queue(command, args, null, false, true, blocking) as unknown as Added<PoolQueue<R, Q>, C>;
  }

  /**
   * Sends the queued commands; resolves with their replies in order, typed
   * as the chain that queued them, error replies as `ReplyError` in place.
   */
  execute(): Promise<Replies<R>> {
    return this.#execute(false) as Promise<Replies<R>>;
  }

  /** As `execute()`, with every bulk string as `Uint8Array` and no typed method's shaping applied. */
  executeBuffer(): Promise<RawReplies<R>> {
    return this.#execute(true) as Promise<RawReplies<R>>;
  }

  /**
   * Ends the transaction `multi()` began: queues EXEC, sends the pipeline and resolves with EXEC's reply alone
   * (see `Pipeline.exec`): the results of the commands queued since MULTI, or null when a WATCHed key changed.
   */
  exec(..._noMultiOpenCallExecuteInstead: ExecArgs<Q>): Promise<Executed<Q>> {
    return this.#close(false) as Promise<Executed<Q>>;
  }

  /** As `exec()`, with every bulk string as `Uint8Array` and no typed method's shaping. */
  execBuffer(..._noMultiOpenCallExecuteInstead: ExecArgs<Q>): Promise<RawExecuted<Q>> {
    return this.#close(true) as Promise<RawExecuted<Q>>;
  }

  /** Queues EXEC after an open MULTI, executes, and takes EXEC's reply. */
  #close(allBuffers: boolean): Promise<Reply[] | null> {
    if (!this.#plan.inTransaction) return Promise.reject(notInTransaction());
    this.addCommand("EXEC");
    return this.#execute(allBuffers).then(execReply);
  }

  /** Forgets the queued commands (those a long pipeline sent already still run). */
  discard(): void {
    this.#early = null;
    this.#encoder.reset();
    this.#starts = [];
    this.#names = [];
    this.#plan.reset();
    if (this.#blocking.length > 0) this.#blocking = []; // taken by #send, so replaced rather than emptied
    this.#tracker?.reset();
    if (this.#written.length > 0) this.#written = []; // taken by #execute, so replaced rather than emptied
  }

  /** A generated method's command that blocks or changes a connection: checked as `addCommand` checks it. */
  protected override route<T>(
    command: string,
    args: Arg[],
    asBuffer: boolean,
    transform: Transform<T> | null = null,
  ): Queued<PoolQueue<R, Q>, T> {
    this.#tracker?.check(command, args);
    const blocking = classify(command, args) === BLOCKING;
    return this.#queue(command, args, transform, asBuffer, true, blocking) as unknown as Queued<PoolQueue<R, Q>, T>;
  }

  /** Queues one command for the typed methods; see `Commands`. */
  protected dispatch<T>(
    command: string,
    args: Arg[],
    transform: Transform<T> | null,
    asBuffer: boolean,
  ): Queued<PoolQueue<R, Q>, T> {
    return this.#queue(command, args, transform, asBuffer, false) as unknown as Queued<PoolQueue<R, Q>, T>;
  }

  /** `blocking`: the command blocks by design (recorded once it is encoded: one refused names no index). */
  #queue(
    command: string,
    args: Arg[],
    transform: Transform<unknown> | null,
    asBuffer: boolean,
    byName: boolean,
    blocking = false,
  ): this {
    const start = this.#encoder.length, sent = withKeyPrefix(this.#keyPrefix, command, args);
    this.#encoder.add(command, sent);
    if (blocking) this.#blocking.push(this.#plan.length);
    const written = this.#core.cache?.written(command, sent);
    if (written) this.#written.push(...written);
    this.#starts.push(start);
    if (this.#onExecute !== null) this.#names.push(command);
    this.#plan.add(command, transform, asBuffer, byName);
    // Only on shared connections (`#tracker`), and where the block ends no transaction is open.
    if (this.#encoder.length >= SEND_EARLY_BYTES && this.#tracker?.open === false && this.#blocking.length === 0) {
      this.#sendEarly();
    }
    return this;
  }

  /** Sends what is queued now, as one block; `execute()` sends the rest where it went. */
  #sendEarly(): void {
    const early = this.#early ??= { pin: new Pin(), blocks: [], count: 0 };
    early.count += this.#starts.length; // counted first: the batcher empties the array it takes over
    const block = this.#core.sendEarly(-1, this.#encoder, this.#starts, [], early.pin);
    block.catch(() => {}); // execute() reports it; until then a failure is not unhandled
    early.blocks.push(block);
    this.#encoder = this.#core.blockEncoder();
    this.#starts = [];
  }

  #execute(allBuffers: boolean): Promise<Reply[]> {
    const cache = this.#core.cache, written = this.#written;
    const replies = this.#send(allBuffers);
    return cache === null || written.length === 0 ? replies : cache.wrote(replies, written);
  }

  #send(allBuffers: boolean): Promise<Reply[]> {
    if (this.#plan.length === 0) return Promise.resolve([]);
    try {
      this.#tracker?.assertClosed();
    } catch (e) {
      this.discard();
      return Promise.reject(e);
    }
    const encoder = this.#encoder, starts = this.#starts, plan = this.#plan;
    // executeBuffer: raw replies, so no transform (nor transaction mark) is handed on.
    const transforms = allBuffers ? plan.transforms.map(() => null) : plan.transforms;
    const asBuffer = allBuffers ? plan.asBuffer.map(() => true) : plan.asBuffer;
    const blocking = this.#blocking, names = this.#names, early = this.#early;
    this.#encoder = new CommandEncoder(SMALL_SIZE);
    this.discard();
    let sameSession = false;
    try {
      sameSession = this.#onExecute?.(names) ?? false;
    } catch (e) {
      return Promise.reject(e);
    }
    if (early !== null) return this.#executeRest(early, encoder, starts, transforms, asBuffer, blocking, allBuffers);
    const core = this.#core;
    if (this.#issue !== null && this.#route < 0 && blocking.length === 0) {
      const take = handOver(encoder, starts);
      return this.#issue((core) => {
        const block = take();
        return core.group(-1, block.encoder, block.starts, transforms, asBuffer);
      });
    }
    if (this.#route >= 0 || blocking.length === 0) {
      return core.group(this.#route, encoder, starts, transforms, asBuffer, [], null, blocking, sameSession);
    }
    // A blocking command would hold up every caller of a shared connection.
    return (async () => {
      const connection = await core.acquire();
      try {
        return await core.group(connection, encoder, starts, transforms, asBuffer, [], null, blocking);
      } finally {
        core.release(connection, true);
      }
    })();
  }

  /** Sends what was queued after the blocks sent early, and puts every reply in order, shaped as asked. */
  async #executeRest(
    early: SentEarly,
    encoder: CommandEncoder,
    starts: number[],
    transforms: (Transform<unknown> | null)[],
    asBuffer: boolean[],
    blocking: readonly number[],
    allBuffers: boolean,
  ): Promise<Reply[]> {
    const core = this.#core, sent = early.count, rest = starts.length;
    // Shaped below with the others (a transaction's replies in EXEC's array); none of its own here.
    const unshaped = new Array<null>(rest).fill(null), restAsBuffer = asBuffer.slice(sent);
    let last: Promise<Reply[]>;
    if (blocking.length === 0) last = core.group(-1, encoder, starts, unshaped, restAsBuffer, [], early.pin);
    else {
      // The rest needs a connection of its own: sent once the blocks before it are answered, so still in order.
      await Promise.all(early.blocks);
      const connection = await core.acquire();
      // Nothing blocking went early (it stops the early blocks): every index is past them.
      const restBlocking = blocking.map((index) => index - sent);
      last = core.group(connection, encoder, starts, unshaped, restAsBuffer, [], null, restBlocking);
      last.then(() => core.release(connection, true), () => core.release(connection, true));
    }
    const [blocks, tail] = await Promise.all([Promise.all(early.blocks), last]);
    const replies: Reply[] = new Array(sent + rest);
    let base = 0;
    for (const kept of blocks) {
      kept.decodeInto(replies, null, base, asBuffer, allBuffers);
      base += kept.count;
    }
    for (let k = 0; k < rest; k++) replies[sent + k] = tail[k]!;
    return applyTransforms(replies, transforms);
  }
}

/**
 * The encoder and `starts` of a block a core takes over: the first time as they are, then copies made before the
 * first hand-over (for an `Issuer` that sends the block again on another core).
 */
function handOver(encoder: CommandEncoder, starts: number[]): () => { encoder: CommandEncoder; starts: number[] } {
  const bytes = encoder.bytes.slice(0, encoder.length), kept = starts.slice();
  let first = true;
  return () => {
    if (first) {
      first = false;
      return { encoder, starts };
    }
    const copy = new CommandEncoder(SMALL_SIZE);
    for (let k = 0; k < kept.length; k++) copy.addPacked(bytes, kept[k]!, kept[k + 1] ?? bytes.length);
    return { encoder: copy, starts: kept.slice() };
  };
}
