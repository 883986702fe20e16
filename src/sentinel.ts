/**
 * Redis Sentinel: the sentinels are asked where the master of a named set
 * is (`SENTINEL GET-MASTER-ADDR-BY-NAME`), the server found there must say
 * it is the master (`ROLE`), and the client follows a failover: the pool
 * asks the sentinels again every `pollInterval` and as soon as its
 * connections drop, and re-points itself (a new native pool to the new
 * master, the old one closed: what was in flight there fails), while
 * commands issued meanwhile wait; the synchronous client asks again after a
 * connection failure, and both after a READONLY answer (the old master came
 * back as a replica), which they send once more to the server named.
 *
 * The pool also subscribes to `+switch-master` on the first sentinel that
 * takes the subscription, so that a failover is followed as soon as it is
 * announced; the poll stays as the safety net (a sentinel that dies takes
 * its announcements with it).
 */
import { Client } from "./client.ts";
import { ListeningClientCommands } from "./client_events.ts";
import { SubscribingCommands, type Subscriptions } from "./subscribing.ts";
import { Subscriber } from "./subscriber.ts";
import type { CacheStats } from "./client_cache.ts";
import { encodeConnectionSettings } from "./settings.ts";
import { ClosedError, ConnectionError, ReplyError } from "./errors.ts";
import type { Message } from "./pubsub.ts";
import { checkCommand } from "./guards.ts";
import {
  bool,
  clientSettings,
  type ConnectOptions,
  describeAddress,
  ms,
  type PoolOptions,
  type PoolSettings,
  poolSettings,
} from "./options.ts";
import { Pool, sendOn } from "./pool.ts";
import { PoolCore } from "./pool_core.ts";
import { PoolPipeline } from "./pool_pipeline.ts";
import { PoolConnection } from "./pool_connection.ts";
import type { Transform } from "./replies.ts";
import type { Arg, Reply } from "./types.ts";
import { parseRedisUrl } from "./url.ts";
import { OfflineWait } from "./offline_wait.ts";
import { Pipeline } from "./pipeline.ts";
import { type KeyPrefix, keyPrefixOf } from "./key_positions.ts";
import { unrefInterval, unrefTimeout } from "./cluster/timers.ts";
import type { NodeAddress } from "./cluster/topology.ts";

/**
 * Options of {@linkcode connectSentinel} and {@linkcode connectSentinelPool}: where the sentinels are, the name
 * of the set they watch, and the options of the connections to its servers.
 *
 * @example
 * ```ts
 * await connectSentinelPool({ sentinels: ["redis://10.0.0.1:26379", "redis://10.0.0.2:26379"], name: "mymaster" });
 * ```
 */
export interface SentinelOptions extends ConnectOptions, Omit<PoolOptions, "url" | "host" | "port" | "path"> {
  /** The sentinels: `redis://` URLs or `{ host, port }`. Any one that answers is enough. */
  sentinels: (string | NodeAddress)[];
  /** The name of the set (`sentinel monitor <name> …`). */
  name: string;
  /**
   * `"master"` (default) connects to the master and follows failovers; `"replica"` to one of its replicas
   * that is up (for reads).
   */
  role?: "master" | "replica";
  /** ACL user for the sentinels (`sentinel sentinel-user`); the servers' own is `username`. */
  sentinelUsername?: string;
  /** Password for the sentinels (`requirepass` on a sentinel); the servers' own is `password`. */
  sentinelPassword?: string;
  /** How often the pool asks the sentinels where the master is, in milliseconds. Default 1,000. */
  pollInterval?: number;
  /**
   * The name of the connections to the servers (CLIENT SETNAME: the `name` option elsewhere, which names the set
   * here), as ioredis' `connectionName`.
   */
  connectionName?: string;
}

/** Options of the set, not of its servers' connections (the offline ones are given back to the pool's). */
const SENTINEL_KEYS = new Set([
  "sentinels",
  "name",
  "role",
  "sentinelUsername",
  "sentinelPassword",
  "pollInterval",
  "connectionName",
  "offlineQueue",
  "offlineTimeout",
]);
/** How long a sentinel may take to connect and to answer. */
const SENTINEL_TIMEOUT = 1_000;
/** While the master is unreachable, how often the sentinels are asked. */
const OUTAGE_POLL = 200;
/** How often a server that does not yet say it is the master (a failover under way) is asked again. */
const VERIFY_TRIES = 25;
const VERIFY_EVERY = 200;

interface SentinelSettings {
  readonly name: string;
  readonly role: "master" | "replica";
  readonly pollInterval: number;
  readonly sentinels: readonly NodeAddress[];
  readonly sentinelAuth: { username?: string; password?: string };
  readonly serverOptions: Record<string, unknown>;
  /** The `offlineQueue` option: whether commands wait while no server has the role, or fail at once. */
  readonly offlineQueue: boolean;
  /** The `offlineTimeout` option: how long they wait (0: no limit). */
  readonly offlineTimeout: number;
}

