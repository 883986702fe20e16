/**
 * The asynchronous cluster client: one native pool whose I/O thread drives
 * a connection to every node (added as direct connections while it runs),
 * commands routed by the slot of their keys to the connection of the node
 * that serves it, and redirections followed before the caller sees them:
 * the dispatcher shows each error reply to this router first, which sends
 * the command again to the node a MOVED or ASK names (after ASKING), or
 * after a pause on TRYAGAIN / CLUSTERDOWN, at most `maxRedirects` times.
 */
import { SubscribingCommands, type Subscriptions } from "../subscribing.ts";
import { ClosedError, ConnectionError, CpipeError, ReplyError } from "../errors.ts";
import { checkCommand } from "../guards.ts";
import { Role } from "../../ffi/abi.ts";
import { PoolCore } from "../pool_core.ts";
import { BLOCKING, classify, SHARED, statefulError } from "../pool_routing.ts";
import type { Transform } from "../replies.ts";
import { scanAll, scanArgs, type ScanOptions } from "../scan.ts";
import { asItems } from "../scanning.ts";
import { encodeConnectionSettings } from "../settings.ts";
import { type KeyPrefix, keyPrefixOf, withKeyPrefix, withKeyPrefixOrError } from "../key_positions.ts";
import type { Arg, Reply } from "../types.ts";
import { ANY_SLOT, commandSlot, isReadOnly } from "./keys.ts";
import { type ClusterOptions, type ClusterSettings, clusterSettings, type ClusterStats } from "./options.ts";
import { ClusterPipeline, type Issued, type PipelineHost, sentCommand, type SentPart } from "./pipeline.ts";
import { type RoutedNode, SlotRouter } from "./router.ts";
import { BlockingConnections } from "./blocking.ts";
import { slotOf } from "./slot.ts";
import { PoolConnection } from "../pool_connection.ts";
import { argString } from "../encoder.ts";
import { ClusterSubscriber } from "./subscriber.ts";
import { ParkedCalls } from "./parked.ts";
import { unrefInterval, unrefTimeout } from "./timers.ts";
import {
  addressKey,
  type NodeAddress,
  parseAddress,
  parseSlots,
  redirectOf,
  type Shard,
  shardsFrom,
} from "./topology.ts";

/** What a redirected call sends again: its command by name (one call), or packed (a pipeline's; see `SentPart`). */
type Resend = Issued | { readonly packed: Uint8Array; readonly slot: number };

/** How long one node may take to describe the cluster before the next one is asked. */
const DISCOVERY_TIMEOUT = 2_000;
/** The shortest time between two refreshes of the slot map that errors asked for. */
const REFRESH_GAP = 100;
/** How often the slot map is read again while a slot's master is down (a failover is under way). */
const REPAIR_EVERY = 250;

/**
 * A Redis Cluster client over one native pool: every command method returns a promise; commands are routed to
 * the node serving their keys' slot; MOVED, ASK, TRYAGAIN and CLUSTERDOWN are followed before the caller sees
 * them. Commands without keys go to any master; a command whose keys hash to different slots is refused at
 * once. Made by {@linkcode connectClusterPool}.
 *
 * @example
 * ```ts
 * await using cluster = await connectClusterPool(["redis://127.0.0.1:7000"]);
 * await cluster.set("{user:1}:name", "Ada");
 * await cluster.mget("{user:1}:name", "{user:1}:email"); // one slot: one node
 * ```
 */
