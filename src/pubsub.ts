/**
 * Pub/Sub's parts shared by the pool and the synchronous client: the frames
 * the server sends (messages and confirmations, read straight from the
 * core's encoded replies), and a subscription with its bounded queue.
 */
import { Call } from "../ffi/abi.ts";
import { decodeText } from "./decoder.ts";

/** A message published on a channel one of your subscriptions covers. */
export interface Message<T extends string | Uint8Array = string> {
  /** The channel it was published on (a shard channel for `ssubscribe`). */
  channel: string;
  /** What was published: text, or bytes from the `…Buffer` variants. */
  message: T;
  /** For `psubscribe`: the pattern that matched. */
  pattern?: string;
}

/**
 * Called with each message, in the order they were published on a channel.
 * A listener that returns a promise gets the next message once it settles;
 * meanwhile messages wait in the subscription's queue (see `SubscribeOptions`).
 */
export type MessageListener<T extends string | Uint8Array = string> = (message: Message<T>) => void | Promise<void>;

/** What a subscription does with messages its consumer has not taken yet. */
export interface SubscribeOptions {
  /**
   * Messages that may wait for a slow listener or iterator (default 10,000).
   * Past it, `overflow` applies.
   */
  maxQueued?: number;
  /**
   * `"pause"` (default): the pool stops reading the subscriber connection
   * until the queue is half empty; messages wait in the server, whose
   * `client-output-buffer-limit pubsub` (32 MB hard, 8 MB for 60 s by default)
   * then disconnects a consumer that stays too slow: the pool reconnects,
   * subscribes again and emits `gap`. Every subscription on the connection
   * waits with it. `"dropOldest"`: the oldest waiting message is dropped and
   * counted in `dropped`; nothing else waits.
   */
  overflow?: "pause" | "dropOldest";
  /**
   * Whether the subscription keeps the process alive (default true: a message may come at any time). `false` for a
   * watcher the program does not wait on, as a timer's `unref()`: the process may exit while it lives.
   */
  keepProcessAlive?: boolean;
}

/** The three families of subscriptions. */
export type SubscriptionKind = "channel" | "pattern" | "shard";

/** A family's commands, call flags and message type. */
export interface Family {
  readonly kind: SubscriptionKind;
  readonly subscribe: string;
  readonly unsubscribe: string;
  readonly subscribeFlag: number;
  readonly unsubscribeFlag: number;
  /** The first element of its messages. */
  readonly message: string;
}

export const FAMILIES: Readonly<Record<SubscriptionKind, Family>> = {
  channel: {
    kind: "channel",
    subscribe: "SUBSCRIBE",
    unsubscribe: "UNSUBSCRIBE",
    subscribeFlag: Call.SUBSCRIBE,
    unsubscribeFlag: Call.UNSUBSCRIBE,
    message: "message",
  },
  pattern: {
    kind: "pattern",
    subscribe: "PSUBSCRIBE",
    unsubscribe: "PUNSUBSCRIBE",
    subscribeFlag: Call.PSUBSCRIBE,
    unsubscribeFlag: Call.PUNSUBSCRIBE,
    message: "pmessage",
  },
  shard: {
    kind: "shard",
    subscribe: "SSUBSCRIBE",
    unsubscribe: "SUNSUBSCRIBE",
    subscribeFlag: Call.SSUBSCRIBE,
    unsubscribeFlag: Call.SUNSUBSCRIBE,
    message: "smessage",
  },
};

/** A call owes one reply per channel, counted in 16 bits: longer lists go in several commands. */
export const MAX_NAMES_PER_COMMAND = 10_000;

/** `names` in commands of at most MAX_NAMES_PER_COMMAND each. */
export function chunks(names: readonly string[]): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < names.length; i += MAX_NAMES_PER_COMMAND) out.push(names.slice(i, i + MAX_NAMES_PER_COMMAND));
  return out;
}

