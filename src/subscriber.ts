/**
 * A pool's subscriptions: one connection of their own (added to the pool
 * when the first is made, given back when the last ends), the names each
 * family is subscribed to with the subscriptions that hold them, messages
 * handed to those subscriptions, and, after the connection was lost, the
 * subscriptions made again and the gap reported.
 */
import { HandOver, Role, Status } from "../ffi/abi.ts";
import { ReplyError } from "./errors.ts";
import type { ConnectionEvents } from "./events.ts";
import type { ConnectionEvent } from "./records.ts";
import {
  chunks,
  FAMILIES,
  type Message,
  type MessageListener,
  PubSubReader,
  type SubscribeOptions,
  type Subscription,
  type SubscriptionHost,
  type SubscriptionKind,
} from "./pubsub.ts";
import { type AnySubscription, SubscriptionBook } from "./subscription_book.ts";
import type { Reply } from "./types.ts";

/** What the subscriber needs of its pool's core. */
export interface SubscriberCore {
  addConnection(settings: Uint8Array, role: number, handOver: number | null): number;
  removeConnection(connection: number): void;
  pubsubCall(route: number, command: string, names: readonly string[], flags: number): Promise<Reply>;
  pause(connection: number, paused: boolean): void;
  hold(delta: 1 | -1): void;
}

/** Told when a lost subscriber connection is back: messages published from `since` to `until` were lost. */
export type Gap = ConnectionEvents["gap"];

/** A confirmed list of confirmations, or the server's refusal. */
export function checkConfirmed(reply: Reply): void {
  if (Array.isArray(reply)) { for (const item of reply) if (item instanceof ReplyError) throw item; }
}

export class Subscriber implements SubscriptionHost {
  readonly #core: SubscriberCore;
  /** The subscriber connection's settings: the server's now (a sentinel pool's moves at a failover). */
  readonly #settings: () => Uint8Array;
  /** The subscriber connection, or -1. */
  #connection = -1;
  /** The live subscriptions and the names they hold; the connection is paused while a queue is full. */
  readonly #book: SubscriptionBook;
  /** When the connection was seen lost (0: it was not). */
  #lostAt = 0;
  /** Told of each gap. */
  onGap: ((gap: Gap) => void) | null = null;
  readonly #reader = new PubSubReader();

  constructor(core: SubscriberCore, connectionSettings: () => Uint8Array) {
    this.#core = core;
    this.#settings = connectionSettings;
    this.#book = new SubscriptionBook((delta) => core.hold(delta));
  }

  /** The subscriber connection's index, or -1 when there is none. */
  get connection(): number {
    return this.#connection;
  }

  async subscribe<T extends string | Uint8Array>(
    kind: SubscriptionKind,
    channels: string | string[],
    listener: MessageListener<T> | undefined,
    asBuffer: boolean,
    options: SubscribeOptions | undefined,
  ): Promise<Subscription<T>> {
    const family = FAMILIES[kind];
    const subscription = this.#book.open(this, kind, channels, listener, asBuffer, options);
    const sub = subscription as unknown as AnySubscription, names = subscription.names;
    try {
      if (this.#connection < 0) {
        this.#connection = this.#open();
      }
      // Always sent, even for names already held: the confirmation says this subscription is in place.
      const route = this.#connection;
      await Promise.all(
        chunks(names).map((part) =>
          this.#core.pubsubCall(route, family.subscribe, part, family.subscribeFlag).then(checkConfirmed)
        ),
      );
    } catch (e) {
      await this.unsubscribe(sub);
      throw e;
    }
    return subscription;
  }

  /** Ends a subscription; the names no other subscription holds are unsubscribed. */
  async unsubscribe(sub: AnySubscription): Promise<void> {
    const dropped = this.#book.close(sub);
    if (dropped === null) return;
    if (this.#book.size === 0) {
      // Nothing is left: closing the connection unsubscribes everything at once.
      this.#giveBack();
      return;
    }
    const family = FAMILIES[sub.kind], route = this.#connection;
    const calls = chunks(dropped).map((part) =>
      this.#core.pubsubCall(route, family.unsubscribe, part, family.unsubscribeFlag)
    );
    // A connection lost meanwhile unsubscribed them too: failures change nothing.
    await Promise.allSettled(calls);
  }

