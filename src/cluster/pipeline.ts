/**
 * A pipeline on a cluster pool: its commands are split by the node serving
 * their slot, each node's share goes to that node's connection as one
 * block, the blocks are sent together, and the replies are put back in the
 * order the commands were queued. Each command is routed and redirected as
 * a single command would be; a MULTI … EXEC goes whole to one node, so its
 * keys must share a slot.
 */
import { type Added, type ClusterQueue, Commands, type Queued, type RawReplies, type Replies } from "../commands.ts";
import { CommandEncoder } from "../encoder.ts";
import { CpipeError } from "../errors.ts";
import { checkCommand } from "../guards.ts";
import type { PoolCore } from "../pool_core.ts";
import { BLOCKING, classify, TransactionTracker } from "../pool_routing.ts";
import { ReplyPlan, type Transform } from "../replies.ts";
import type { Arg, Reply } from "../types.ts";
import { ANY_SLOT, commandSlot, isReadOnly } from "./keys.ts";

/** What a pending call needs to be sent again: its command, arguments and slot. */
export interface Issued {
  readonly command: string;
  readonly args: readonly Arg[];
  readonly slot: number;
}

/** What a pipeline needs of its cluster pool. */
export interface PipelineHost {
  core(): PoolCore;
  /** Whether reads may go to replicas (then read-only commands are routed apart). */
  readonly replicaReads: boolean;
  /** The connection for a slot (`read`: the command only reads). */
  route(slot: number, read: boolean): number;
  /** Records what the calls `ids` may have to send again (undefined: nothing, as in a transaction). */
  issued(ids: readonly number[], issued: readonly (Issued | undefined)[]): void;
}

/** The commands of a pipeline bound for one connection, encoded as they are queued. */
class Part {
  readonly encoder = new CommandEncoder();
  readonly starts: number[] = [];
  /** Each command's index in the pipeline. */
  readonly indexes: number[] = [];
  readonly issued: Issued[] = [];

  constructor(readonly route: number) {}
}

/**
 * A pipeline on a cluster pool, from `cluster.pipeline()`: queue commands with its methods, then
 * `await execute()`. Commands for different nodes run in parallel; replies come back in queue order.
 *
 * @example
 * ```ts
 * const [a, b] = await cluster.pipeline().set("a", "1").get("b").execute();
 * ```
 */
