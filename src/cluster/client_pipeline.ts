/**
 * A pipeline on the synchronous cluster client: its commands are split by
 * node as they are queued (the pool's cluster pipeline's PipelineSplit),
 * every node's part but the last is streamed out first so that the nodes
 * work at the same time, then each node's replies are read; a command
 * answered MOVED, ASK, TRYAGAIN or CLUSTERDOWN is sent again on its own as a
 * single command would be, and the replies come back in queue order. A part
 * none of which reached its node (the node is down) is sent command by
 * command, each waiting for its slot to be served again as a single command
 * does.
 */
import type { ExecArgs, Executed, RawExecuted, RawReplies, Replies } from "../commands.ts";
import { RecordStash, type Streamed } from "../connection.ts";
import { CommandEncoder } from "../encoder.ts";
import { ConnectionError, ReplyError } from "../errors.ts";
import type { KeyPrefix } from "../key_positions.ts";
import type { PipelineTarget } from "../pipeline.ts";
import { applyTransforms } from "../replies.ts";
import { execReply, notInTransaction } from "../transaction.ts";
import type { Reply } from "../types.ts";
import { inQueueOrder, type Issued, SplitPipeline } from "./pipeline.ts";
import { redirectOf } from "./topology.ts";

/** What the synchronous cluster pipeline holds: `R` its commands' result types, `Q` an open MULTI's. */
export type ClusterClientQueue<R extends unknown[], Q extends unknown[] | null> = {
  kind: "clusterClient";
  slots: R;
  exec: Q;
};

/** What the pipeline needs of its synchronous cluster client; `N` is a node. */
export interface ClientPipelineHost<N> {
  /** Whether reads may go to replicas. */
  replicaReads: boolean;
  /** The `keyPrefix` option. */
  keyPrefix: KeyPrefix | null;
  /** The node for a slot (`read`: the command only reads). */
  route(slot: number, read: boolean): N;
  /** A node's connection. */
  target(node: N): PipelineTarget;
  /** Reads the slot map first when a node failed since; throws when the client is closed. */
  prepare(): void;
  /** Sends a command again after the redirection `error` it got from `node`; its reply, or its error reply. */
  follow(issued: Issued, node: N, error: ReplyError, asBuffer: boolean): Reply;
  /**
   * A transaction sent alone, refused by a redirection (MOVED, ASK, TRYAGAIN, CLUSTERDOWN: nothing of it ran), sent
   * again whole where it is told to; the replies of the attempt that ran or failed otherwise (or the last one).
   */
  followTransaction(issued: readonly Issued[], node: N, replies: Reply[], asBuffer: readonly boolean[]): Reply[];
  /**
   * Sends each of a part's commands on its own after its node could not be reached (none of them left), waiting as
   * a single command does for its slot to be served again; their replies, or error replies, in order.
   */
  resend(issued: readonly Issued[], asBuffer: readonly boolean[]): Reply[];
}

/** A streamed part's encoder: its commands went out already. */
const NOTHING_MORE = new CommandEncoder();

/**
 * A pipeline on a synchronous cluster client, from `cluster.pipeline()`: queue commands with its methods, then
 * `execute()`. Commands for different nodes run at the same time; replies come back in queue order.
 *
 * @example
 * ```ts
 * const [ok, value] = cluster.pipeline().set("a", "1").get("b").execute();
 * ```
 */
export class ClusterClientPipeline<R extends unknown[] = [], Q extends unknown[] | null = null>
  extends SplitPipeline<ClusterClientQueue<R, Q>, unknown> {
  readonly #host: ClientPipelineHost<unknown>;

  /** @internal Pipelines come from `cluster.pipeline()`. */
  constructor(host: ClientPipelineHost<unknown>) {
    super((slot, read) => host.route(slot, read), host.replicaReads, host.keyPrefix, true);
    this.#host = host;
  }

  /** Sends the queued commands; returns their replies in queue order, error replies in place. */
  execute(): Replies<R> {
    return this.#execute(false) as Replies<R>;
  }

  /** As `execute()`, with every bulk string as `Uint8Array` and no typed method's shaping. */
  executeBuffer(): RawReplies<R> {
    return this.#execute(true) as RawReplies<R>;
  }

  /** Ends the transaction `multi()` began (its keys in one slot): as `Pipeline.exec`. */
  exec(..._noMultiOpenCallExecuteInstead: ExecArgs<Q>): Executed<Q> {
    return execReply(this.#close(false)) as Executed<Q>;
  }

  /** As `exec()`, with every bulk string as `Uint8Array` and no typed method's shaping. */
  execBuffer(..._noMultiOpenCallExecuteInstead: ExecArgs<Q>): RawExecuted<Q> {
    return execReply(this.#close(true)) as RawExecuted<Q>;
  }

  /** Queues EXEC after an open MULTI and executes. */
  #close(allBuffers: boolean): Reply[] {
    if (!this.split.inTransaction) throw notInTransaction();
    this.addCommand("EXEC");
    return this.#execute(allBuffers);
  }

  #execute(allBuffers: boolean): Reply[] {
    const host = this.#host;
    try {
      host.prepare();
    } catch (e) {
      this.discard();
      throw e;
    }
    const batch = this.split.take(allBuffers);
    if (batch === null) return [];
    const { parts, transforms, asBuffer, transaction, alone } = batch;
    const plans = parts.map((part) => part.plan(transforms, asBuffer).asBuffer);
    // Every part but the last goes out before any reply is read: the nodes work at the same time.
    const streamed = parts.map((part, p): Streamed | null => {
      if (p === parts.length - 1 || part.encoder.chunks !== 1) return null;
      const state: Streamed = { commands: 0, stash: new RecordStash() };
      host.target(part.route).stream(part.encoder, state);
      return state;
    });
    const answers = parts.map((part, p) => {
      const state = streamed[p]!;
      let replies: Reply[];
      try {
        replies = host.target(part.route).run(state === null ? part.encoder : NOTHING_MORE, plans[p]!, state);
      } catch (e) {
        // None of the part reached its node (it is down): each command waits for its slot's new node, on its own.
        // A transaction is not taken apart.
        if (!(e instanceof ConnectionError && e.unsent) || transaction) throw e;
        return host.resend(part.issued, plans[p]!);
      }
      // A transaction is not re-sent command by command; one alone is sent again whole when nothing of it ran.
      if (transaction) return alone ? host.followTransaction(part.issued, part.route, replies, plans[p]!) : replies;
      for (let k = 0; k < replies.length; k++) {
        const reply = replies[k];
        if (reply instanceof ReplyError && redirectOf(reply) !== null) {
          replies[k] = host.follow(part.issued[k]!, part.route, reply, plans[p]![k]!);
        }
      }
      return replies;
    });
    return applyTransforms(inQueueOrder(batch, answers), transforms);
  }
}