function sentinelSettings(options: SentinelOptions): SentinelSettings {
  if (options === null || typeof options !== "object") {
    throw new TypeError("cpipe: connectSentinel takes an options object");
  }
  if (typeof options.name !== "string" || options.name === "") {
    throw new TypeError('cpipe: name the set: { name: "mymaster" }');
  }
  if (!Array.isArray(options.sentinels) || options.sentinels.length === 0) {
    throw new TypeError('cpipe: give at least one sentinel: { sentinels: ["redis://host:26379"] }');
  }
  const role = options.role ?? "master";
  if (role !== "master" && role !== "replica") {
    throw new TypeError(`cpipe: role must be "master" or "replica", not ${role}`);
  }
  const sentinels = options.sentinels.map((s): NodeAddress => {
    if (typeof s === "string") {
      const address = parseRedisUrl(s).address;
      if (address.kind !== "tcp") throw new TypeError("cpipe: sentinels are reached over TCP");
      return { host: address.host, port: address.port };
    }
    return { host: s.host, port: s.port };
  });
  const serverOptions: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) if (!SENTINEL_KEYS.has(key)) serverOptions[key] = value;
  if (options.connectionName !== undefined) serverOptions.name = options.connectionName;
  const pollInterval = options.pollInterval ?? 1_000;
  if (!Number.isInteger(pollInterval) || pollInterval < 10) {
    throw new TypeError("cpipe: pollInterval is at least 10 ms");
  }
  return {
    name: options.name,
    role,
    pollInterval,
    sentinels,
    sentinelAuth: {
      ...(options.sentinelUsername !== undefined ? { username: options.sentinelUsername } : {}),
      ...(options.sentinelPassword !== undefined ? { password: options.sentinelPassword } : {}),
    },
    serverOptions,
    offlineQueue: bool("offlineQueue", options.offlineQueue, true),
    offlineTimeout: ms("offlineTimeout", options.offlineTimeout, 5_000),
  };
}

/**
 * The sentinels of a set, asked in turn over connections kept open between questions: synchronous clients for the
 * synchronous client (`locate`), pools for the pool (`locateAsync`), whose event loop a silent sentinel must never
 * stop (behind a partition, every question waits out its timeout).
 */
class Sentinels {
  readonly #settings: SentinelSettings;
  readonly #clients = new Map<number, Client>();
  readonly #pools = new Map<number, Pool>();
  /** The question, by role. */
  readonly #question: [string, string, string];
  /**
   * The sentinel that answered last, asked first (as ioredis does): one that is down or silent would otherwise cost
   * every question its timeout.
   */
  #first = 0;
  /** Closed: `locateAsync` makes no more pools. */
  #closed = false;

  constructor(settings: SentinelSettings) {
    this.#settings = settings;
    this.#question = ["SENTINEL", settings.role === "master" ? "GET-MASTER-ADDR-BY-NAME" : "REPLICAS", settings.name];
  }