/** Checks what a caller named: one name or a non-empty list of them, each a non-empty string. */
export function channelNames(names: unknown, what: string): string[] {
  const list = typeof names === "string" ? [names] : names;
  if (!Array.isArray(list) || list.length === 0) {
    throw new TypeError(`cpipe: ${what} takes a name or a non-empty array of names`);
  }
  for (const name of list) {
    if (typeof name !== "string" || name.length === 0) {
      throw new TypeError(`cpipe: ${what}: every name must be a non-empty string, not ${JSON.stringify(name)}`);
    }
  }
  return [...new Set(list as string[])];
}

/** A frame's first element, from its length and first byte: a message's family, "" for another frame. */
function messageFamily(bytes: Uint8Array, at: number, length: number): SubscriptionKind | "" {
  if (length === 7) return bytes[at] === 0x6d ? "channel" : ""; // "message"
  if (length !== 8 || bytes[at + 1] !== 0x6d) return ""; // "pmessage" / "smessage"
  return bytes[at] === 0x70 ? "pattern" : bytes[at] === 0x73 ? "shard" : "";
}

/** Entries of the name cache: a power of two. */
const NAMES_CACHED = 64;

/**
 * Reads Pub/Sub frames (an array or push whose first element names it) from
 * encoded replies, without building the reply: what a message needs is
 * taken once, the payload only as the subscriber wants it. Channel and
 * pattern names are interned: the same bytes give the same string, made once
 * (a small cache by length and first and last bytes; a miss only makes the
 * string anew).
 */
export class PubSubReader {
  #bytes: Uint8Array = new Uint8Array(0);
  #view = new DataView(this.#bytes.buffer);
  /** The frame's first element: "message", "pmessage", "smessage", "subscribe"… */
  type = "";
  /** For a message: its family. */
  family: SubscriptionKind | null = null;
  /** The name a subscription was made with: the channel, or the pattern of a pmessage. */
  key = "";
  /** The channel (null in the confirmation of an UNSUBSCRIBE of nothing). */
  channel: string | null = null;
  payloadStart = 0;
  payloadEnd = 0;
  readonly #cachedBytes: (Uint8Array | undefined)[] = new Array(NAMES_CACHED).fill(undefined);
  readonly #cachedText: string[] = new Array(NAMES_CACHED).fill("");

  /** Reads the frame at `start`; false when it is not a Pub/Sub frame. */
  read(bytes: Uint8Array, start: number): boolean {
    if (bytes !== this.#bytes) {
      this.#bytes = bytes;
      this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }
    const tag = bytes[start];
    if (tag !== 0x2a && tag !== 0x3e) return false; // '*' or '>'
    const view = this.#view, items = view.getUint32(start + 1, true);
    if (items < 3 || bytes[start + 5] !== 0x24) return false; // '$'
    let pos = start + 5;
    const typeLength = view.getUint32(pos + 1, true);
    const family = messageFamily(bytes, pos + 5, typeLength);
    if (family === "") {
      this.type = this.#text(pos);
      this.family = null;
      pos += 5 + typeLength;
      this.channel = bytes[pos] === 0x24 ? this.#text(pos) : null;
      this.key = this.channel ?? "";
      return true;
    }
    pos += 5 + typeLength;
    this.family = family;
    if (family === "pattern") {
      if (items < 4 || bytes[pos] !== 0x24) return false;
      this.type = "pmessage";
      this.key = this.#name(pos);
      pos += 5 + view.getUint32(pos + 1, true);
      if (bytes[pos] !== 0x24) return false;
      this.channel = this.#name(pos);
    } else {
      if (bytes[pos] !== 0x24) return false;
      this.type = family === "channel" ? "message" : "smessage";
      this.channel = this.key = this.#name(pos);
    }
    pos += 5 + view.getUint32(pos + 1, true);
    if (bytes[pos] !== 0x24) return false; // a payload is a bulk string
    this.payloadStart = pos + 5;
    this.payloadEnd = this.payloadStart + view.getUint32(pos + 1, true);
    return true;
  }

  /** The bulk string at `pos` as text (UTF-8). */
  #text(pos: number): string {
    const start = pos + 5;
    return decodeText(this.#bytes, start, start + this.#view.getUint32(pos + 1, true));
  }

