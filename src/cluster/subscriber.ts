/**
 * A cluster pool's subscriptions: shard channels (SSUBSCRIBE) on a
 * subscriber connection to the master serving their slot, channels and
 * patterns (SUBSCRIBE, PSUBSCRIBE: the cluster forwards every PUBLISH to
 * every node) on one node's. A connection is added per node as needed and
 * given back when its last name ends. A shard channel follows its slot: when
 * the node says it lost the slot (Redis 7 pushes `sunsubscribe`), answers
 * MOVED, or the slot map names another master (a failover), the channel is
 * subscribed on the new owner and the gap reported, as the single-node pool
 * does after a reconnect.
 */
import { HandOver, Role, Status } from "../../ffi/abi.ts";
import type { ConnectionEvent } from "../records.ts";
import {
  chunks,
  FAMILIES,
  type MessageListener,
  PubSubReader,
  type SubscribeOptions,
  type Subscription,
  type SubscriptionHost,
  type SubscriptionKind,
} from "../pubsub.ts";
import { checkConfirmed, deliverMessage, type Gap, type SubscriberCore } from "../subscriber.ts";
import { type AnySubscription, SubscriptionBook } from "../subscription_book.ts";
import type { Reply } from "../types.ts";
import { slotOf } from "./slot.ts";
import { unrefTimeout } from "./timers.ts";
import { type NodeAddress, redirectOf } from "./topology.ts";

/** What the cluster subscriber needs of its cluster pool. */
export interface ClusterSubscriberHost {
  readonly core: SubscriberCore;
  /** A subscriber connection's settings for a node (`host:port`). */
  settings(node: string): Uint8Array;
  /** The node serving a slot as master now. */
  master(slot: number): string;
  /** A master that is up, for channels and patterns. */
  anyMaster(): string;
  /** Whether a node is a master in the slot map and its connection is up. */
  serving(node: string): boolean;
  /** A node answered MOVED: the slot is `address`'s now. */
  moved(slot: number, address: NodeAddress): void;
  /** Reads the slot map again. */
  refresh(): Promise<void>;
  /** How many redirects one subscription call follows. */
  readonly maxRedirects: number;
  /** The first pause before trying again (doubled each time, at most a second). */
  readonly retryDelay: number;
}

/** One node's subscriber connection and the names subscribed on it. */
interface Place {
  readonly node: string;
  readonly connection: number;
  readonly held: Record<SubscriptionKind, Set<string>>;
  /** When the connection was seen lost (0: it was not). */
  lostAt: number;
}

/** Shard channels grouped by slot: one SSUBSCRIBE may name channels of one slot only. */
function bySlot(names: Iterable<string>): Map<number, string[]> {
  const groups = new Map<number, string[]>();
  for (const name of names) {
    const slot = slotOf(name), group = groups.get(slot);
    if (group === undefined) groups.set(slot, [name]);
    else group.push(name);
  }
  return groups;
}

const sleep = (ms: number) => new Promise<void>((resolve) => unrefTimeout(resolve, ms));

export class ClusterSubscriber implements SubscriptionHost {
  readonly #host: ClusterSubscriberHost;
  /** The live subscriptions and the names they hold; every subscriber connection pauses while a queue is full. */
  readonly #book: SubscriptionBook;
  /** Per family: each name subscribed to, with the subscriptions that hold it (the book's). */
  readonly #names: SubscriptionBook["names"];
  readonly #places = new Map<string, Place>();
  readonly #byConnection = new Map<number, Place>();
  /** Where channels and patterns are subscribed, or null. */
  #general: Place | null = null;
  /** Where each shard channel is subscribed now. */
  readonly #shardPlace = new Map<string, Place>();
  /** Shard channels that lost their node, with when: they are subscribed again on their slot's new master. */
  readonly #homeless = new Map<string, number>();
  #rehoming: Promise<void> | null = null;
  #closed = false;
  readonly #reader = new PubSubReader();
  /** Told of each gap: messages published from `since` to `until` on the names now on `connection` were lost. */
  onGap: ((gap: Gap) => void) | null = null;