  #open(): number {
    return this.#core.addConnection(this.#settings(), Role.DIRECT, HandOver.PARSE_ASIDE);
  }

  /**
   * The pool moved to another server (a sentinel pool's failover; `core` now reaches the new one, the old one's
   * connection closes with it): the subscriber connection is opened there, and once it is up every name is
   * subscribed again and the gap reported, as after a reconnect.
   */
  moved(): void {
    if (this.#connection < 0) return;
    if (this.#lostAt === 0) this.#lostAt = Date.now();
    this.#connection = this.#open();
    // A consumer still behind keeps the new connection paused, as it kept the old one.
    if (this.#book.paused) this.#core.pause(this.#connection, true);
  }

  #giveBack(): void {
    const connection = this.#connection;
    this.#connection = -1;
    this.#lostAt = 0;
    this.#book.clearFull();
    if (connection >= 0) this.#core.removeConnection(connection);
  }

  pressure(sub: AnySubscription, full: boolean): void {
    const paused = this.#book.pressure(sub, full);
    if (paused !== null && this.#connection >= 0) this.#core.pause(this.#connection, paused);
  }

  /** A push record: a message for subscriptions, or a push for `onPush`. Returns whether it was taken. */
  push(bytes: Uint8Array, start: number): boolean {
    const reader = this.#reader;
    if (!reader.read(bytes, start) || reader.family === null) return false;
    deliverMessage(reader, this.#book.holders(reader.family, reader.key));
    return true;
  }

  /** A connection event of the pool: the subscriber connection lost, or back (then subscribed again). */
  event(event: ConnectionEvent): void {
    if (event.connection !== this.#connection) return;
    if (event.type === "down" && event.status !== Status.ERR_CLOSED) {
      if (this.#lostAt === 0) this.#lostAt = Date.now();
    } else if (event.type === "up" && this.#lostAt !== 0) {
      void this.#resubscribe(this.#connection, this.#lostAt);
    }
  }

  /** Subscribes again to every name held, then reports the gap; a failure waits for the next `up`. */
  async #resubscribe(connection: number, since: number): Promise<void> {
    const calls: Promise<void>[] = [];
    for (const family of Object.values(FAMILIES)) {
      for (const part of chunks([...this.#book.names[family.kind].keys()])) {
        calls.push(
          this.#core.pubsubCall(connection, family.subscribe, part, family.subscribeFlag).then(checkConfirmed),
        );
      }
    }
    try {
      await Promise.all(calls);
    } catch {
      return; // lost again: the next `up` tries again
    }
    if (this.#connection !== connection || this.#lostAt !== since) return;
    this.#lostAt = 0;
    this.onGap?.({ connection, since, until: Date.now() });
  }

  /** The pool closes: every subscription ends (the pool closes the connection). */
  close(): void {
    this.#book.endAll();
    this.#connection = -1;
  }
}

/**
 * Hands the message `reader` just read to the subscriptions holding its name (none: it was unsubscribed while on
 * its way), the payload made once per kind (text, bytes). For the pool's subscriber and the cluster's.
 */
export function deliverMessage(reader: PubSubReader, subs: readonly AnySubscription[] | undefined): void {
  if (subs === undefined) return;
  const channel = reader.channel!, family = reader.family;
  if (subs.length === 1) {
    const sub = subs[0]!;
    const message = sub.asBuffer ? reader.copy() : reader.text();
    sub.deliver(family === "pattern" ? { channel, message, pattern: reader.key } : { channel, message });
    return;
  }
  let text: Message<string> | undefined, binary: Message<Uint8Array> | undefined;
  for (const sub of subs) {
    if (sub.asBuffer) {
      binary ??= family === "pattern"
        ? { channel, message: reader.copy(), pattern: reader.key }
        : { channel, message: reader.copy() };
      sub.deliver(binary);
    } else {
      text ??= family === "pattern"
        ? { channel, message: reader.text(), pattern: reader.key }
        : { channel, message: reader.text() };
      sub.deliver(text);
    }
  }
}
