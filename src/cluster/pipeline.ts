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
  /** The connection for a slot (`read`: the command only reads). */
  route(slot: number, read: boolean): number;
  /** Records what the calls `ids` may have to send again (undefined: nothing, as in a transaction). */
  issued(ids: readonly number[], issued: readonly (Issued | undefined)[]): void;
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
  #commands: Issued[] = [];
  #reads: boolean[] = [];
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
    this.#commands = [];
    this.#reads = [];
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
    this.#commands.push({ command, args, slot });
    this.#reads.push(isReadOnly(command, args));
    this.#plan.add(command, transform, asBuffer, byName);
    return this;
  }

  #execute(allBuffers: boolean): Promise<Reply[]> {
    if (this.#plan.length === 0) return Promise.resolve([]);
    const commands = this.#commands, reads = this.#reads, plan = this.#plan, transaction = this.#transaction;
    try {
      this.#tracker.assertClosed();
    } catch (e) {
      this.discard();
      return Promise.reject(e);
    }
    const transforms = allBuffers ? plan.transforms.map(() => null) : plan.transforms;
    const asBuffer = allBuffers ? plan.asBuffer.map(() => true) : plan.asBuffer;
    this.discard();
    const host = this.#host;
    let routes: number[];
    try {
      routes = transaction ? this.#transactionRoute(commands) : commands.map((c, i) => host.route(c.slot, reads[i]!));
    } catch (e) {
      return Promise.reject(e);
    }
    // The connections in the order they first appear, each with the indexes of its commands.
    const parts = new Map<number, number[]>();
    for (let i = 0; i < routes.length; i++) {
      const part = parts.get(routes[i]!);
      if (part === undefined) parts.set(routes[i]!, [i]);
      else part.push(i);
    }
    try {
      if (parts.size === 1) {
        const [route] = parts.keys();
        return this.#send(route!, commands, transforms, asBuffer, transaction);
      }
      const sent: Promise<Reply[]>[] = [];
      for (const [route, indexes] of parts) {
        sent.push(this.#send(
          route,
          indexes.map((i) => commands[i]!),
          indexes.map((i) => transforms[i] ?? null),
          indexes.map((i) => asBuffer[i]!),
          false,
        ));
      }
      const order = [...parts.values()];
      return Promise.all(sent).then((answers) => {
        const replies: Reply[] = new Array(routes.length);
        for (let p = 0; p < answers.length; p++) {
          const indexes = order[p]!, answer = answers[p]!;
          for (let k = 0; k < indexes.length; k++) replies[indexes[k]!] = answer[k]!;
        }
        return replies;
      });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** The one connection a pipeline holding MULTI goes to: its keyed commands must share a slot. */
  #transactionRoute(commands: readonly Issued[]): number[] {
    let slot = ANY_SLOT;
    for (const c of commands) {
      if (c.slot === ANY_SLOT || c.slot === slot) continue;
      if (slot !== ANY_SLOT) {
        throw new CpipeError(
          `cpipe: a cluster pipeline with MULTI runs on one node, but its keys are in slots ${slot} and ${c.slot}; ` +
            "give them a common {hash tag}",
        );
      }
      slot = c.slot;
    }
    const route = this.#host.route(slot, false);
    return commands.map(() => route);
  }

  /** One node's share as one block; a transaction's commands are not re-sent one by one on a redirection. */
  #send(
    route: number,
    commands: readonly Issued[],
    transforms: (Transform<unknown> | null)[],
    asBuffer: boolean[],
    transaction: boolean,
  ): Promise<Reply[]> {
    const encoder = new CommandEncoder(), starts: number[] = [];
    for (const c of commands) {
      starts.push(encoder.length);
      encoder.add(c.command, c.args as Arg[]);
    }
    const ids: number[] = [];
    const promise = this.#host.core().group(route, encoder, starts, transforms, asBuffer, ids);
    this.#host.issued(ids, transaction ? [] : commands);
    return promise;
  }
}
