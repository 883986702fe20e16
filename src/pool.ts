/** The asynchronous client: a pool of connections served by a native I/O thread. */
import { SubscribingCommands, type Subscriptions } from "./subscribing.ts";
import type { Transform } from "./replies.ts";
import type { PoolSettings } from "./options.ts";
import { checkCommand } from "./guards.ts";
import { PoolConnection } from "./pool_connection.ts";
import { PoolCore } from "./pool_core.ts";
import { PoolPipeline } from "./pool_pipeline.ts";
import { BLOCKING, classify, SHARED, statefulError } from "./pool_routing.ts";
import type { Arg, Reply } from "./types.ts";
import { Subscriber } from "./subscriber.ts";
import type { CacheStats } from "./client_cache.ts";
import { encodeConnectionSettings } from "./settings.ts";

/**
 * A pool of connections to one server. Every command method returns a
 * promise; the commands issued in one tick are handed to the native core in
 * one call and written together (auto-pipelining), spread over the least
 * busy connections, and their replies come back in batches. Commands that
 * must run in order without awaiting each other go in a `pipeline()`, which
 * keeps them on one connection. A native thread owns the sockets:
 * JavaScript never waits on the network, and an idle pool does not keep the
 * process alive.
 *
 * A dropped connection rejects exactly the commands it carried with
 * `ConnectionError` and reconnects in the background; the others keep
 * serving. Blocking commands run on exclusive connections; commands that
 * would change a shared connection's state (SELECT, AUTH, WATCH…) are
 * refused: use the options, a pipeline (MULTI … EXEC) or `acquire()`.
 *
 * @example
 * ```ts
 * await using pool = connectPool({ host: "127.0.0.1", port: 6379, size: 10 });
 * await Promise.all(Array.from({ length: 10_000 }, (_, i) => pool.hset("words", `word|${i}`, 1)));
 * await pool.hget("words", "word|42"); // "1"
 * ```
 */
export class Pool extends SubscribingCommands {
  readonly #core: PoolCore;

  /** @internal Use {@linkcode connectPool}. */
  constructor(settings: PoolSettings) {
    super();
    this.#core = new PoolCore(settings);
    this.#core.sendUnsentAgain();
    const subscriberSettings = encodeConnectionSettings(settings);
    const subscriber = new Subscriber(this.#core, () => subscriberSettings);
    this.#subscriber = subscriber;
    this.#core.onPushRecord = (bytes, start) => subscriber.push(bytes, start);
    this.#core.onEvent = (event) => {
      subscriber.event(event);
      this.events.connection(event);
    };
    subscriber.onGap = (gap) => this.events.emit("gap", gap);
  }

  readonly #subscriber: Subscriber;

  /**
   * Told of server pushes that are not Pub/Sub messages (RESP3, `protocol: 3`:
   * client tracking's invalidations, say), with the index of the connection
   * they came on.
   *
   * @example
   * ```ts
   * pool.onPush = (push) => console.log("push", push); // ["invalidate", ["key"]]
   * ```
   */
  set onPush(listener: ((push: Reply, connection: number) => void) | null) {
    this.#core.onPush = listener;
  }

  /** Client-side caching's counters (`clientCache`), or null when it is off. */
  get cacheStats(): Readonly<CacheStats> | null {
    const cache = this.#core.cache;
    return cache === null ? null : cache.stats;
  }

  // ---- Pub/Sub --------------------------------------------------------------------------

  /** This pool's subscriptions, or why it takes none now (closed); see `SubscribingCommands`. */
  protected subscriptions(): Subscriptions | Error {
    return this.#core.refusal() ?? this.#subscriber;
  }

  /** `host:port`, or the socket path. */
  get address(): string {
    return this.#core.address;
  }

  /** The number of shared connections. */
  get size(): number {
    return this.#core.size;
  }

  /** Connections up now (shared and exclusive). */
  get connected(): number {
    return this.#core.connected;
  }

  /** Commands issued whose replies did not come yet. */
  get pending(): number {
    return this.#core.pending;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#core.closed;
  }

  /**
   * Sends any command; resolves with its reply, rejects with `ReplyError`
   * for an error reply. Blocking commands (BLPOP, XREAD BLOCK…) run on an
   * exclusive connection. `T` names the reply's type when you know it (it is
   * not checked).
   *
   * @example
   * ```ts
   * await pool.send("CONFIG", "GET", "maxmemory"); // ["maxmemory", "0"]
   * const length = await pool.send<number>("XLEN", "events");
   * ```
   */
  send<T = Reply>(command: string, ...args: Arg[]): Promise<T> {
    return this.#send<T>(command, args, null, false);
  }