  /** The bulk string at `pos`, a channel's or a pattern's name, interned. */
  #name(pos: number): string {
    const start = pos + 5, length = this.#view.getUint32(pos + 1, true), bytes = this.#bytes;
    const slot = length === 0 ? 0 : (length * 31 + bytes[start]! * 7 + bytes[start + length - 1]!) & (NAMES_CACHED - 1);
    const cached = this.#cachedBytes[slot];
    if (cached !== undefined && cached.length === length) {
      let same = true;
      for (let i = 0; i < length; i++) {
        if (bytes[start + i] !== cached[i]) {
          same = false;
          break;
        }
      }
      if (same) return this.#cachedText[slot]!;
    }
    const text = decodeText(bytes, start, start + length);
    this.#cachedBytes[slot] = bytes.slice(start, start + length);
    this.#cachedText[slot] = text;
    return text;
  }

  /** The current message's payload as text. */
  text(): string {
    return decodeText(this.#bytes, this.payloadStart, this.payloadEnd);
  }

  /** The current message's payload as bytes of its own. */
  copy(): Uint8Array {
    return this.#bytes.slice(this.payloadStart, this.payloadEnd);
  }
}

/** What a subscription needs of whoever delivers its messages. */
export interface SubscriptionHost {
  /** Ends the subscription on the server (the last of its names that no other subscription holds). */
  unsubscribe(subscription: Subscription<string | Uint8Array>): Promise<void>;
  /** The subscription's queue went past its limit (true) or fell back to half of it (false). */
  pressure(subscription: Subscription<string | Uint8Array>, full: boolean): void;
}

const DEFAULT_MAX_QUEUED = 10_000;

/** Reports a listener's failure as uncaught, after the records at hand are handled. */
function report(error: unknown): void {
  queueMicrotask(() => {
    throw error;
  });
}

/**
 * One `subscribe`, `psubscribe` or `ssubscribe` of a pool: its messages go
 * to its listener, or, without one, to whoever iterates it.
 *
 * @example
 * ```ts
 * const sub = await pool.subscribe("news");
 * for await (const { channel, message } of sub) {
 *   console.log(channel, message);
 *   if (message === "bye") break; // ends the subscription
 * }
 * ```
 */
export class Subscription<T extends string | Uint8Array = string> implements AsyncIterable<Message<T>> {
  /** Channels, patterns or shard channels. */
  readonly kind: SubscriptionKind;
  /** What it subscribed to. */
  readonly names: readonly string[];
  /** Whether payloads are bytes (the `…Buffer` variants). */
  readonly asBuffer: boolean;
  /** Messages dropped because the queue was full (`overflow: "dropOldest"`). */
  dropped = 0;
  readonly #host: SubscriptionHost;
  readonly #listener: MessageListener<T> | null;
  readonly #maxQueued: number;
  readonly #dropOldest: boolean;
  #queue: Message<T>[] = [];
  #head = 0;
  /** The listener runs, or its promise is pending: messages wait. */
  #busy = false;
  #full = false;
  #closed = false;
  #waiters: ((result: IteratorResult<Message<T>, undefined>) => void)[] = [];

