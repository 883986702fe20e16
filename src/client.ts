/** The synchronous client: each call sends its command and returns its reply. */
import { ListeningClientCommands } from "./client_events.ts";
import type { Transform } from "./replies.ts";
import { Connection } from "./connection.ts";
import { type ClientSettings, describeAddress } from "./options.ts";
import { CommandEncoder } from "./encoder.ts";
import { ReplyError } from "./errors.ts";
import { checkCommand } from "./guards.ts";
import { BLOCKING, classify, TransactionTracker } from "./pool_routing.ts";
import { Call } from "../ffi/abi.ts";
import { Pipeline, type PipelineTarget } from "./pipeline.ts";
import { type KeyPrefix, keyPrefixOf, withKeyPrefix } from "./key_positions.ts";
import type { Arg, Reply } from "./types.ts";
import { ClientSubscriber } from "./client_subscriber.ts";
import type { Message, SubscriptionKind } from "./pubsub.ts";

/** The call of one command that blocks by design: one reply, exempt from the command timeout. */
const BLOCKING_CALL = new Uint8Array(Call.SIZE);
new DataView(BLOCKING_CALL.buffer).setUint32(4, 1 | (Call.BLOCKING << 16), true);

/**
 * A synchronous Redis client over one connection, like `bun:sqlite`: calls
 * block until the reply is there. After a dropped connection the next call
 * reconnects (re-running AUTH/SELECT/CLIENT SETNAME).
 *
 * @example
 * ```ts
 * using r = connect("127.0.0.1", 6379);
 * r.hset("hashmap", "key", "value");
 * r.hget("hashmap", "key"); // "value"
 * ```
 */
export class Client extends ListeningClientCommands {
  readonly #connection: Connection;
  readonly #encoder = new CommandEncoder();
  /** The `keyPrefix` option, applied here and by the client's pipelines. */
  readonly #keyPrefix: KeyPrefix | null;

  /** @internal Use {@linkcode connect}. */
  constructor(settings: ClientSettings) {
    super();
    this.#keyPrefix = keyPrefixOf(settings);
    this.#connection = new Connection(describeAddress(settings), settings);
    const subscriber = new ClientSubscriber(this.#connection);
    this.#subscriber = subscriber;
    this.#connection.onEvent = (event) => {
      subscriber.event(event);
      this.events.connection(event);
    };
    subscriber.onGap = (gap) => this.events.emit("gap", gap);
  }

  readonly #subscriber: ClientSubscriber;

  /**
   * Told of server pushes that are not Pub/Sub messages (RESP3,
   * `protocol: 3`: client tracking's invalidations, say), as they are read
   * along with replies.
   */
  set onPush(listener: ((push: Reply) => void) | null) {
    this.#connection.onPush = listener;
  }

  // ---- Pub/Sub --------------------------------------------------------------------------

  /**
   * Subscribes to channels (SUBSCRIBE), once the server confirmed; then take
   * messages with `nextMessage`. Under RESP2 the connection is then in
   * subscribed mode: the server accepts only (P|S)(UN)SUBSCRIBE, PING, QUIT
   * and RESET on it (other commands get its error) until every subscription
   * ends; with `protocol: 3` every command still works, and messages read
   * along with replies wait for `nextMessage` (10,000 at most, the oldest
   * dropped past that and counted in `droppedMessages`). After a lost
   * connection, the next `nextMessage` subscribes again and emits `gap`.
   *
   * @example
   * ```ts
   * r.subscribe(["jobs", "control"]);
   * for (let m = r.nextMessage(1000); m?.message !== "stop"; m = r.nextMessage(1000)) if (m) console.log(m.message);
   * r.unsubscribe();
   * ```
   */
  subscribe(channels: string | string[]): void {
    this.#connection.assertOpen();
    this.#subscriber.subscribe("channel", channels);
  }

  /** Subscribes to channel patterns (PSUBSCRIBE: `news.*`); messages carry the `pattern` that matched. */
  psubscribe(patterns: string | string[]): void {
    this.#connection.assertOpen();
    this.#subscriber.subscribe("pattern", patterns);
  }

  /** Subscribes to shard channels (SSUBSCRIBE, Redis 7). */
  ssubscribe(shardChannels: string | string[]): void {
    this.#connection.assertOpen();
    this.#subscriber.subscribe("shard", shardChannels);
  }

  /** Unsubscribes from channels, or from every channel when none is named. */
  unsubscribe(channels?: string | string[]): void {
    this.#connection.assertOpen();
    this.#subscriber.unsubscribe("channel", channels);
  }

  /** Unsubscribes from patterns, or from every pattern when none is named. */
  punsubscribe(patterns?: string | string[]): void {
    this.#connection.assertOpen();
    this.#subscriber.unsubscribe("pattern", patterns);
  }