  /** As `send`, with bulk strings as `Uint8Array` (binary-safe). */
  sendBuffer<T = Reply>(command: string, ...args: Arg[]): Promise<T> {
    return this.#send<T>(command, args, null, true);
  }

  /**
   * A new pipeline: queue commands with its methods, then `await execute()`.
   * Its commands go to one connection as one block.
   *
   * @example
   * ```ts
   * await pool.pipeline().addCommand("MULTI").incr("n").addCommand("EXEC").execute(); // ["OK", "QUEUED", [1]]
   * ```
   */
  pipeline(): PoolPipeline {
    return new PoolPipeline(this.#core, -1);
  }

  /**
   * Begins a transaction: a pipeline with MULTI queued, sent whole to one connection by `exec()`, which resolves
   * with the results of its commands (see `Pipeline.exec`). WATCH needs a connection of its own: `acquire()` one.
   *
   * @example
   * ```ts
   * const [visits, greeting] = await pool.multi().incr("visits").get("greeting").exec() ?? []; // 1, "hello"
   * ```
   */
  multi(): PoolPipeline<["OK"], []> {
    return this.pipeline().addCommand("MULTI");
  }

  /**
   * Acquires an exclusive connection, for commands that change a connection's
   * state (WATCH, SELECT…) or must not share it; release it when done.
   */
  async acquire(): Promise<PoolConnection> {
    const connection = await this.#core.acquire();
    return new PoolConnection(this.#core, connection);
  }

  /**
   * Stops taking commands, lets those in flight finish (up to
   * `closeTimeout`; blocking ones are cancelled), then closes every
   * connection, joins the native thread and frees everything. Later calls
   * reject with `ClosedError`. Safe to call twice.
   */
  close(): Promise<void> {
    const closed = !this.#core.closed;
    this.#subscriber.close();
    return this.#core.close().then(() => {
      if (closed) this.events.emit("close", { connection: -1 });
    });
  }

  /** `close()`, for `await using pool = cpipe.connectPool()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** A generated method's command that blocks or changes a connection: routed as `send` routes it. */
  protected override route<T>(
    command: string,
    args: Arg[],
    asBuffer: boolean,
    transform: Transform<T> | null = null,
  ): Promise<T> {
    return this.#send<T>(command, args, transform, asBuffer);
  }

  /** Sends one command for the typed methods; see `Commands`. */
  protected dispatch<T>(command: string, args: Arg[], transform: Transform<T> | null, asBuffer: boolean): Promise<T> {
    return this.#core.call(-1, command, args, transform, asBuffer);
  }

  /** `dispatch` of a command with one argument, without an array of it where the core needs none. */
  protected override dispatchOne<T>(
    command: string,
    arg: Arg,
    transform: Transform<T> | null,
    asBuffer: boolean,
  ): Promise<T> {
    return this.#core.callOne(command, arg, transform, asBuffer);
  }

  #send<T>(command: string, args: Arg[], transform: Transform<T> | null, asBuffer: boolean): Promise<T> {
    return sendOn(this.#core, command, args, transform, asBuffer);
  }
}

/**
 * Sends any command by name on a pool's core: shared connections, an exclusive one for a blocking command,
 * refused when it would change a shared connection's state. For `Pool.send` and pools that own a core
 * (src/sentinel.ts).
 */
export function sendOn<T>(
  core: PoolCore,
  command: string,
  args: Arg[],
  transform: Transform<T> | null,
  asBuffer: boolean,
): Promise<T> {
  try {
    checkCommand(command, args[0]);
  } catch (e) {
    return Promise.reject(e);
  }
  const kind = classify(command, args);
  if (kind === SHARED) return core.call(-1, command, args, transform, asBuffer);
  if (kind === BLOCKING) return blocking(core, command, args, transform, asBuffer);
  return Promise.reject(statefulError(command));
}

async function blocking<T>(
  core: PoolCore,
  command: string,
  args: Arg[],
  transform: Transform<T> | null,
  asBuffer: boolean,
): Promise<T> {
  const connection = await core.acquire();
  try {
    return await core.call(connection, command, args, transform, asBuffer);
  } finally {
    core.release(connection, true);
  }
}