export class ClusterPool extends SubscribingCommands {
  readonly #core: PoolCore;
  readonly #settings: ClusterSettings;
  /**
   * The `keyPrefix` option, put on keys before their slot is found (the server hashes the prefixed key); what a
   * redirection sends again is kept with it. The nodes' connections add none.
   */
  readonly #keyPrefix: KeyPrefix | null;
  readonly #router: SlotRouter<number>;
  /**
   * Per call id (the core's `notes`, dropped when the call is done): what to send again on a redirection, by name or
   * packed (`Resend`), or for a pipeline's command the part it was sent in (`SentPart`; its place there in
   * `#sentPlace`); undefined: nothing.
   */
  readonly #notes: (Resend | SentPart | undefined)[];
  #sentPlace: number[] = [];
  /** The command `#issue` is issuing, until `onCall` takes it; undefined otherwise (other calls are not sent again). */
  #current: Issued | undefined;
  /** Redirections followed so far, per call id (only for calls redirected at least once). */
  readonly #redirects = new Map<number, number>();
  /** Per connection index: up now. */
  readonly #up: boolean[] = [];
  /** Per connection index: why it broke, while it has not come back (its calls are parked meanwhile). */
  readonly #broken: (string | undefined)[] = [];
  readonly #parked: ParkedCalls;
  readonly #seedKeys: Set<string>;
  #refreshing: Promise<void> | null = null;
  #lastRefresh = 0;
  #refreshTimer: ReturnType<typeof setInterval> | undefined;
  #repairTimer: ReturnType<typeof setTimeout> | undefined;
  #retryTimers = new Set<ReturnType<typeof setTimeout>>();
  #closed = false;
  readonly #stats = { moved: 0, ask: 0, retried: 0, refreshes: 0, waits: 0 };
  /** What a pipeline needs of the cluster. */
  readonly #pipelineHost: PipelineHost;
  readonly #subscriber: ClusterSubscriber;
  readonly #blockers: BlockingConnections;
  /** Connections lent by `acquire()`, per node: timed as the shared ones are. */
  readonly #leases: BlockingConnections;

