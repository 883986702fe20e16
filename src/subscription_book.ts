/**
 * The subscriptions of a pool, single-node or cluster, as one book: each
 * live subscription, the names each family is subscribed to with the
 * subscriptions that hold them, whether any keeps the process alive, and
 * which have a full queue (their connections then pause).
 */
import {
  channelNames,
  FAMILIES,
  type MessageListener,
  type SubscribeOptions,
  Subscription,
  type SubscriptionHost,
  type SubscriptionKind,
} from "./pubsub.ts";

/** A subscription whatever its payload type. */
export type AnySubscription = Subscription<string | Uint8Array>;

export class SubscriptionBook {
  /** Per family: each name subscribed to, with the subscriptions that hold it. */
  readonly names: Readonly<Record<SubscriptionKind, Map<string, Set<AnySubscription>>>> = {
    channel: new Map(),
    pattern: new Map(),
    shard: new Map(),
  };
  readonly #live = new Set<AnySubscription>();
  /** Live subscriptions that keep the process alive: while any do, the pool is held (`hold`). */
  #keeping = 0;
  /** Subscriptions whose queue is full. */
  readonly #full = new Set<AnySubscription>();
  readonly #hold: (delta: 1 | -1) => void;
  /**
   * The subscriptions holding the name the last message came for, as an
   * array: messages mostly come on few names, in runs. Forgotten whenever a
   * subscription is made or ends.
   */
  #lastFamily: SubscriptionKind | null = null;
  #lastName = "";
  #lastHolders: readonly AnySubscription[] = [];

  /** `hold`: counts a reason for the pool to keep the process alive (1) or its end (-1). */
  constructor(hold: (delta: 1 | -1) => void) {
    this.#hold = hold;
  }

  /** Live subscriptions. */
  get size(): number {
    return this.#live.size;
  }

  /** Whether a subscription's queue is full (the connections must pause). */
  get paused(): boolean {
    return this.#full.size > 0;
  }

  /**
   * The subscriptions holding `name` of `family`; undefined when none does
   * (a message unsubscribed while it was on its way). Names come interned by
   * the reader, so the last one is recognised by one comparison.
   */
  holders(family: SubscriptionKind, name: string): readonly AnySubscription[] | undefined {
    if (family === this.#lastFamily && name === this.#lastName) return this.#lastHolders;
    const held = this.names[family].get(name);
    if (held === undefined) return undefined;
    this.#lastFamily = family;
    this.#lastName = name;
    return this.#lastHolders = [...held];
  }

  #forgetLast(): void {
    this.#lastFamily = null;
    this.#lastHolders = [];
  }

  /** Makes a subscription on checked names and records it; its host then subscribes them on the server. */
  open<T extends string | Uint8Array>(
    host: SubscriptionHost,
    kind: SubscriptionKind,
    channels: string | string[],
    listener: MessageListener<T> | undefined,
    asBuffer: boolean,
    options: SubscribeOptions | undefined,
  ): Subscription<T> {
    const names = channelNames(channels, FAMILIES[kind].subscribe.toLowerCase());
    const subscription = new Subscription<T>(host, kind, names, listener ?? null, asBuffer, options);
    const sub = subscription as unknown as AnySubscription;
    this.#live.add(sub);
    this.#forgetLast();
    if (sub.keepsProcessAlive && this.#keeping++ === 0) this.#hold(1);
    const held = this.names[kind];
    for (const name of names) {
      const set = held.get(name);
      if (set === undefined) held.set(name, new Set([sub]));
      else set.add(sub);
    }
    return subscription;
  }

  /** Ends a subscription: the names no other subscription holds, to unsubscribe; null when it had ended. */
  close(sub: AnySubscription): string[] | null {
    if (!this.#live.delete(sub)) return null;
    this.#forgetLast();
    if (sub.keepsProcessAlive && --this.#keeping === 0) this.#hold(-1);
    sub.end();
    const held = this.names[sub.kind], dropped: string[] = [];
    for (const name of sub.names) {
      const set = held.get(name);
      if (set === undefined || !set.delete(sub) || set.size > 0) continue;
      held.delete(name);
      dropped.push(name);
    }
    return dropped;
  }

  /** A subscription's queue went full or back: the new paused state when it changed, else null. */
  pressure(sub: AnySubscription, full: boolean): boolean | null {
    const before = this.#full.size > 0;
    if (full) this.#full.add(sub);
    else this.#full.delete(sub);
    return this.paused === before ? null : this.paused;
  }

  /** Forgets which queues were full (their connection is gone). */
  clearFull(): void {
    this.#full.clear();
  }

  /** The pool closes: every subscription ends, the hold with them. */
  endAll(): void {
    if (this.#keeping > 0) this.#hold(-1);
    this.#keeping = 0;
    for (const sub of this.#live) sub.end();
    this.#live.clear();
    for (const held of Object.values(this.names)) held.clear();
    this.#forgetLast();
    this.#full.clear();
  }
}