export class ClusterPipeline<R extends unknown[] = [], Q extends unknown[] | null = null>
  extends Commands<"queued", ClusterQueue<R, Q>> {
  readonly #host: PipelineHost;
  /** The commands by connection, in the order each connection first appears. */
  #parts: Part[] = [];
  /** The same, by connection index. */
  #byRoute: (Part | undefined)[] = [];
  /** The part the last command went to: consecutive commands for one node skip the map. */
  #last: Part | null = null;
  readonly #plan = new ReplyPlan();
  readonly #tracker = new TransactionTracker();
  #transaction = false;

  /** @internal Pipelines come from `cluster.pipeline()`. */
  constructor(host: PipelineHost) {
    super();
    this.#host = host;
  }

  /** Commands queued and not yet executed. */
  get length(): number {
    return this.#plan.length;
  }

  /**
   * Queues any command. MULTI / EXEC / DISCARD / WATCH / UNWATCH are accepted when the pipeline closes what it
   * opens; every keyed command of such a pipeline must then be in one slot.
   */
  addCommand<C extends string>(command: C, ...args: Arg[]): Added<ClusterQueue<R, Q>, C> {
    checkCommand(command, args[0]);
    this.#tracker.check(command, args);
    if (classify(command, args) === BLOCKING) {
      throw new CpipeError(
        `cpipe: ${command.toUpperCase()} would block a node's connection: not in a cluster pipeline`,
      );
    }
    if (this.#tracker.open) this.#transaction = true;
    return this.#queue(command, args, null, false, true) as unknown as Added<ClusterQueue<R, Q>, C>;
  }

  /** Sends the queued commands; resolves with their replies in queue order, error replies in place. */
  execute(): Promise<Replies<R>> {
    return this.#execute(false) as Promise<Replies<R>>;
  }

  /** As `execute()`, with every bulk string as `Uint8Array` and no typed method's shaping. */
  executeBuffer(): Promise<RawReplies<R>> {
    return this.#execute(true) as Promise<RawReplies<R>>;
  }

  /** Forgets the queued commands. */
  discard(): void {
    this.#parts = [];
    this.#byRoute = [];
    this.#last = null;
    this.#plan.reset();
    this.#tracker.reset();
    this.#transaction = false;
  }

  /** Queues one command for the typed methods; see `Commands`. */
  protected dispatch<T>(
    command: string,
    args: Arg[],
    transform: Transform<T> | null,
    asBuffer: boolean,
  ): Queued<ClusterQueue<R, Q>, T> {
    return this.#queue(command, args, transform, asBuffer, false) as unknown as Queued<ClusterQueue<R, Q>, T>;
  }

  #queue(command: string, args: Arg[], transform: Transform<unknown> | null, asBuffer: boolean, byName: boolean): this {
    const slot = commandSlot(command, args);
    if (typeof slot !== "number") throw slot;
    const host = this.#host;
    const route = host.route(slot, host.replicaReads && isReadOnly(command, args));
    let part = this.#last;
    if (part === null || part.route !== route) {
      part = this.#byRoute[route] ?? null;
      if (part === null) this.#parts.push(this.#byRoute[route] = part = new Part(route));
      this.#last = part;
    }
    const encoder = part.encoder, start = encoder.length;
    encoder.add(command, args); // throws on a bad argument, before anything is recorded
    part.starts.push(start);
    part.indexes.push(this.#plan.length);
    part.issued.push({ command, args, slot });
    this.#plan.add(command, transform, asBuffer, byName);
    return this;
  }

  #execute(allBuffers: boolean): Promise<Reply[]> {
    const n = this.#plan.length;
    if (n === 0) return Promise.resolve([]);
    let parts = this.#parts;
    const plan = this.#plan, transaction = this.#transaction;
    try {
      this.#tracker.assertClosed();
      if (transaction && parts.length > 1) parts = [this.#transactionPart(parts)];
    } catch (e) {
      this.discard();
      return Promise.reject(e);
    }
    const transforms = allBuffers ? plan.transforms.map(() => null) : plan.transforms;
    const asBuffer = allBuffers ? plan.asBuffer.map(() => true) : plan.asBuffer;
    this.discard();
    if (parts.length === 1) return this.#send(parts[0]!, transforms, asBuffer, transaction);
    const sent = parts.map((part) => {
      const indexes = part.indexes;
      const someTransforms: (Transform<unknown> | null)[] = new Array(indexes.length);
      const someBuffers: boolean[] = new Array(indexes.length);
      for (let k = 0; k < indexes.length; k++) {
        someTransforms[k] = transforms[indexes[k]!] ?? null;
        someBuffers[k] = asBuffer[indexes[k]!]!;
      }
      return this.#send(part, someTransforms, someBuffers, false);
    });
    return Promise.all(sent).then((answers) => {
      const replies: Reply[] = new Array(n);
      for (let p = 0; p < answers.length; p++) {
        const indexes = parts[p]!.indexes, answer = answers[p]!;
        for (let k = 0; k < indexes.length; k++) replies[indexes[k]!] = answer[k]!;
      }
      return replies;
    });
  }

  /**
   * A pipeline holding MULTI goes whole to one node: its keyed commands must share a slot (those without keys,
   * MULTI and EXEC among them, were routed to any node as they were queued: they are gathered here).
   */
  #transactionPart(parts: Part[]): Part {
    const all: Issued[] = [];
    for (const part of parts) for (let k = 0; k < part.issued.length; k++) all[part.indexes[k]!] = part.issued[k]!;
    let slot = ANY_SLOT;
    for (const c of all) {
      if (c.slot === ANY_SLOT || c.slot === slot) continue;
      if (slot !== ANY_SLOT) {
        throw new CpipeError(
          `cpipe: a cluster pipeline with MULTI runs on one node, but its keys are in slots ${slot} and ${c.slot}; ` +
            "give them a common {hash tag}",
        );
      }
      slot = c.slot;
    }
    const whole = new Part(this.#host.route(slot, false));
    for (const c of all) {
      whole.starts.push(whole.encoder.length);
      whole.encoder.add(c.command, c.args as Arg[]);
      whole.indexes.push(whole.issued.length);
      whole.issued.push(c);
    }
    return whole;
  }

  /** One node's share as one block; a transaction's commands are not re-sent one by one on a redirection. */
  #send(
    part: Part,
    transforms: (Transform<unknown> | null)[],
    asBuffer: boolean[],
    transaction: boolean,
  ): Promise<Reply[]> {
    const ids: number[] = [];
    const promise = this.#host.core().group(part.route, part.encoder, part.starts, transforms, asBuffer, ids);
    this.#host.issued(ids, transaction ? [] : part.issued);
    return promise;
  }
}