  /** Where the master (or, for role replica, a replica that is up) is now, by the first sentinel that knows. */
  locate(): NodeAddress {
    const asking = this.#asking();
    let step = asking.next();
    while (!step.done) {
      const sentinel = step.value;
      step = answer(asking, () => this.#client(sentinel).send(...this.#question));
    }
    return step.value;
  }

  /** `locate`, asking over pools: the thread never waits on a sentinel. */
  async locateAsync(): Promise<NodeAddress> {
    const asking = this.#asking();
    let step = asking.next();
    while (!step.done) {
      // A poll that outlived close() (its question failed as the pools closed) asks no further sentinel: a pool
      // made for it now would never be closed.
      if (this.#closed) throw new ClosedError("cpipe: the sentinel pool is closed");
      const settled = await this.#pool(step.value).send(...this.#question).then(
        (reply) => () => reply,
        (e: unknown) => (): never => {
          throw e;
        },
      );
      step = answer(asking, settled);
    }
    return step.value;
  }

  /**
   * The sentinels asked in turn, for `locate` and `locateAsync`: yields the index of the one to ask next and takes
   * its reply, or its failure through `throw()`; returns the address found, or throws when none knew.
   */
  *#asking(): Generator<number, NodeAddress, Reply> {
    const { name, role } = this.#settings;
    let failure: unknown = null;
    const count = this.#settings.sentinels.length;
    for (let k = 0; k < count; k++) {
      const i = (this.#first + k) % count;
      try {
        const reply = yield i;
        const found = role === "master" ? masterAddress(reply) : upReplica(reply);
        if (found !== null) {
          this.#first = i;
          return found;
        }
        failure = new ReplyError(
          role === "master"
            ? `ERR cpipe: a sentinel does not know a master named ${name}`
            : `ERR cpipe: no replica of ${name} is up, say the sentinels`,
        );
      } catch (e) {
        this.#forget(i);
        failure = e;
      }
    }
    throw new ConnectionError(
      `cpipe: no sentinel told where ${name}'s ${role} is` + (failure instanceof Error ? `: ${failure.message}` : ""),
      { cause: failure, unsent: true },
    );
  }

  #client(i: number): Client {
    let client = this.#clients.get(i);
    if (client === undefined || client.closed) {
      client = new Client(clientSettings(sentinelConnection(this.#settings, this.#settings.sentinels[i]!)));
      this.#clients.set(i, client);
    }
    return client;
  }

  #pool(i: number): Pool {
    let pool = this.#pools.get(i);
    if (pool === undefined) {
      // A sentinel that is down costs a question SENTINEL_TIMEOUT at most, as a silent one does.
      const connection = { ...sentinelConnection(this.#settings, this.#settings.sentinels[i]!), size: 1 };
      pool = new Pool(poolSettings({ ...connection, offlineTimeout: SENTINEL_TIMEOUT }));
      this.#pools.set(i, pool);
    }
    return pool;
  }

  /** Drops the connection to sentinel `i` after a failure: the next question dials again. */
  #forget(i: number): void {
    this.#clients.get(i)?.close();
    this.#clients.delete(i);
    void this.#pools.get(i)?.close();
    this.#pools.delete(i);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const client of this.#clients.values()) client.close();
    this.#clients.clear();
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((pool) => pool.close()));
  }
}

/** Gives `asking` (see `Sentinels.#asking`) a sentinel's answer: the reply `ask` returns, or what it throws. */
function answer(asking: Generator<number, NodeAddress, Reply>, ask: () => Reply): IteratorResult<number, NodeAddress> {
  let reply: Reply;
  try {
    reply = ask();
  } catch (e) {
    return asking.throw(e);
  }
  return asking.next(reply);
}

/**
 * How a sentinel is reached: its address, the sentinels' AUTH, their connect and command timeouts (also for the
 * `+switch-master` subscription: one a sentinel never confirmed kept the process alive, and the next sentinel untried).
 */
function sentinelConnection(settings: SentinelSettings, sentinel: NodeAddress): ConnectOptions & NodeAddress {
  return {
    host: sentinel.host,
    port: sentinel.port,
    ...settings.sentinelAuth,
    connectTimeout: SENTINEL_TIMEOUT,
    commandTimeout: SENTINEL_TIMEOUT,
  };
}

/** The master's address from SENTINEL GET-MASTER-ADDR-BY-NAME; null when the sentinel does not know the name. */
function masterAddress(reply: Reply): NodeAddress | null {
  return Array.isArray(reply) && reply.length === 2 ? { host: String(reply[0]), port: Number(reply[1]) } : null;
}

/** A replica that is up and linked to its master, from SENTINEL REPLICAS, chosen at random; null if none. */
function upReplica(reply: Reply): NodeAddress | null {
  const up: NodeAddress[] = [];
  for (const entry of Array.isArray(reply) ? reply : []) {
    const fields = new Map<string, string>();
    if (Array.isArray(entry)) {
      for (let i = 0; i + 1 < entry.length; i += 2) fields.set(String(entry[i]), String(entry[i + 1]));
    }
    const flags = fields.get("flags") ?? "";
    if (/s_down|o_down|disconnected/.test(flags) || fields.get("master-link-status") !== "ok") continue;
    up.push({ host: fields.get("ip") ?? "", port: Number(fields.get("port")) });
  }
  return up.length === 0 ? null : up[Math.floor(Math.random() * up.length)]!;
}

/** Whether a ROLE reply names the role wanted. */
function hasRole(reply: Reply, role: "master" | "replica"): boolean {
  return Array.isArray(reply) && reply[0] === (role === "master" ? "master" : "slave");
}

const same = (a: NodeAddress, b: NodeAddress): boolean => a.host === b.host && a.port === b.port;

/**
 * A pool on the master (or a replica) of a set watched by Redis Sentinel: every command method returns a promise;
 * after a failover it re-points itself to the new master. Commands in flight on the old master fail with
 * `ConnectionError`; those issued while no master is reachable wait (at most `offlineTimeout`); one the old master
 * refuses as a replica (READONLY) is sent once more, after the sentinels were asked. Made by
 * {@linkcode connectSentinelPool}.
 *
 * @example
 * ```ts
 * await using pool = await connectSentinelPool({ sentinels: ["redis://127.0.0.1:26379"], name: "mymaster" });
 * await pool.set("k", "v");
 * ```
 */
export class SentinelPool extends SubscribingCommands {
  readonly #settings: SentinelSettings;
  readonly #sentinels: Sentinels;
  #core: PoolCore | null = null;
  /**
   * Subscriptions, on a connection to the current server: at a failover it is opened on the new one and every
   * name subscribed again (`Subscriber.moved`), as after a reconnect.
   */
  readonly #subscriber: Subscriber;
  /** Whether live subscriptions hold the current core (so the process stays alive); moved with them. */
  #held = false;
  #address: NodeAddress | null = null;
  /** Set while the current server is unreachable: the sentinels are asked every OUTAGE_POLL ms meanwhile. */
  #outage = false;
  #pollTimer: ReturnType<typeof setInterval> | undefined;
  #outageTimer: ReturnType<typeof setTimeout> | undefined;
  /** The check running now (`#check`), which callers that need its outcome await together. */
  #checking: Promise<void> | null = null;
  #closed = false;
  #switches = 0;

  /** @internal Use {@linkcode connectSentinelPool}. */
  constructor(settings: SentinelSettings) {
    super();
    this.#settings = settings;
    this.#sentinels = new Sentinels(settings);
    // The current server's core, whichever it is when the subscriber needs it.
    const core = (): PoolCore => {
      if (this.#core === null) throw new ClosedError("cpipe: the sentinel pool is closed");
      return this.#core;
    };
    this.#subscriber = new Subscriber({
      addConnection: (bytes, role, handOver) => core().addConnection(bytes, role, handOver),
      removeConnection: (connection) => core().removeConnection(connection),
      pubsubCall: (route, command, names, flags) => core().pubsubCall(route, command, names, flags),
      pause: (connection, paused) => core().pause(connection, paused),
      hold: (delta) => {
        this.#held = delta > 0;
        this.#core?.hold(delta);
      },
    }, () => encodeConnectionSettings(this.#serverSettings(this.#address!)));
    this.#subscriber.onGap = (gap) => this.events.emit("gap", gap);
  }

  /** This pool's subscriptions, or why it takes none now (closed); see `SubscribingCommands`. */
  protected subscriptions(): Subscriptions | Error {
    return this.#closed ? new ClosedError("cpipe: the sentinel pool is closed") : this.#subscriber;
  }

  /** @internal Finds the server and starts watching the sentinels. */
  async start(): Promise<void> {
    try {
      const address = await this.#sentinels.locateAsync();
      const core = await this.#open(address);
      if (core === null) {
        throw new ConnectionError(
          `cpipe: ${describeAddress({ kind: "tcp", ...address })} is not the ${this.#settings.role}`,
        );
      }
      this.#use(core, address);
    } catch (e) {
      await this.close();
      throw e;
    }
    this.#pollTimer = unrefInterval(() => void this.#check(), this.#settings.pollInterval);
    void this.#watchSwitches();
  }

  /** A pool on a sentinel subscribed to `+switch-master`; null until one took the subscription. */
  #watcher: Pool | null = null;

  /** Subscribes to `+switch-master` on the first sentinel that takes it; none that does leaves the poll alone. */
  async #watchSwitches(): Promise<void> {
    const prefix = `${this.#settings.name} `;
    for (const sentinel of this.#settings.sentinels) {
      if (this.#closed) return;
      const watcher = new Pool(poolSettings({ ...sentinelConnection(this.#settings, sentinel), size: 1 }));
      try {
        await watcher.subscribe("+switch-master", ({ message }) => {
          if (message.startsWith(prefix)) void this.#check();
        }, { keepProcessAlive: false });
      } catch {
        await watcher.close();
        continue;
      }
      if (this.#closed) return void await watcher.close();
      this.#watcher = watcher;
      return;
    }
  }

  /** `host:port` of the server the pool uses now. */
  get address(): string {
    return this.#address === null ? "" : describeAddress({ kind: "tcp", ...this.#address });
  }

  /** Told of the current server's pushes that are not Pub/Sub messages (see `Pool.onPush`). */
  set onPush(listener: ((push: Reply, connection: number) => void) | null) {
    this.#onPush = listener;
    if (this.#core !== null) this.#core.onPush = listener;
  }

  #onPush: ((push: Reply, connection: number) => void) | null = null;

  /** Client-side caching's counters (`clientCache`) on the current server's pool, or null when it is off. */
  get cacheStats(): Readonly<CacheStats> | null {
    return this.#core?.cache?.stats ?? null;
  }

  /** How many times the pool re-pointed itself to a new server. */
  get switches(): number {
    return this.#switches;
  }

  /** Connections up now to the current server (see `Pool.connected`). */
  get connected(): number {
    return this.#core?.connected ?? 0;
  }

  /** Commands issued to the current server whose replies did not come yet (see `Pool.pending`). */
  get pending(): number {
    return this.#core?.pending ?? 0;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Sends any command (see `Pool.send`). */
  send<T = Reply>(command: string, ...args: Arg[]): Promise<T> {
    return this.#send<T>(command, args, null, false);
  }

  /** As `send`, with bulk strings as `Uint8Array`. */
  sendBuffer<T = Reply>(command: string, ...args: Arg[]): Promise<T> {
    return this.#send<T>(command, args, null, true);
  }

  /**
   * A pipeline (see `Pool.pipeline`) on the server the pool uses when it is executed. One its server never got
   * (it waited for the failover in the old server's offline queue) goes to the new server, as a command does; one
   * that may have run there fails with `ConnectionError`. A long one sent in blocks while it is queued stays on the
   * server that got its first block.
   */
  pipeline(): PoolPipeline {
    const core = this.#core;
    if (core === null) throw new ClosedError("cpipe: the sentinel pool is closed");
    return new PoolPipeline(core, -1, null, core.keyPrefix, (send) => this.#issue(send));
  }

  /** A transaction on the current server: see `Pool.multi`. */
  multi(): PoolPipeline<["OK"], []> {
    return this.pipeline().addCommand("MULTI");
  }

  /**
   * Acquires an exclusive connection to the current server (see `Pool.acquire`), for WATCH … MULTI … EXEC across
   * awaits; release it when done. It stays on that server: after a failover its calls fail with `ConnectionError`
   * or `ClosedError`; acquire another.
   */
  async acquire(): Promise<PoolConnection> {
    const core = this.#core;
    if (core === null || this.#closed) throw new ClosedError("cpipe: the sentinel pool is closed");
    return new PoolConnection(core, await core.acquire());
  }

  /** Stops watching the sentinels and closes the pool (see `Pool.close`). Safe to call twice. */
  async close(): Promise<void> {
    const first = !this.#closed;
    this.#closed = true;
    clearInterval(this.#pollTimer);
    this.#endOutage();
    // Begun before the watcher's close is awaited: calls made meanwhile went to the core, and after a failover
    // they waited in its offline queue for the dead master, which close() then waited for (closeTimeout).
    this.#subscriber.close();
    const closing = this.#core?.close();
    await this.#watcher?.close();
    this.#watcher = null;
    await this.#sentinels.close();
    await closing;
    if (first) this.events.emit("close", { connection: -1 });
  }

  /** `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Sends one command of the typed methods; see `Commands`. */
  protected dispatch<T>(command: string, args: Arg[], transform: Transform<T> | null, asBuffer: boolean): Promise<T> {
    return this.#issue((core) => core.call(-1, command, args, transform, asBuffer));
  }

  #send<T>(command: string, args: Arg[], transform: Transform<T> | null, asBuffer: boolean): Promise<T> {
    try {
      checkCommand(command, args[0]);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#issue((core) => sendOn(core, command, args, transform, asBuffer));
  }

  /**
   * Issues a command on the current server. While it is unreachable the command waits in its core's offline queue
   * (`offlineQueue`, at most `offlineTimeout`), in order with pipelines; at a failover what that core never sent is
   * failed there unsent (`#check`) and issued again here, on the new server, in the order it was issued. A command a
   * master refuses as a replica (READONLY: a failover this pool has not followed yet, the old master back as a
   * replica) did not run: once the sentinels have been asked, it is issued once more, on the server they name.
   */
  #issue<T>(issue: (core: PoolCore) => Promise<T>, readOnlyRefused = false, order = this.#issued++): Promise<T> {
    const core = this.#core;
    if (core === null) return Promise.reject(new ClosedError("cpipe: the sentinel pool is closed"));
    return issue(core).catch(async (e: unknown) => {
      if (
        e instanceof ReplyError && e.code === "READONLY" && !readOnlyRefused && this.#settings.role === "master" &&
        !this.#closed
      ) {
        await this.#check();
        return this.#issue(issue, true, order);
      }
      if (!(e instanceof ConnectionError && e.unsent) || core === this.#core || this.#closed) throw e;
      await this.#inIssueOrder(order);
      return this.#issue(issue, readOnlyRefused, order);
    });
  }

  /** How many commands and pipelines were issued: each one's place in that order. */
  #issued = 0;
  /** What the old core failed unsent at a failover, waiting to be issued again (`#inIssueOrder`). */
  #reissues: { order: number; resume: () => void }[] = [];

  /**
   * Waits for every call the old core failed at a failover, then resumes them in the order they were first issued:
   * their rejections come through promise chains of different lengths (a pipeline's is shorter than a cached
   * command's), so taken as they come a pipeline could overtake a command issued before it.
   */
  #inIssueOrder(order: number): Promise<void> {
    return new Promise((resume) => {
      if (this.#reissues.push({ order, resume }) > 1) return;
      setTimeout(() => {
        const due = this.#reissues.sort((a, b) => a.order - b.order);
        this.#reissues = [];
        for (const call of due) call.resume();
      }, 0);
    });
  }

  /** A pool to `address`, once it says it has the role wanted; null when it never did. */
  async #open(address: NodeAddress): Promise<PoolCore | null> {
    const core = new PoolCore(this.#serverSettings(address));
    for (let attempt = 0; attempt < VERIFY_TRIES && !this.#closed; attempt++) {
      try {
        if (hasRole(await core.call<Reply>(-1, "ROLE", [], null, false), this.#settings.role)) return core;
      } catch {
        // Not up yet: asked again below.
      }
      await new Promise((resolve) => setTimeout(resolve, VERIFY_EVERY));
    }
    await core.close();
    return null;
  }

  /** The settings of a pool to the server at `address`. */
  #serverSettings(address: NodeAddress): PoolSettings {
    return poolSettings({
      ...this.#settings.serverOptions,
      offlineQueue: this.#settings.offlineQueue,
      offlineTimeout: this.#settings.offlineTimeout,
      host: address.host,
      port: address.port,
    });
  }

  #use(core: PoolCore, address: NodeAddress): void {
    const old = this.#core;
    this.#core = core;
    this.#address = address;
    const subscriber = this.#subscriber;
    core.onPushRecord = (bytes, start) => subscriber.push(bytes, start);
    core.onPush = this.#onPush;
    if (this.#held) {
      // Live subscriptions keep the process alive through the new server's pool, no longer the old one's.
      core.hold(1);
      old?.hold(-1);
    }
    if (old !== null) subscriber.moved();
    core.onEvent = (event) => {
      if (core !== this.#core) return; // the old server's, closing
      subscriber.event(event);
      if (event.type === "up") {
        this.#endOutage();
      } else if (event.type === "down" && event.status !== 0) {
        // The core's own count: one kept from the events drifted (a failed redial is a second down of one
        // connection), and an outage then held commands back while another connection was up.
        if (core.connected === 0) this.#startOutage();
      }
      this.events.connection(event);
    };
  }

  /** The server is unreachable: the sentinels are asked often until they name another (or it comes back). */
  #startOutage(): void {
    if (this.#outage || this.#closed) return;
    this.#outage = true;
    this.#pollOutage();
  }

  #pollOutage(): void {
    if (!this.#outage || this.#closed) return;
    this.#outageTimer = unrefTimeout(async () => {
      await this.#check();
      this.#pollOutage();
    }, OUTAGE_POLL);
  }

  #endOutage(): void {
    this.#outage = false;
    clearTimeout(this.#outageTimer);
  }

  /**
   * Asks the sentinels where the server is; when elsewhere, re-points the pool there. The place to react to
   * `+switch-master` once a sentinel connection can subscribe: call this from that message. A check asked for while
   * one runs is that one.
   */
  #check(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    // A replica in use stays in use while it is up (the sentinels name one at random).
    if (this.#settings.role === "replica" && !this.#outage) return Promise.resolve();
    if (this.#checking === null) {
      const running = this.#relocate().finally(() => {
        if (this.#checking === running) this.#checking = null;
      });
      this.#checking = running;
    }
    return this.#checking;
  }

  async #relocate(): Promise<void> {
    let address: NodeAddress;
    try {
      address = await this.#sentinels.locateAsync();
    } catch {
      return; // no sentinel answered: the next poll asks again
    }
    if (this.#address !== null && same(address, this.#address)) return;
    const core = await this.#open(address);
    if (core === null) return;
    if (this.#closed) {
      await core.close();
      return;
    }
    const old = this.#core;
    this.#use(core, address);
    this.#switches++;
    // What the old server's core still held unsent (its offline queue) goes to the new one, in the order it was
    // issued (`#issue`); its pipelines fail unsent.
    old?.failUnsent(new ConnectionError(`cpipe: ${old.address} was left at a failover`, { unsent: true }));
    this.#endOutage();
    void old?.close();
  }
}

/**
 * Connects a pool to the master of a set watched by Redis Sentinel (or to a replica with `role: "replica"`),
 * asked of the sentinels and checked with ROLE, and follows failovers. Rejects when no sentinel names a server
 * that says it has the role.
 *
 * @example
 * ```ts
 * const pool = await connectSentinelPool({ sentinels: [{ host: "127.0.0.1", port: 26379 }], name: "mymaster" });
 * ```
 */
export async function connectSentinelPool(options: SentinelOptions): Promise<SentinelPool> {
  const pool = new SentinelPool(sentinelSettings(options));
  await pool.start();
  return pool;
}

/**
 * A synchronous client on the master (or a replica) of a set watched by Redis Sentinel. A call that fails with
 * `ConnectionError` after it was sent throws (it may have run), and the sentinels are asked before the next call,
 * which goes to the new master; a call that could not be sent (the server is gone, no other is promoted yet) blocks
 * while the sentinels fail over, asking them again every 200-500 ms, at most `offlineTimeout`; a write the old
 * master refuses as a replica now (READONLY) is sent once more to the new one. Made by {@linkcode connectSentinel}.
 *
 * @example
 * ```ts
 * using r = connectSentinel({ sentinels: ["redis://127.0.0.1:26379"], name: "mymaster" });
 * r.set("k", "v");
 * ```
 */
export class SentinelClient extends ListeningClientCommands {
  readonly #settings: SentinelSettings;
  readonly #sentinels: Sentinels;
  #client: Client | null = null;
  #address: NodeAddress | null = null;
  #stale = true;
  /** When a call first failed to reach the server since the last that did (0: the last call did). */
  #lostAt = 0;
  /** The servers' `keyPrefix`, for the pipelines this client makes. */
  readonly #keyPrefix: KeyPrefix | null;
  #switches = 0;

  /** @internal Use {@linkcode connectSentinel}. */
  constructor(settings: SentinelSettings) {
    super();
    this.#settings = settings;
    this.#keyPrefix = keyPrefixOf(settings.serverOptions as { keyPrefix?: string });
    this.#sentinels = new Sentinels(settings);
    try {
      this.#locate();
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** `host:port` of the server the client uses now. */
  get address(): string {
    return this.#address === null ? "" : describeAddress({ kind: "tcp", ...this.#address });
  }

  // ---- Pub/Sub (as `Client`'s; after a failover, made again on the new master, with `gap`) ----

  /** Subscribes to channels on the current server (see `Client.subscribe`); then take messages with `nextMessage`. */
  subscribe(channels: string | string[]): void {
    this.#withClient((client) => client.subscribe(channels));
  }

  /** Subscribes to channel patterns (see `Client.psubscribe`). */
  psubscribe(patterns: string | string[]): void {
    this.#withClient((client) => client.psubscribe(patterns));
  }

  /** Subscribes to shard channels (see `Client.ssubscribe`). */
  ssubscribe(shardChannels: string | string[]): void {
    this.#withClient((client) => client.ssubscribe(shardChannels));
  }

  /** Unsubscribes from channels, or from every channel when none is named. */
  unsubscribe(channels?: string | string[]): void {
    this.#withClient((client) => client.unsubscribe(channels));
  }

  /** Unsubscribes from patterns, or from every pattern when none is named. */
  punsubscribe(patterns?: string | string[]): void {
    this.#withClient((client) => client.punsubscribe(patterns));
  }

  /** Unsubscribes from shard channels, or from every shard channel when none is named. */
  sunsubscribe(shardChannels?: string | string[]): void {
    this.#withClient((client) => client.sunsubscribe(shardChannels));
  }

  /**
   * The next message of the subscriptions, waiting at most `timeoutMs` (see `Client.nextMessage`); while the master
   * is gone it waits for the failover (at most `offlineTimeout`) and goes on with the new master.
   */
  nextMessage(timeoutMs: number): Message<string> | null {
    return this.#withClient((client) => client.nextMessage(timeoutMs));
  }

  /** As `nextMessage`, with the payload as bytes (binary-safe). */
  nextMessageBuffer(timeoutMs: number): Message<Uint8Array> | null {
    return this.#withClient((client) => client.nextMessageBuffer(timeoutMs));
  }

  /** Messages dropped because 10,000 waited for `nextMessage` on the current server's connection. */
  get droppedMessages(): number {
    return this.#client?.droppedMessages ?? 0;
  }

  /** How many times the client moved to a new server. */
  get switches(): number {
    return this.#switches;
  }

  /** Sends any command and returns its reply; an error reply is thrown. */
  send<T = Reply>(command: string, ...args: Arg[]): T {
    checkCommand(command, args[0]);
    return this.dispatch<T>(command, args, null, false);
  }

  /** As `send`, with bulk strings as `Uint8Array`. */
  sendBuffer<T = Reply>(command: string, ...args: Arg[]): T {
    checkCommand(command, args[0]);
    return this.dispatch<T>(command, args, null, true);
  }

  /**
   * A pipeline (see `Client.pipeline`) on the server the client uses when it is executed: one that could not reach
   * it (nothing was sent) follows the failover first, as a command does. A long one streamed while it is queued
   * stays on the server that got its first commands.
   */
  pipeline(): Pipeline {
    this.assertOpen();
    /** The client a long pipeline streamed its first commands to: the rest go there too. */
    let streamedOn: Client | null = null;
    return new Pipeline({
      stream: (encoder, streamed) => {
        if (streamed.commands > 0 && streamedOn !== null) return streamedOn.pipelineTarget.stream(encoder, streamed);
        this.#withClient((client) => {
          client.pipelineTarget.stream(encoder, streamed);
          streamedOn = client;
        });
      },
      run: (encoder, asBuffer, streamed) => {
        const on = streamed !== null && streamed.commands > 0 ? streamedOn : null;
        streamedOn = null;
        if (on !== null) return on.pipelineTarget.run(encoder, asBuffer, streamed);
        return this.#withClient((client) => client.pipelineTarget.run(encoder, asBuffer, streamed));
      },
    }, this.#keyPrefix);
  }

  /** A transaction on the current server: see `Client.multi`. */
  multi(): Pipeline<["OK"], []> {
    return this.pipeline().addCommand("MULTI");
  }

  /** Closes the connections to the server and the sentinels. Safe to call twice. */
  close(): void {
    const open = this.#client !== null;
    this.discardQueue();
    this.#client?.close();
    this.#client = null;
    void this.#sentinels.close(); // synchronous clients only: closed before it returns
    this.#stale = false;
    if (open) this.events.emit("close", { connection: -1 });
  }

  /** `close()`, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  protected dispatch<T>(command: string, args: Arg[], transform: Transform<T> | null, asBuffer: boolean): T {
    return this.#withClient((client) => {
      const reply = asBuffer ? client.sendBuffer(command, ...args) : client.send(command, ...args);
      return transform === null ? reply as T : transform(reply);
    });
  }

  protected assertOpen(): void {
    if (!this.#stale && this.#client === null) throw new ClosedError("cpipe: the sentinel client is closed");
  }

  /**
   * Runs `send` on the current server's client. One that could not reach the server (nothing left) waits for the
   * failover and runs again on the server the sentinels name; one the server refused as a replica (READONLY) runs
   * once more there.
   */
  #withClient<T>(send: (client: Client) => T): T {
    let wait: OfflineWait | null = null, readOnlyRefused = false;
    for (;;) {
      try {
        if (this.#stale) this.#locate();
        const client = this.#client;
        if (client === null) throw new ClosedError("cpipe: the sentinel client is closed");
        const result = send(client);
        this.#lostAt = 0;
        return result;
      } catch (e) {
        if (e instanceof ConnectionError) {
          this.#stale = true;
          this.#lostAt ||= Date.now();
        }
        if (e instanceof ReplyError && e.code === "READONLY" && !readOnlyRefused) {
          // The server is a replica now: the command did not run; the new master gets it.
          readOnlyRefused = true;
          this.#stale = true;
          continue;
        }
        // No server took it (the old one is gone, the sentinels have not promoted another yet): it never left,
        // so it waits for the failover.
        if (!(e instanceof ConnectionError && e.unsent) || !this.#settings.offlineQueue) throw e;
        wait ??= new OfflineWait(this.#settings.offlineTimeout, VERIFY_EVERY);
        wait.pause(e, `no ${this.#settings.role} of ${this.#settings.name} took the command`);
      }
    }
  }

  /** Asks the sentinels where the server is and connects there when it moved (checked with ROLE). */
  #locate(): void {
    const address = this.#sentinels.locate();
    if (this.#client !== null && this.#address !== null && same(address, this.#address) && !this.#client.closed) {
      this.#stale = false;
      return;
    }
    const client = new Client(
      clientSettings({ ...this.#settings.serverOptions, host: address.host, port: address.port } as never),
    );
    if (!hasRole(client.send("ROLE"), this.#settings.role)) {
      client.close();
      throw new ConnectionError(
        `cpipe: the sentinels name ${address.host}:${address.port}, which is not the ${this.#settings.role} (yet)`,
        { unsent: true },
      );
    }
    const old = this.#client;
    this.#client = client;
    this.#address = address;
    this.#stale = false;
    this.relay(client);
    if (old === null) return;
    this.#switches++;
    // The subscriptions move too: made again on the new master; what was published in between is lost.
    const since = this.#lostAt || Date.now(), held = old.subscriptions;
    old.close();
    if (held.channel.size + held.pattern.size + held.shard.size === 0) return;
    if (held.channel.size > 0) client.subscribe([...held.channel]);
    if (held.pattern.size > 0) client.psubscribe([...held.pattern]);
    if (held.shard.size > 0) client.ssubscribe([...held.shard]);
    this.events.emit("gap", { connection: -1, since, until: Date.now() });
  }
}

/**
 * Connects a synchronous client to the master of a set watched by Redis Sentinel (or a replica with
 * `role: "replica"`); throws when no sentinel names a server that says it has the role.
 *
 * @example
 * ```ts
 * const r = connectSentinel({ sentinels: ["redis://127.0.0.1:26379"], name: "mymaster", sentinelPassword: "pw" });
 * ```
 */
export function connectSentinel(options: SentinelOptions): SentinelClient {
  return new SentinelClient(sentinelSettings(options));
}
