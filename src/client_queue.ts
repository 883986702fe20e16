/**
 * A synchronous client's own queue, the seed's way of batching: `addCommand` as many times as needed, then
 * `execute()`, one round trip for all. The queue is a pipeline the client makes (on its connection, split by node
 * on a cluster, on the current master behind sentinels), kept between batches.
 */
import { ScanningClientCommands } from "./scanning.ts";
import type { Arg, Reply } from "./types.ts";

/** What the queue needs of a client's pipelines. */
export interface QueuePipeline {
  addCommand(command: string, ...args: Arg[]): unknown;
  execute(): Reply[];
  executeBuffer(): Reply[];
  discard(): void;
}

/** A synchronous client with `addCommand` and `execute()`. */
export abstract class QueueingClientCommands extends ScanningClientCommands {
  #queue: QueuePipeline | null = null;

  /** A new pipeline of this client's. */
  abstract pipeline(): QueuePipeline;

  /** Throws `ClosedError` once the client is closed. */
  protected abstract assertOpen(): void;

  /** Queues a command on the client's own pipeline, sent by `execute()`. */
  addCommand(command: string, ...args: Arg[]): this {
    this.assertOpen();
    (this.#queue ??= this.pipeline()).addCommand(command, ...args);
    return this;
  }

  /** Sends the commands queued with `addCommand` and returns their replies in order, errors in place. */
  execute(): Reply[] {
    this.assertOpen();
    return this.#queue === null ? [] : this.#queue.execute();
  }

  /** As `execute()`, with bulk strings returned as `Uint8Array`. */
  executeBuffer(): Reply[] {
    this.assertOpen();
    return this.#queue === null ? [] : this.#queue.executeBuffer();
  }

  /** Forgets what was queued and not executed (the client closes). */
  protected discardQueue(): void {
    this.#queue?.discard();
  }
}