  /** Unsubscribes from shard channels, or from every shard channel when none is named. */
  sunsubscribe(shardChannels?: string | string[]): void {
    this.#connection.assertOpen();
    this.#subscriber.unsubscribe("shard", shardChannels);
  }

  /**
   * The next message of the client's subscriptions, waiting at most
   * `timeoutMs` (0: only what already came); null when none came in time.
   * Blocks the thread while it waits, as every call of this client does.
   */
  nextMessage(timeoutMs: number): Message<string> | null {
    this.#connection.assertOpen();
    return this.#subscriber.next<string>(timeoutMs, false);
  }

  /** As `nextMessage`, with the payload as bytes (binary-safe). */
  nextMessageBuffer(timeoutMs: number): Message<Uint8Array> | null {
    this.#connection.assertOpen();
    return this.#subscriber.next<Uint8Array>(timeoutMs, true);
  }

  /** Messages dropped because 10,000 waited for `nextMessage` (see `subscribe`). */
  get droppedMessages(): number {
    return this.#subscriber.dropped;
  }

  /** @internal The names subscribed to, by family (a sentinel client subscribes them again on a new master). */
  get subscriptions(): Readonly<Record<SubscriptionKind, ReadonlySet<string>>> {
    return this.#subscriber.names;
  }

  /** Follows MULTI / EXEC sent by name, so that typed methods inside a transaction return "QUEUED" as it is. */
  readonly #transaction = new TransactionTracker();

  /** `host:port`, or the socket path. */
  get address(): string {
    return this.#connection.address;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#connection.closed;
  }

  /**
   * Sends any command and returns its reply; an error reply is thrown as
   * `ReplyError`. `T` names the reply's type when you know it (it is not
   * checked: the reply is as the server sent it).
   *
   * @example
   * ```ts
   * r.send("CONFIG", "GET", "maxmemory"); // ["maxmemory", "0"]
   * const id = r.send<number>("CLIENT", "ID");
   * ```
   */
  send<T = Reply>(command: string, ...args: Arg[]): T {
    checkCommand(command, args[0]);
    return this.route<T>(command, args, false);
  }

  /** As `send`, with bulk strings returned as `Uint8Array` (binary-safe). */
  sendBuffer<T = Reply>(command: string, ...args: Arg[]): T {
    checkCommand(command, args[0]);
    return this.route<T>(command, args, true);
  }

  /** A new pipeline on this client's connection: queue with its methods, then `execute()`. */
  pipeline(): Pipeline {
    return new Pipeline(this.#connection, this.#keyPrefix);
  }

  /**
   * Begins a transaction: a pipeline with MULTI queued. Queue its commands with the typed methods; `exec()` sends
   * them with EXEC and returns their results, or null when a key `watch`ed before changed.
   *
   * @example
   * ```ts
   * const [visits, greeting] = r.multi().incr("visits").get("greeting").exec() ?? []; // 1, "hello"
   * ```
   */
  multi(): Pipeline<["OK"], []> {
    return this.pipeline().addCommand("MULTI");
  }

  /** @internal The connection as a pipeline's target, for the cluster client's pipeline (one part per node). */
  get pipelineTarget(): PipelineTarget {
    return this.#connection;
  }

  protected assertOpen(): void {
    this.#connection.assertOpen();
  }

  /** Closes the connection; later calls throw `ClosedError`. Safe to call twice. */
  close(): void {
    if (this.#connection.closed) return;
    this.discardQueue();
    this.#connection.close();
    this.events.emit("close", { connection: -1 });
  }

  /** `close()`, for `using r = cpipe.connect()`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** A generated method's command that blocks or changes the connection (WATCH, SELECT…): as `send`. */
  protected override route<T>(
    command: string,
    args: Arg[],
    asBuffer: boolean,
    transform: Transform<T> | null = null,
  ): T {
    this.#transaction.follow(command);
    // A command that blocks by design waits as long as it asks, past commandTimeout (as on a pool).
    return this.#exchange<T>(command, args, transform, asBuffer, classify(command, args) === BLOCKING);
  }

  /** Runs (or queues) one command for the typed methods; see `Commands`. */
  protected dispatch<T>(command: string, args: Arg[], transform: Transform<T> | null, asBuffer: boolean): T {
    return this.#exchange<T>(command, args, transform, asBuffer, false);
  }

  #exchange<T>(command: string, args: Arg[], transform: Transform<T> | null, asBuffer: boolean, blocking: boolean): T {
    const encoder = this.#encoder;
    encoder.reset();
    encoder.add(command, withKeyPrefix(this.#keyPrefix, command, args));
    const reply = this.#connection.run(encoder, asBuffer, null, blocking ? BLOCKING_CALL : undefined)[0]!; // one command, one reply
    if (reply instanceof ReplyError) throw reply;
    // Inside MULTI the reply is "QUEUED": the shaping belongs to EXEC's array (a pipeline does it).
    return transform === null || this.#transaction.inMulti ? reply as T : transform(reply);
  }
}