  /** @internal Use {@linkcode connectClusterPool}. */
  constructor(settings: ClusterSettings) {
    super();
    this.#settings = settings;
    this.#keyPrefix = keyPrefixOf(settings);
    this.#pipelineHost = {
      core: () => this.#core,
      replicaReads: settings.readFrom !== "master",
      keyPrefix: this.#keyPrefix,
      route: (slot, read) => this.#router.pick(slot, read).handle,
      connection: (route, slots) => {
        if (this.#broken[route] === undefined) return route;
        return this.#parked.connection(slots.find((slot) => slot !== ANY_SLOT) ?? ANY_SLOT, false);
      },
      redirected: async (redirect, slot, attempt) => {
        if (attempt >= this.#settings.maxRedirects) return null;
        this.#stats[redirect.kind === "retry" ? "retried" : redirect.kind]++;
        if (redirect.kind === "retry") await this.#pause(attempt);
        // MOVED: #inspect has told the router already.
        if (redirect.kind !== "ask") return { route: this.#router.pick(slot, false).handle, asking: false };
        return { route: this.#router.node(this.#redirectAddress(redirect.address)).handle, asking: true };
      },
      sent: (ids, part) => {
        const notes = this.#notes, place = this.#sentPlace, redirects = this.#redirects;
        for (let k = 0; k < ids.length; k++) {
          const id = ids[k]!;
          notes[id] = part ?? undefined;
          place[id] = k;
          if (redirects.size > 0) redirects.delete(id); // a count left by the id's last call
        }
      },
    };
    const seed = settings.seeds[0]!;
    // The pool's own connection goes to the first seed: the first node's connection.
    this.#core = new PoolCore(settings.node(seed));
    this.#notes = this.#core.notes as (Resend | SentPart | undefined)[];
    let seedConnection: number | null = 0;
    const seedKey = addressKey(seed);
    this.#router = new SlotRouter<number>(
      {
        open: (address, key) => {
          if (key === seedKey && seedConnection !== null) {
            const connection = seedConnection;
            seedConnection = null;
            return connection;
          }
          const connection = this.#core.addConnection(
            encodeConnectionSettings(settings.node(address)),
            Role.DIRECT,
            0,
          );
          this.#broken[connection] = undefined; // an index used before is a new connection
          return connection;
        },
        close: (connection) => {
          if (connection === 0) {
            seedConnection = 0; // the pool's own: kept for later discoveries, and still up
            return;
          }
          // The node left the slot map: what it owed was lost with it, and what never left goes to the new map's node.
          this.#core.removeConnection(connection, true);
          this.#up[connection] = false;
        },
        up: (connection) => this.#up[connection] === true,
      },
      settings.natMap,
      settings.readFrom,
    );
    this.#seedKeys = new Set(this.#router.seed(settings.seeds).map((n) => n.key));
    this.#core.onCall = (id) => {
      this.#notes[id] = this.#current;
      // Its first call only: a long turn's early drain, still inside #issue, may run a listener that calls too.
      this.#current = undefined;
      // An id is used again once its call is done; that call may have left a count of redirections.
      if (this.#redirects.size > 0) this.#redirects.delete(id);
    };
    this.#core.inspect = (id, reply) => this.#inspect(id, reply);
    this.#core.takeBack = (id, error, connection) => this.#takeBack(id, error, connection);
    const subscriber = this.#subscriber = this.#makeSubscriber();
    const core = this.#core, nodeSettings = settings.node(seed);
    // Per node, connections of their own: for blocking commands (untimed), and lent by acquire().
    const connections = (use: string, blocking: boolean) =>
      new BlockingConnections({
        addConnection: (bytes, role) => core.addConnection(bytes, role),
        removeConnection: (connection) => core.removeConnection(connection),
        settings: (node) => this.#nodeSettings(node, blocking),
        limit: settings.blockingConnections,
        use,
        acquireTimeout: nodeSettings.acquireTimeout,
      });
    this.#blockers = connections("blocking commands", true);
    this.#leases = connections("acquire()", false);
    this.#parked = new ParkedCalls(
      {
        route: (slot, read) => this.#router.pick(slot, read).handle,
        down: (connection) => this.#broken[connection] !== undefined,
        spare: () => this.#router.masters.find((m) => this.#broken[m.handle] === undefined)?.handle ?? -1,
        describe: (connection) => this.#broken[connection] ?? `connection ${connection} is down`,
        hold: (delta) => this.#core.hold(delta),
      },
      nodeSettings.offlineTimeout,
      nodeSettings.maxQueued,
      settings.offlineQueue,
    );
    this.#core.onPushRecord = (bytes, start, connection) => subscriber.push(bytes, start, connection);
    this.#core.onEvent = (event) => {
      subscriber.event(event);
      if (event.type === "up") {
        this.#up[event.connection] = true;
        this.#broken[event.connection] = undefined;
        this.#parked.recheck();
      }
      if (event.type === "down") {
        this.#up[event.connection] = false;
        if (!this.#closed) {
          this.#broken[event.connection] = event.message;
          this.#repairSoon();
        }
      }
      this.events.connection(event);
    };
    if (settings.refreshInterval > 0) {
      this.#refreshTimer = unrefInterval(() => void this.refresh().catch(() => {}), settings.refreshInterval);
    }
  }

  /** The subscriptions' host: subscriber connections to nodes of this pool's core, placed by the slot map. */
  #makeSubscriber(): ClusterSubscriber {
    const settings = this.#settings, router = this.#router, up = (handle: number) => this.#up[handle] === true;
    const subscriber = new ClusterSubscriber({
      core: this.#core,
      settings: (node) => this.#nodeSettings(node, false),
      master: (slot) => router.pick(slot, false).key,
      anyMaster: () => (router.masters.find((m) => up(m.handle)) ?? router.any()).key,
      serving: (node) => router.masters.some((m) => m.key === node && up(m.handle)),
      moved: (slot, address) => {
        router.moved(slot, address);
        this.#refreshSoon();
      },
      refresh: () => this.refresh(),
      maxRedirects: settings.maxRedirects,
      retryDelay: settings.retryDelay,
    });
    subscriber.onGap = (gap) => this.events.emit("gap", gap);
    return subscriber;
  }

  /** A connection's settings for a node (`host:port`); a blocking command's has no command timeout. */
  #nodeSettings(node: string, blocking: boolean): Uint8Array {
    const address = this.#router.nodes.get(node)?.address ?? parseAddress(node)!;
    const settings = this.#settings.node(address);
    return encodeConnectionSettings(blocking ? { ...settings, commandTimeout: 0 } : settings);
  }

  /** @internal The first discovery; rejects when no seed node answers. */
  async start(): Promise<void> {
    try {
      await this.refresh();
    } catch (e) {
      await this.close();
      throw e;
    }
  }

  /** The nodes connected to, as `host:port`. */
  get nodes(): string[] {
    return [...this.#router.nodes.keys()];
  }

  /** The masters, as `host:port`, as last discovered. */
  get masters(): string[] {
    return this.#router.masters.map((n) => n.key);
  }

  /** Counts since the pool was made (see `ClusterStats`; `waits` counts the commands that waited). */
  get stats(): ClusterStats {
    return { ...this.#stats };
  }

  /** Commands issued whose replies did not come yet. */
  get pending(): number {
    return this.#core.pending;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The node (`host:port`) a command on these arguments goes to now. */
  nodeFor(command: string, ...args: Arg[]): string {
    const slot = commandSlot(command, withKeyPrefix(this.#keyPrefix, command, args));
    if (typeof slot !== "number") throw slot;
    return this.#router.pick(slot, this.#settings.readFrom !== "master" && isReadOnly(command, args)).key;
  }

  /**
   * Sends any command to the node serving its keys; resolves with its reply. Commands without keys go to any
   * master (use `sendTo` for a given node).
   *
   * @example
   * ```ts
   * await cluster.send("XADD", "{orders}:stream", "*", "id", "42");
   * ```
   */
  send<T = Reply>(command: string, ...args: Arg[]): Promise<T> {
    return this.#send<T>(command, args, null, false);
  }

  /** As `send`, with bulk strings as `Uint8Array`. */
  sendBuffer<T = Reply>(command: string, ...args: Arg[]): Promise<T> {
    return this.#send<T>(command, args, null, true);
  }

  /**
   * Sends a command to one node (`host:port` as in `nodes`), not routed and not redirected: for CLUSTER INFO,
   * INFO, DBSIZE, FLUSHALL on each node.
   *
   * @example
   * ```ts
   * for (const node of cluster.masters) await cluster.sendTo(node, "FLUSHALL");
   * ```
   */
  sendTo<T = Reply>(node: string, command: string, ...args: Arg[]): Promise<T> {
    const target = this.#router.nodes.get(node);
    if (target === undefined) {
      return Promise.reject(new CpipeError(`cpipe: no node ${node} in this cluster (see nodes)`));
    }
    const sent = withKeyPrefixOrError(this.#keyPrefix, command, args);
    if (sent instanceof Error) return Promise.reject(sent);
    return this.#core.call(target.handle, command, sent, null, false);
  }

  /**
   * Every key of the cluster, page by page (SCAN on each master in turn, as the slot map was when the walk
   * began): a key present all along is seen at least once, unless its slot moves meanwhile.
   *
   * @example
   * ```ts
   * for await (const key of cluster.scanIterator({ match: "session:*" })) await cluster.del(key);
   * ```
   */
  override async *scanIterator(options: ScanOptions = {}): AsyncGenerator<string, void, undefined> {
    const args = scanArgs(options, true);
    for (const node of this.masters) yield* scanAll((cursor) => this.sendTo(node, "SCAN", cursor, ...args), asItems);
  }

  /**
   * A pipeline across the cluster: its commands are split by node, each node's part sent as one block (all in
   * parallel), and `execute()` gives the replies back in the order they were queued. A MULTI … EXEC in it must
   * keep to one slot.
   */
  pipeline(): ClusterPipeline {
    return new ClusterPipeline(this.#pipelineHost);
  }

  /**
   * Begins a transaction, sent by `exec()` to the node of its keys' slot (they must share one: give them a common
   * {hash tag}); see `Pool.multi`.
   */
  multi(): ClusterPipeline<["OK"], []> {
    return this.pipeline().addCommand("MULTI");
  }

  /**
   * Acquires a connection of its own to the master serving `key`'s slot, for what must run on one connection:
   * WATCH … MULTI … EXEC across awaits (optimistic locking, as go-redis' `Watch`). Release it when done. Its commands
   * go to that node as they are, not routed: one for a key another master serves is answered MOVED.
   * `commandTimeout` bounds them all (run blocking commands with the pool's own methods). At most
   * `exclusiveConnections` per node; when all are taken, waits up to `acquireTimeout`.
   *
   * @example
   * ```ts
   * await using c = await cluster.acquire("{user:42}:balance");
   * await c.watch("{user:42}:balance");
   * const balance = Number(await c.get("{user:42}:balance"));
   * await c.multi().set("{user:42}:balance", balance - 10).exec(); // null when it changed meanwhile
   * ```
   */
  async acquire(key: Arg): Promise<PoolConnection> {
    if (this.#closed) throw new ClosedError("cpipe: the cluster client is closed");
    const text = typeof key === "string" || key instanceof Uint8Array ? key : argString(key, "acquire()", 1);
    const slot = slotOf(this.#keyPrefix === null ? text : this.#keyPrefix.apply("GET", [text])[0]!);
    // While the slot's master is down (a failover), wait as commands do (see ParkedCalls).
    const ready = this.#parked.connection(slot, false);
    if (typeof ready !== "number") await ready;
    const node = this.#router.pick(slot, false).key;
    const connection = await this.#leases.acquire(node);
    const release = (reusable: boolean) => this.#leases.release(node, connection, reusable);
    return new PoolConnection(this.#core, connection, { release, keyPrefix: this.#keyPrefix });
  }

  // ---- Pub/Sub -------------------------------------------------------------------------------------------------

  /** The nodes (`host:port`) subscriber connections are open to now. */
  get subscriberNodes(): string[] {
    return this.#subscriber.nodes;
  }

  /** This pool's subscriptions, or why it takes none now (closed); see `SubscribingCommands`. */
  protected subscriptions(): Subscriptions | Error {
    return this.#core.refusal() ?? this.#subscriber;
  }

  /**
   * Reads the slot map again now (it is also read after MOVED answers, when a node's connection drops, and every
   * `refreshInterval`). Resolves when it is read; rejects when no node could describe the cluster.
   */
  refresh(): Promise<void> {
    if (this.#refreshing !== null) return this.#refreshing;
    this.#refreshing = this.#discover().finally(() => {
      this.#refreshing = null;
      this.#lastRefresh = Date.now();
    });
    return this.#refreshing;
  }

  /**
   * Stops taking commands, lets those in flight finish (at most `closeTimeout`), closes every node's
   * connection. Safe to call twice.
   */
  async close(): Promise<void> {
    const first = !this.#closed;
    this.#closed = true;
    this.#parked.fail(new ClosedError("cpipe: the cluster client is closed"));
    clearInterval(this.#refreshTimer);
    clearTimeout(this.#repairTimer);
    this.#subscriber.close();
    this.#blockers.close();
    this.#leases.close();
    await this.#core.close();
    for (const timer of this.#retryTimers) clearTimeout(timer);
    this.#retryTimers.clear();
    if (first) this.events.emit("close", { connection: -1 });
  }

  /** `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Routes one command of the typed methods; see `Commands`. */
  protected dispatch<T>(command: string, args: Arg[], transform: Transform<T> | null, asBuffer: boolean): Promise<T> {
    const sent = withKeyPrefixOrError(this.#keyPrefix, command, args);
    if (sent instanceof Error) return Promise.reject(sent);
    const slot = commandSlot(command, sent);
    if (typeof slot !== "number") return Promise.reject(slot);
    const read = this.#settings.readFrom !== "master" && isReadOnly(command, args);
    const connection = this.#parked.connection(slot, read);
    if (typeof connection === "number") return this.#issue(connection, command, sent, slot, transform, asBuffer);
    return connection.then((parked) => this.#issue(parked, command, sent, slot, transform, asBuffer));
  }

  /** Calls `command` on `connection`, keeping what a redirection would send again. */
  #issue<T>(
    connection: number,
    command: string,
    args: Arg[],
    slot: number,
    transform: Transform<T> | null,
    asBuffer: boolean,
  ): Promise<T> {
    this.#current = { command, args, slot };
    try {
      return this.#core.call(connection, command, args, transform, asBuffer);
    } finally {
      // Only this call is the router's to send again: others (a subscription, CLUSTER SHARDS) must not inherit it.
      this.#current = undefined;
    }
  }

  #send<T>(command: string, args: Arg[], transform: Transform<T> | null, asBuffer: boolean): Promise<T> {
    try {
      checkCommand(command, args[0]);
    } catch (e) {
      return Promise.reject(e);
    }
    const kind = classify(command, args);
    if (kind === BLOCKING) return this.#blocking(command, args, transform, asBuffer);
    if (kind !== SHARED) return Promise.reject(statefulError(command));
    return this.dispatch(command, args, transform, asBuffer);
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

  /**
   * Runs a blocking command on a connection of its own to the master serving its key (see BlockingConnections),
   * following MOVED, ASK (ASKING first, on the same connection) and TRYAGAIN at most `maxRedirects` times.
   */
  async #blocking<T>(command: string, args: Arg[], transform: Transform<T> | null, asBuffer: boolean): Promise<T> {
    const sent = withKeyPrefix(this.#keyPrefix, command, args);
    const slot = commandSlot(command, sent);
    if (typeof slot !== "number") throw slot;
    let asking: RoutedNode<number> | null = null;
    for (let attempt = 0;; attempt++) {
      if (asking === null) {
        // While the master's shared connection is down (a failover), wait as other commands do (see ParkedCalls).
        const ready = this.#parked.connection(slot, false);
        if (typeof ready !== "number") await ready;
      }
      const node = (asking ?? this.#router.pick(slot, false)).key;
      const connection = await this.#blockers.acquire(node);
      try {
        // Not re-sent by #inspect (no #current): a redirection must not move it to the node's shared connection.
        if (asking !== null) this.#core.call(connection, "ASKING", [], null, false).catch(() => {});
        return await this.#core.call(connection, command, sent, transform, asBuffer);
      } catch (e) {
        const redirect = redirectOf(e as Reply);
        if (redirect === null || attempt >= this.#settings.maxRedirects || this.#closed) throw e;
        this.#stats[redirect.kind === "retry" ? "retried" : redirect.kind]++;
        asking = null;
        // MOVED: #inspect has told the router already.
        if (redirect.kind === "ask") asking = this.#router.node(this.#redirectAddress(redirect.address));
        if (redirect.kind === "retry") await this.#pause(attempt);
      } finally {
        this.#blockers.release(node, connection);
      }
    }
  }

  // ---- redirections ------------------------------------------------------------------------------------------

  /** The wait before sending again what got its `attempt`-th TRYAGAIN or CLUSTERDOWN (counted from 0). */
  #pause(attempt: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, Math.min(1_000, this.#settings.retryDelay * 2 ** attempt)));
  }

  /** Sees every error reply before its caller: false lets it through, true when the command was sent again. */
  #inspect(id: number, reply: ReplyError): boolean {
    const issued = this.#take(id);
    const redirect = redirectOf(reply);
    if (redirect === null) {
      this.#redirects.delete(id);
      return false;
    }
    if (redirect.kind === "moved") {
      this.#router.moved(redirect.slot, this.#redirectAddress(redirect.address));
      this.#refreshSoon();
    } else if (redirect.kind === "retry") {
      this.#refreshSoon();
    }
    const count = (this.#redirects.get(id) ?? 0) + 1;
    if (issued === undefined || count > this.#settings.maxRedirects) {
      this.#redirects.delete(id);
      return false;
    }
    this.#redirects.set(id, count);
    this.#stats[redirect.kind === "retry" ? "retried" : redirect.kind]++;
    if (redirect.kind === "retry") {
      const delay = Math.min(1_000, this.#settings.retryDelay * 2 ** (count - 1));
      const timer = setTimeout(() => {
        this.#retryTimers.delete(timer);
        this.#reissue(id, issued, this.#router.pick(issued.slot, false).handle, false);
      }, delay);
      this.#retryTimers.add(timer);
      return true;
    }
    const node = redirect.kind === "moved"
      ? this.#router.pick(redirect.slot, false)
      : this.#router.node(this.#redirectAddress(redirect.address));
    this.#reissue(id, issued, node.handle, redirect.kind === "ask");
    return true;
  }

  /**
   * A call that failed on its way out, never reaching its node (the connection had broken, or could not be made):
   * it waits, as a command issued now would, until a connection that is not down takes its slot (`ParkedCalls`),
   * and goes there. False (it fails as it is) for a call the router cannot send again, or one taken back
   * `maxRedirects` times already, or when nothing waits (`offlineQueue: false`).
   */
  #takeBack(id: number, error: ConnectionError, connection: number): boolean {
    const issued = this.#take(id);
    const count = (this.#redirects.get(id) ?? 0) + 1;
    if (this.#closed || !this.#settings.offlineQueue || issued === undefined || count > this.#settings.maxRedirects) {
      this.#redirects.delete(id);
      return false;
    }
    this.#redirects.set(id, count);
    this.#stats.waits++;
    // Its DOWN may not have been drained yet: the connection is down all the same.
    if (connection >= 0) this.#broken[connection] ??= error.message.replace(/^cpipe: /, "");
    const ready = this.#parked.connection(issued.slot, false);
    // Not at once: the batcher may be in the middle of its queue.
    if (typeof ready === "number") queueMicrotask(() => this.#reissue(id, issued, ready, false));
    else ready.then((parked) => this.#reissue(id, issued, parked, false), (e) => this.#core.failCall(id, e));
    return true;
  }

  /** What to send again for a call (by name, or as packed), forgetting it; undefined for one never recorded. */
  #take(id: number): Resend | undefined {
    const note = this.#notes[id];
    this.#notes[id] = undefined;
    return note !== undefined && "starts" in note ? sentCommand(note, this.#sentPlace[id]!) : note;
  }

  /** A redirection's address; ":port" (no host) means the host of the seed (the node that answered). */
  #redirectAddress(address: NodeAddress): NodeAddress {
    return address.host === "?" ? { host: this.#settings.seeds[0]!.host, port: address.port } : address;
  }

  /** Sends a call's command again on a connection; it stays re-sendable (ASKING's own call does not). */
  #reissue(id: number, issued: Resend, connection: number, asking: boolean): void {
    this.#notes[id] = issued;
    this.#core.reissue(id, connection, "packed" in issued ? issued.packed : issued, asking);
  }

  // ---- the slot map ------------------------------------------------------------------------------------------

  /** Refreshes the slot map in the background, at most once per REFRESH_GAP. */
  #refreshSoon(): void {
    if (this.#closed || this.#refreshing !== null) return;
    const wait = this.#lastRefresh + REFRESH_GAP - Date.now();
    if (wait <= 0) void this.refresh().catch(() => {});
    else if (this.#repairTimer === undefined) {
      this.#repairTimer = unrefTimeout(() => {
        this.#repairTimer = undefined;
        this.#refreshSoon();
      }, wait);
    }
  }

  /**
   * A connection dropped: read the slot map again, and again every REPAIR_EVERY while a slot's master is down
   * (its replica is being promoted), so that commands go to the new master as soon as the cluster names it.
   */
  #repairSoon(): void {
    if (this.#repairTimer !== undefined || this.#closed) return;
    this.#repairTimer = unrefTimeout(async () => {
      try {
        await this.refresh();
      } catch {
        // No node answered: try again below.
      }
      this.#repairTimer = undefined;
      if (!this.#closed && this.#router.masters.some((m) => this.#up[m.handle] !== true)) this.#repairSoon();
    }, this.#lastRefresh + REFRESH_GAP > Date.now() ? REPAIR_EVERY : 0);
  }

  /** Asks the known masters, then the seeds, for the slot map, until one answers; applies it. */
  async #discover(): Promise<void> {
    const router = this.#router;
    const candidates: RoutedNode<number>[] = [];
    const seen = new Set<string>();
    const up = (n: RoutedNode<number>) => this.#up[n.handle] === true;
    // Nodes that are up first, masters before the others, each list from a random start.
    const all = [...router.masters, ...router.nodes.values()];
    const start = Math.floor(Math.random() * Math.max(1, router.masters.length));
    for (const wantUp of [true, false]) {
      for (let i = 0; i < all.length; i++) {
        const node = all[(i + (i < router.masters.length ? start : 0)) % all.length]!;
        if (up(node) === wantUp && !seen.has(node.key)) {
          seen.add(node.key);
          candidates.push(node);
        }
      }
    }
    let failure: unknown = null;
    for (const node of candidates) {
      if (this.#closed) throw new ClosedError("cpipe: the cluster client is closed");
      try {
        const shards = await this.#ask(node);
        if (shards.length === 0) throw new ReplyError("ERR cpipe: the node knows no slots yet");
        router.apply(shards, this.#seedKeys);
        this.#stats.refreshes++;
        this.#parked.recheck();
        this.#subscriber.topologyChanged();
        const nodes = new Set(router.nodes.keys());
        this.#blockers.keepOnly(nodes);
        this.#leases.keepOnly(nodes);
        return;
      } catch (e) {
        failure = e;
      }
    }
    if (failure instanceof ClosedError) throw failure;
    throw new ConnectionError(
      "cpipe: no node of the cluster described its slots" + (failure instanceof Error ? `: ${failure.message}` : ""),
      { cause: failure },
    );
  }

  /** One node's description of the cluster (CLUSTER SHARDS, else CLUSTER SLOTS), within DISCOVERY_TIMEOUT. */
  async #ask(node: RoutedNode<number>): Promise<Shard[]> {
    const ask = (sub: string): Promise<Reply> => {
      const answer = this.#core.call<Reply>(node.handle, "CLUSTER", [sub], null, false);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = unrefTimeout(() => {
          reject(new ReplyError(`ERR cpipe: ${node.key} did not answer CLUSTER ${sub} within ${DISCOVERY_TIMEOUT} ms`));
        }, DISCOVERY_TIMEOUT);
      });
      return Promise.race([answer, late]).finally(() => clearTimeout(timer));
    };
    const shards = shardsFrom(await ask("SHARDS").catch((e) => e), node.address.host, this.#settings.tls);
    return shards ?? parseSlots(await ask("SLOTS"), node.address.host);
  }
}

/**
 * Connects to a Redis Cluster: discovers its slots from the first seed node that answers, then routes every
 * command to the node serving its keys, over one native I/O thread with a connection per node. Rejects when no
 * seed describes the cluster.
 *
 * @example
 * ```ts
 * const cluster = await connectClusterPool(["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"]);
 * await cluster.set("greeting", "hello");
 * await cluster.close();
 * ```
 */
export async function connectClusterPool(
  nodes: string[] | ClusterOptions,
  options?: Omit<ClusterOptions, "nodes">,
): Promise<ClusterPool> {
  const pool = new ClusterPool(clusterSettings(nodes, options));
  await pool.start();
  return pool;
}
