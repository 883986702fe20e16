/**
 * The Pub/Sub methods and connection events of an asynchronous pool (single-node, cluster, sentinel): each
 * family (channels, patterns, shard channels) with text or byte payloads,
 * all opening a subscription the way the pool at hand places them.
 */
import { ScanningCommands } from "./scanning.ts";
import type { MessageListener, SubscribeOptions, Subscription, SubscriptionKind } from "./pubsub.ts";
import { type ConnectionEvents, Emitter, type Listener } from "./events.ts";

/** A pool with Pub/Sub: `Pool` and `ClusterPool`. */
export abstract class SubscribingCommands extends ScanningCommands {
  /** The pool's connection events, emitted by the pool (and `gap` by its subscriptions). */
  protected readonly events: Emitter = new Emitter();

  /**
   * Listens to the pool's connections: `ready` (up, handshake replayed), `error` (a connection broke or could not
   * be made), `reconnecting` (the next dial's delay), `close`, and `gap` (subscriptions made again after a lost
   * connection or a failover). For logs and metrics: calls reject on their own whether anyone listens or not. On a
   * cluster pool `connection` is a node connection's index; on a sentinel pool, one of the current server's.
   *
   * @example
   * ```ts
   * pool.on("error", ({ connection, error }) => console.warn(`redis connection ${connection}: ${error.message}`));
   * ```
   */
  on<K extends keyof ConnectionEvents>(type: K, listener: Listener<K>): this {
    this.events.on(type, listener);
    return this;
  }

  /** Stops a listener added with `on`. */
  off<K extends keyof ConnectionEvents>(type: K, listener: Listener<K>): this {
    this.events.off(type, listener);
    return this;
  }

  /**
   * Subscribes to channels (SUBSCRIBE); resolves once the server confirmed.
   * Messages go to `listener`, or, without one, to whoever iterates the
   * subscription (`for await (const { channel, message } of sub)`).
   * Subscriptions share a connection of their own (on a cluster: one node's,
   * as the cluster forwards every PUBLISH to all nodes), opened by the first
   * and closed when the last ends; after a reconnect they are made again and
   * the pool emits `gap` (messages published meanwhile are lost). A slow
   * consumer is bounded as `options` say (default: reading pauses past 10,000
   * waiting messages). A live subscription keeps the process alive;
   * `unsubscribe()` or `close()` lets it exit.
   *
   * @example
   * ```ts
   * const sub = await pool.subscribe(["news", "alerts"], ({ channel, message }) => console.log(channel, message));
   * await pool.publish("news", "hello"); // 1 (one subscriber)
   * await sub.unsubscribe();
   * ```
   */
  subscribe(
    channels: string | string[],
    listener?: MessageListener<string>,
    options?: SubscribeOptions,
  ): Promise<Subscription<string>> {
    return this.openSubscription("channel", channels, listener, false, options);
  }

  /** As `subscribe`, with each message's payload as bytes (binary-safe). */
  subscribeBuffer(
    channels: string | string[],
    listener?: MessageListener<Uint8Array>,
    options?: SubscribeOptions,
  ): Promise<Subscription<Uint8Array>> {
    return this.openSubscription("channel", channels, listener, true, options);
  }

  /**
   * Subscribes to channel patterns (PSUBSCRIBE: `news.*`); each message
   * carries the `pattern` that matched. Otherwise as `subscribe`.
   */
  psubscribe(
    patterns: string | string[],
    listener?: MessageListener<string>,
    options?: SubscribeOptions,
  ): Promise<Subscription<string>> {
    return this.openSubscription("pattern", patterns, listener, false, options);
  }

  /** As `psubscribe`, with payloads as bytes. */
  psubscribeBuffer(
    patterns: string | string[],
    listener?: MessageListener<Uint8Array>,
    options?: SubscribeOptions,
  ): Promise<Subscription<Uint8Array>> {
    return this.openSubscription("pattern", patterns, listener, true, options);
  }

  /**
   * Subscribes to shard channels (SSUBSCRIBE, Redis 7; published with `spublish`). Otherwise as `subscribe`.
   * On a cluster each goes to the master serving its slot (a subscriber connection per node as needed) and
   * follows the slot: when it migrates or its master fails over, the channel is subscribed on the new master and
   * the pool emits `gap`.
   */
  ssubscribe(
    shardChannels: string | string[],
    listener?: MessageListener<string>,
    options?: SubscribeOptions,
  ): Promise<Subscription<string>> {
    return this.openSubscription("shard", shardChannels, listener, false, options);
  }

  /** As `ssubscribe`, with payloads as bytes. */
  ssubscribeBuffer(
    shardChannels: string | string[],
    listener?: MessageListener<Uint8Array>,
    options?: SubscribeOptions,
  ): Promise<Subscription<Uint8Array>> {
    return this.openSubscription("shard", shardChannels, listener, true, options);
  }

  /** The pool's subscriptions, or why it takes none now (it is closed). */
  protected abstract subscriptions(): Subscriptions | Error;

  /** Opens one subscription of a family, as the pool places them; rejects rather than throws. */
  private openSubscription<T extends string | Uint8Array>(
    kind: SubscriptionKind,
    names: string | string[],
    listener: MessageListener<T> | undefined,
    asBuffer: boolean,
    options: SubscribeOptions | undefined,
  ): Promise<Subscription<T>> {
    const subscriptions = this.subscriptions();
    if (subscriptions instanceof Error) return Promise.reject(subscriptions);
    try {
      return subscriptions.subscribe(kind, names, listener, asBuffer, options);
    } catch (e) {
      return Promise.reject(e);
    }
  }
}

/** Where a pool's subscriptions are made: its subscriber (single-node or cluster). */
export interface Subscriptions {
  subscribe<T extends string | Uint8Array>(
    kind: SubscriptionKind,
    names: string | string[],
    listener: MessageListener<T> | undefined,
    asBuffer: boolean,
    options: SubscribeOptions | undefined,
  ): Promise<Subscription<T>>;
}
