/**
 * The synchronous client's Pub/Sub: the names it is subscribed to, the
 * messages read and not yet taken by `nextMessage`, and, after its
 * connection was lost, the subscriptions made again (on the next
 * `nextMessage`) with the gap reported.
 */
import { Call, Status } from "../ffi/abi.ts";
import type { Connection } from "./connection.ts";
import { CommandEncoder } from "./encoder.ts";
import { CpipeError, ReplyError } from "./errors.ts";
import type { ConnectionEvents } from "./events.ts";
import { channelNames, chunks, FAMILIES, type Message, PubSubReader, type SubscriptionKind } from "./pubsub.ts";
import type { ConnectionEvent } from "./records.ts";
import type { Reply } from "./types.ts";
import { decodeText } from "./decoder.ts";

/** Messages read along with replies (RESP3) and not taken wait here, the oldest dropped past this. */
const MAX_QUEUED = 10_000;

interface Received {
  family: SubscriptionKind;
  key: string;
  channel: string;
  payload: Uint8Array;
}

export class ClientSubscriber {
  readonly #connection: Connection;
  readonly #names: Record<SubscriptionKind, Set<string>> = { channel: new Set(), pattern: new Set(), shard: new Set() };
  #queue: Received[] = [];
  #head = 0;
  /** When the connection was seen lost while subscribed (0: it was not). */
  #lostAt = 0;
  readonly #reader = new PubSubReader();
  readonly #encoder = new CommandEncoder();
  readonly #calls = new Uint8Array(Call.SIZE);
  /** Messages dropped because MAX_QUEUED waited. */
  dropped = 0;
  /** Told of each gap. */
  onGap: ((gap: ConnectionEvents["gap"]) => void) | null = null;

  constructor(connection: Connection) {
    this.#connection = connection;
    connection.onPushRecord = (bytes, start) => this.#take(bytes, start);
  }

  /** The names subscribed to, by family. */
  get names(): Readonly<Record<SubscriptionKind, ReadonlySet<string>>> {
    return this.#names;
  }

  /** Names subscribed to, of every family. */
  get count(): number {
    return this.#names.channel.size + this.#names.pattern.size + this.#names.shard.size;
  }

  subscribe(kind: SubscriptionKind, names: unknown): void {
    const family = FAMILIES[kind];
    const list = channelNames(names, family.subscribe.toLowerCase());
    for (const part of chunks(list)) this.#call(family.subscribe, part, family.subscribeFlag, part.length);
    for (const name of list) this.#names[kind].add(name);
  }

  /** Unsubscribes from `names`, or from every name of the family when none is given. */
  unsubscribe(kind: SubscriptionKind, names: unknown): void {
    const family = FAMILIES[kind], held = this.#names[kind];
    const list = names === undefined ? [...held] : channelNames(names, family.unsubscribe.toLowerCase());
    // With no name the server confirms once, with a null channel.
    if (list.length === 0) this.#call(family.unsubscribe, [], family.unsubscribeFlag, 1);
    for (const part of chunks(list)) this.#call(family.unsubscribe, part, family.unsubscribeFlag, part.length);
    for (const name of list) held.delete(name);
    // Messages read before the confirmation are for names no longer wanted.
    this.#queue = this.#queue.slice(this.#head).filter((m) => m.family !== kind || held.has(m.key));
    this.#head = 0;
  }

  /** Sends one (un)subscription and checks its confirmations. */
  #call(command: string, names: string[], flags: number, replies: number): void {
    const encoder = this.#encoder;
    encoder.reset();
    encoder.add(command, names);
    const view = new DataView(this.#calls.buffer);
    view.setUint32(0, 0, true);
    view.setUint16(4, replies, true);
    view.setUint16(6, flags, true);
    const reply: Reply = this.#connection.run(encoder, false, null, this.#calls)[0]!;
    if (reply instanceof ReplyError) throw reply;
    if (replies > 1 && Array.isArray(reply)) { for (const item of reply) if (item instanceof ReplyError) throw item; }
  }

  /** A push record: a message to queue (true), or not Pub/Sub's (false). */
  #take(bytes: Uint8Array, start: number): boolean {
    const reader = this.#reader;
    if (!reader.read(bytes, start) || reader.family === null) return false;
    if (!this.#names[reader.family].has(reader.key)) return true; // unsubscribed while it was on its way
    if (this.#queue.length - this.#head >= MAX_QUEUED) {
      this.#head++;
      this.dropped++;
    }
    this.#queue.push({ family: reader.family, key: reader.key, channel: reader.channel!, payload: reader.copy() });
    return true;
  }

  /** The client's connection changed: lost while subscribed, the subscriptions are made again on the next wait. */
  event(event: ConnectionEvent): void {
    if (event.type === "down" && event.status !== Status.ERR_CLOSED && this.count > 0 && this.#lostAt === 0) {
      this.#lostAt = Date.now();
    }
  }

  /** The next message, waiting at most `timeoutMs`; null when none came. */
  next<T extends string | Uint8Array>(timeoutMs: number, asBuffer: boolean): Message<T> | null {
    if (typeof timeoutMs !== "number" || !(timeoutMs >= 0) || timeoutMs > 2 ** 31 - 1) {
      throw new TypeError(`cpipe: nextMessage takes a timeout in ms from 0 to 2^31-1, not ${timeoutMs}`);
    }
    if (this.count === 0 && this.#head === this.#queue.length) {
      throw new CpipeError("cpipe: nextMessage needs a subscription first (subscribe, psubscribe or ssubscribe)");
    }
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.#head < this.#queue.length) return this.#shape(this.#shift(), asBuffer) as Message<T>;
      if (this.#lostAt !== 0) this.#resubscribe();
      const left = deadline - Date.now();
      if (left < 0) return null;
      this.#connection.wait(Math.ceil(left));
      if (this.#head === this.#queue.length && this.#lostAt === 0 && Date.now() >= deadline) return null;
    }
  }

  #shift(): Received {
    const received = this.#queue[this.#head]!;
    this.#queue[this.#head++] = undefined as unknown as Received;
    if (this.#head === this.#queue.length) {
      this.#queue.length = 0;
      this.#head = 0;
    }
    return received;
  }

  #shape(received: Received, asBuffer: boolean): Message<string | Uint8Array> {
    const { channel, payload } = received;
    const message = asBuffer ? payload : decodeText(payload, 0, payload.length);
    return received.family === "pattern" ? { channel, message, pattern: received.key } : { channel, message };
  }

  /** Makes every subscription again (dialing when needed), then reports the gap; throws while the server is away. */
  #resubscribe(): void {
    const since = this.#lostAt;
    for (const family of Object.values(FAMILIES)) {
      for (const part of chunks([...this.#names[family.kind]])) {
        this.#call(family.subscribe, part, family.subscribeFlag, part.length);
      }
    }
    this.#lostAt = 0;
    this.onGap?.({ connection: 0, since, until: Date.now() });
  }
}