  /** Itself as its host sees every subscription, whatever its payload type. */
  get #erased(): Subscription<string | Uint8Array> {
    return this as unknown as Subscription<string | Uint8Array>;
  }

  /** @internal Made by `Pool.subscribe` and its kin. */
  constructor(
    host: SubscriptionHost,
    kind: SubscriptionKind,
    names: readonly string[],
    listener: MessageListener<T> | null,
    asBuffer: boolean,
    options: SubscribeOptions = {},
  ) {
    if (listener !== null && typeof listener !== "function") {
      throw new TypeError("cpipe: a subscription's listener must be a function");
    }
    const maxQueued = options.maxQueued ?? DEFAULT_MAX_QUEUED;
    if (!Number.isInteger(maxQueued) || maxQueued < 1) {
      throw new TypeError(`cpipe: maxQueued must be a positive integer, not ${maxQueued}`);
    }
    const overflow = options.overflow ?? "pause";
    if (overflow !== "pause" && overflow !== "dropOldest") {
      throw new TypeError(`cpipe: overflow must be "pause" or "dropOldest", not ${JSON.stringify(overflow)}`);
    }
    this.#host = host;
    this.kind = kind;
    this.names = Object.freeze([...names]);
    this.#listener = listener;
    this.asBuffer = asBuffer;
    this.#maxQueued = maxQueued;
    this.#dropOldest = overflow === "dropOldest";
    const keepProcessAlive = options.keepProcessAlive ?? true;
    if (typeof keepProcessAlive !== "boolean") {
      throw new TypeError(`cpipe: keepProcessAlive must be true or false, not ${JSON.stringify(keepProcessAlive)}`);
    }
    this.keepsProcessAlive = keepProcessAlive;
  }

  /** Whether it keeps the process alive (the `keepProcessAlive` option). */
  readonly keepsProcessAlive: boolean;

  /** Whether it ended (`unsubscribe()`, or its pool closed). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Messages waiting for the listener or the iterator. */
  get queued(): number {
    return this.#queue.length - this.#head;
  }

  /** Ends the subscription: no message reaches it after this call. Safe to call twice. */
  unsubscribe(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return this.#host.unsubscribe(this.#erased);
  }

  /** `unsubscribe()`, for `await using sub = await pool.subscribe(…)`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.unsubscribe();
  }

  /** The messages, in order, until the subscription ends; leaving the loop ends it. */
  [Symbol.asyncIterator](): AsyncIterator<Message<T>, undefined> {
    if (this.#listener !== null) {
      throw new TypeError("cpipe: a subscription with a listener is not iterated: its messages go to the listener");
    }
    return {
      next: () => {
        if (this.queued > 0) return Promise.resolve({ value: this.#take(), done: false });
        if (this.#closed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this.#waiters.push(resolve));
      },
      return: async () => {
        await this.unsubscribe();
        return { value: undefined, done: true };
      },
    };
  }

  /** @internal A message for this subscription. */
  deliver(message: Message<T>): void {
    if (this.#closed) return;
    if (this.#waiters.length > 0) return this.#waiters.shift()!({ value: message, done: false });
    if (this.#listener !== null && !this.#busy && this.queued === 0) return this.#call(message);
    this.#queue.push(message);
    if (this.queued <= this.#maxQueued) return;
    if (this.#dropOldest) {
      this.#take();
      this.dropped++;
    } else if (!this.#full) {
      this.#full = true;
      this.#host.pressure(this.#erased, true);
    }
  }

  /** @internal Ends it here: iterators finish, queued messages are forgotten. */
  end(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = [];
    this.#head = 0;
    if (this.#full) {
      this.#full = false;
      this.#host.pressure(this.#erased, false);
    }
    for (const waiter of this.#waiters.splice(0)) waiter({ value: undefined, done: true });
  }

  #take(): Message<T> {
    const message = this.#queue[this.#head]!;
    this.#queue[this.#head++] = undefined as unknown as Message<T>;
    if (this.#head === this.#queue.length) {
      this.#queue.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#head);
      this.#head = 0;
    }
    if (this.#full && this.queued <= this.#maxQueued >> 1) {
      this.#full = false;
      this.#host.pressure(this.#erased, false);
    }
    return message;
  }

  /**
   * Calls the listener with `message`, then with the messages queued meanwhile, one at a time. Busy while it runs:
   * a drain it starts (a long burst's early send, when it was called from `#resume`) queues the messages it reads,
   * which would otherwise reach the listener inside its own call, before the message it is handling.
   */
  #call(message: Message<T>): void {
    for (;;) {
      this.#busy = true;
      let result: void | Promise<void>;
      try {
        result = this.#listener!(message);
      } catch (e) {
        result = undefined;
        report(e);
      }
      if (result !== undefined && typeof (result as Promise<void>).then === "function") {
        (result as Promise<void>).then(this.#resume, (e) => {
          report(e);
          this.#resume();
        });
        return;
      }
      this.#busy = false;
      if (this.#closed || this.queued === 0) return;
      message = this.#take();
    }
  }

  /** A listener's promise settled: the messages that waited go next. */
  readonly #resume = (): void => {
    this.#busy = false;
    if (!this.#closed && this.queued > 0) this.#call(this.#take());
  };
}