  constructor(host: ClusterSubscriberHost) {
    this.#host = host;
    this.#book = new SubscriptionBook((delta) => host.core.hold(delta));
    this.#names = this.#book.names;
  }

  async subscribe<T extends string | Uint8Array>(
    kind: SubscriptionKind,
    channels: string | string[],
    listener: MessageListener<T> | undefined,
    asBuffer: boolean,
    options: SubscribeOptions | undefined,
  ): Promise<Subscription<T>> {
    const subscription = this.#book.open(this, kind, channels, listener, asBuffer, options);
    const sub = subscription as unknown as AnySubscription, names = subscription.names;
    try {
      // Always sent, even for names already held: the confirmation says this subscription is in place.
      if (kind === "shard") {
        await Promise.all([...bySlot(names)].map(([slot, group]) => this.#placeShards(slot, group)));
      } else {
        this.#general ??= this.#place(this.#host.anyMaster());
        await this.#send(this.#general, kind, names);
      }
    } catch (e) {
      await this.unsubscribe(sub);
      throw e;
    }
    this.#giveBackEmpty(); // a node that answered MOVED holds nothing now
    return subscription;
  }

  /** Ends a subscription; the names no other subscription holds are unsubscribed on their nodes. */
  async unsubscribe(sub: AnySubscription): Promise<void> {
    const dropped = this.#book.close(sub);
    if (dropped === null) return;
    const family = FAMILIES[sub.kind], calls: Promise<unknown>[] = [];
    const unsubscribe = (place: Place, names: string[]) => {
      for (const name of names) place.held[sub.kind].delete(name);
      if (this.#book.size === 0) return; // every connection goes below: that unsubscribes everything
      for (const part of chunks(names)) {
        calls.push(this.#host.core.pubsubCall(place.connection, family.unsubscribe, part, family.unsubscribeFlag));
      }
    };
    if (sub.kind === "shard") {
      for (const name of dropped) this.#homeless.delete(name);
      for (const group of bySlot(dropped).values()) {
        const at = new Map<Place, string[]>();
        for (const name of group) {
          const place = this.#shardPlace.get(name);
          if (place === undefined) continue;
          this.#shardPlace.delete(name);
          const list = at.get(place);
          if (list === undefined) at.set(place, [name]);
          else list.push(name);
        }
        for (const [place, names] of at) unsubscribe(place, names);
      }
    } else if (this.#general !== null) {
      unsubscribe(this.#general, dropped);
    }
    // A connection lost meanwhile unsubscribed them too: failures change nothing.
    await Promise.allSettled(calls);
    this.#giveBackEmpty();
  }

  pressure(sub: AnySubscription, full: boolean): void {
    const paused = this.#book.pressure(sub, full);
    if (paused !== null) { for (const place of this.#places.values()) this.#host.core.pause(place.connection, paused); }
  }

  /** A push record: a message, or a node's word that it unsubscribed shard channels. Whether it was taken. */
  push(bytes: Uint8Array, start: number, connection: number): boolean {
    const reader = this.#reader;
    if (!reader.read(bytes, start)) return false;
    if (reader.family !== null) {
      deliverMessage(reader, this.#book.holders(reader.family, reader.key));
      return true;
    }
    const place = this.#byConnection.get(connection);
    if (place === undefined || reader.type !== "sunsubscribe") return false;
    // Not asked for (ours are confirmations their calls take): the node lost the channel's slot.
    const name = reader.channel;
    if (name !== null && this.#shardPlace.get(name) === place) this.#evict(place, [name], Date.now());
    this.#rehome();
    return true;
  }

  /** A connection event of the pool: a subscriber connection lost, or back (its names subscribed again). */
  event(event: ConnectionEvent): void {
    const place = this.#byConnection.get(event.connection);
    if (place === undefined) return;
    if (event.type === "down" && event.status !== Status.ERR_CLOSED) {
      if (place.lostAt === 0) place.lostAt = Date.now();
    } else if (event.type === "up" && place.lostAt !== 0) {
      const since = place.lostAt;
      place.lostAt = 0;
      // Shard channels go where the slot map says now (the node may have come back as a replica).
      this.#evict(place, [...place.held.shard], since);
      this.#rehome();
      if (place === this.#general) void this.#resubscribeGeneral(place, since);
    }
  }

  /** The slot map was read again: names on a node that no longer serves them move to the one that does. */
  topologyChanged(): void {
    if (this.#closed) return;
    for (const place of this.#places.values()) {
      const moved = [...place.held.shard].filter((name) => this.#host.master(slotOf(name)) !== place.node);
      if (moved.length > 0) {
        this.#evict(place, moved, place.lostAt || Date.now());
        if (place.lostAt === 0) this.#unsubscribeStale(place, moved);
      }
    }
    const general = this.#general;
    if (general !== null && general.lostAt !== 0 && !this.#host.serving(general.node)) {
      // Its node is down and no longer a master: channels and patterns go to one that is.
      const node = this.#host.anyMaster();
      if (node !== general.node) {
        const next = this.#place(node);
        for (const kind of ["channel", "pattern"] as const) {
          for (const name of general.held[kind]) next.held[kind].add(name);
          general.held[kind].clear();
        }
        this.#general = next;
        void this.#resubscribeGeneral(next, general.lostAt);
      }
    }
    this.#rehome();
    this.#giveBackEmpty();
  }

  /** The pool closes: every subscription ends (the pool closes the connections). */
  close(): void {
    this.#closed = true;
    this.#book.endAll();
    this.#places.clear();
    this.#byConnection.clear();
    this.#shardPlace.clear();
    this.#homeless.clear();
    this.#general = null;
  }

  /** Subscriber connections open now, as `host:port` (for tests and metrics). */
  get nodes(): string[] {
    return [...this.#places.keys()];
  }

  /** A node's subscriber connection, added when missing (paused when a subscription is full). */
  #place(node: string): Place {
    let place = this.#places.get(node);
    if (place === undefined) {
      const connection = this.#host.core.addConnection(this.#host.settings(node), Role.DIRECT, HandOver.PARSE_ASIDE);
      place = { node, connection, held: { channel: new Set(), pattern: new Set(), shard: new Set() }, lostAt: 0 };
      this.#places.set(node, place);
      this.#byConnection.set(connection, place);
      if (this.#book.paused) this.#host.core.pause(connection, true);
    }
    return place;
  }

  /** Subscribes one family's names on a place; rejects with the server's refusal (MOVED for a shard channel). */
  async #send(place: Place, kind: SubscriptionKind, names: readonly string[]): Promise<void> {
    const family = FAMILIES[kind], core = this.#host.core;
    for (const name of names) place.held[kind].add(name);
    await Promise.all(
      chunks(names).map((part) =>
        core.pubsubCall(place.connection, family.subscribe, part, family.subscribeFlag).then((reply: Reply) => {
          if (reply instanceof Error) throw reply;
          checkConfirmed(reply);
        })
      ),
    );
  }

  /**
   * Subscribes shard channels of one slot on its master, following MOVED (and waiting out TRYAGAIN or
   * CLUSTERDOWN) at most `maxRedirects` times; returns the place they are on, or null when none is wanted any more
   * (unsubscribed while it waited to try again).
   */
  async #placeShards(slot: number, wanted: string[]): Promise<Place | null> {
    for (let attempt = 0;; attempt++) {
      const names = wanted.filter((name) => this.#names.shard.has(name));
      if (names.length === 0 || this.#closed) return null;
      const place = this.#place(this.#host.master(slot));
      for (const name of names) {
        const before = this.#shardPlace.get(name);
        if (before !== undefined && before !== place) before.held.shard.delete(name);
        this.#shardPlace.set(name, place);
      }
      try {
        await this.#send(place, "shard", names);
        return place;
      } catch (e) {
        const redirect = redirectOf(e as Reply);
        if (redirect === null || attempt >= this.#host.maxRedirects || this.#closed) throw e;
        for (const name of names) place.held.shard.delete(name);
        if (redirect.kind === "moved" && redirect.address.host !== "?") {
          this.#host.moved(redirect.slot, redirect.address);
        } else {
          await sleep(Math.min(1_000, this.#host.retryDelay * 2 ** attempt));
          await this.#host.refresh().catch(() => {});
        }
      }
    }
  }

  /** Shard channels that are no longer subscribed on `place` (its node lost them or is down). */
  #evict(place: Place, names: string[], since: number): void {
    for (const name of names) {
      place.held.shard.delete(name);
      if (this.#shardPlace.get(name) === place) this.#shardPlace.delete(name);
      if (this.#names.shard.has(name) && !this.#homeless.has(name)) this.#homeless.set(name, since);
    }
  }

  /** Unsubscribes names from a live node that no longer serves their slot (it may not know yet). */
  #unsubscribeStale(place: Place, names: string[]): void {
    const family = FAMILIES.shard;
    for (const group of bySlot(names).values()) {
      void this.#host.core.pubsubCall(place.connection, family.unsubscribe, group, family.unsubscribeFlag)
        .catch(() => {});
    }
  }

  /**
   * Subscribes the homeless shard channels on their slots' masters (the slot map read again first), trying again
   * with backoff until each is placed or no longer wanted; reports a gap per node they went to.
   */
  #rehome(): void {
    if (this.#rehoming !== null || this.#homeless.size === 0 || this.#closed) return;
    this.#rehoming = (async () => {
      for (let round = 0; this.#homeless.size > 0 && !this.#closed; round++) {
        if (round > 0) await sleep(Math.min(1_000, this.#host.retryDelay * 2 ** round));
        await this.#host.refresh().catch(() => {});
        const homeless = [...this.#homeless.keys()].filter((name) => this.#names.shard.has(name));
        await Promise.all([...bySlot(homeless)].map(async ([slot, group]) => {
          try {
            const place = await this.#placeShards(slot, group);
            if (place === null) return;
            let since = Infinity;
            for (const name of group) {
              if (this.#shardPlace.get(name) !== place) continue; // moved again meanwhile
              since = Math.min(since, this.#homeless.get(name) ?? Infinity);
              this.#homeless.delete(name);
            }
            if (since !== Infinity && !this.#closed) {
              this.onGap?.({ connection: place.connection, since, until: Date.now() });
            }
          } catch {
            // Not placed: the next round tries again.
          }
        }));
        for (const name of this.#homeless.keys()) if (!this.#names.shard.has(name)) this.#homeless.delete(name);
        this.#giveBackEmpty();
      }
    })().finally(() => {
      this.#rehoming = null;
      if (this.#homeless.size > 0 && !this.#closed) this.#rehome();
    });
  }

  /** Subscribes the channels and patterns again on the general place after a loss, then reports the gap. */
  async #resubscribeGeneral(place: Place, since: number): Promise<void> {
    try {
      await Promise.all((["channel", "pattern"] as const).map((kind) => {
        const names = [...place.held[kind]];
        return names.length === 0 ? undefined : this.#send(place, kind, names);
      }));
    } catch {
      return; // lost again: the next `up` tries again
    }
    if (this.#general === place && !this.#closed) {
      this.onGap?.({ connection: place.connection, since, until: Date.now() });
    }
  }

  /** Closes the connections that hold no name any more. */
  #giveBackEmpty(): void {
    if (this.#closed) return;
    for (const place of [...this.#places.values()]) {
      const { channel, pattern, shard } = place.held;
      if (channel.size + pattern.size + shard.size > 0) continue;
      if (place === this.#general) {
        if (this.#names.channel.size + this.#names.pattern.size > 0) continue;
        this.#general = null;
      }
      this.#places.delete(place.node);
      this.#byConnection.delete(place.connection);
      this.#host.core.removeConnection(place.connection);
    }
  }
}
