/**
 * The synchronous cluster client: a synchronous client per node, opened on
 * first use, and the same router as the pool (slot map, key positions,
 * readFrom, natMap). Each call sends its command to the node serving its
 * slot and follows MOVED (the slot map is read again), ASK (ASKING, then
 * the command, on the node named), TRYAGAIN and CLUSTERDOWN (a pause, then
 * again) before it returns, at most `maxRedirects` times. A command whose
 * node cannot be reached (it never left) waits, pausing and reading the slot
 * map again, until its slot is served again, at most `offlineTimeout`.
 */
import { Client } from "../client.ts";
import { asItems } from "../scanning.ts";
import { ListeningClientCommands } from "../client_events.ts";
import { scanAllSync, scanArgs, type ScanOptions } from "../scan.ts";
import { ClosedError, ConnectionError, CpipeError, ReplyError } from "../errors.ts";
import { CommandEncoder, SMALL_SIZE } from "../encoder.ts";
import { checkCommand } from "../guards.ts";
import { type KeyPrefix, keyPrefixOf, withKeyPrefix } from "../key_positions.ts";
import { OfflineWait, sleepSync } from "../offline_wait.ts";
import type { Transform } from "../replies.ts";
import type { Arg, Reply } from "../types.ts";
import { ANY_SLOT, commandSlot, isReadOnly } from "./keys.ts";
import { type ClusterOptions, type ClusterSettings, clusterSettings, type ClusterStats } from "./options.ts";
import { type ClientPipelineHost, ClusterClientPipeline } from "./client_pipeline.ts";
import { type RoutedNode, SlotRouter } from "./router.ts";
import {
  type NodeAddress,
  parseSlots,
  type Redirect,
  redirectOf,
  type Shard,
  shardsFrom,
  transactionRedirect,
} from "./topology.ts";
import type { Issued } from "./pipeline.ts";

/** A node's synchronous client, connected on first use; `made` is told of it (the cluster client relays its events). */
class NodeClient {
  #client: Client | null = null;
  constructor(
    readonly settings: ClusterSettings,
    readonly address: NodeAddress,
    readonly made: (client: Client) => void,
  ) {}

  get client(): Client {
    if (this.#client === null) {
      this.#client = new Client(this.settings.node(this.address));
      this.made(this.#client);
    }
    return this.#client;
  }

  get open(): boolean {
    return this.#client !== null && !this.#client.closed;
  }

  close(): void {
    this.#client?.close();
    this.#client = null;
  }
}

/**
 * A synchronous Redis Cluster client: each call blocks until its reply is there, after following the cluster's
 * redirections. Made by {@linkcode connectCluster}.
 *
 * @example
 * ```ts
 * using cluster = connectCluster(["redis://127.0.0.1:7000"]);
 * cluster.set("{user:1}:name", "Ada");
 * cluster.get("{user:1}:name"); // "Ada"
 * ```
 */
export class ClusterClient extends ListeningClientCommands {
  readonly #settings: ClusterSettings;
  /**
   * The `keyPrefix` option, put on keys before their slot is found (the server hashes the prefixed key), so that
   * a redirection sends them again as they were. The nodes' clients add none.
   */
  readonly #keyPrefix: KeyPrefix | null;
  readonly #router: SlotRouter<NodeClient>;
  readonly #seedKeys: Set<string>;
  #closed = false;
  /** The slot map is stale (a node failed): read it again before the next command. */
  #stale = false;
  readonly #stats = { moved: 0, ask: 0, retried: 0, refreshes: 0, waits: 0 };

  /** @internal Use {@linkcode connectCluster}. */
  constructor(settings: ClusterSettings) {
    super();
    this.#settings = settings;
    this.#keyPrefix = keyPrefixOf(settings);
    this.#router = new SlotRouter<NodeClient>(
      {
        open: (address) => new NodeClient(settings, address, (client) => this.relay(client)),
        close: (node) => node.close(),
        up: (node) => node.open,
      },
      settings.natMap,
      settings.readFrom,
    );
    this.#seedKeys = new Set(this.#router.seed(settings.seeds).map((n) => n.key));
    this.#pipelineHost.replicaReads = settings.readFrom !== "master";
    this.#pipelineHost.keyPrefix = this.#keyPrefix;
    this.refresh();
  }

  /** The nodes known, as `host:port`. */
  get nodes(): string[] {
    return [...this.#router.nodes.keys()];
  }

  /** The masters, as `host:port`, as last discovered. */
  get masters(): string[] {
    return this.#router.masters.map((n) => n.key);
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Counts since the client was made (see `ClusterStats`; `waits` counts each pause). */
  get stats(): ClusterStats {
    return { ...this.#stats };
  }

  /** The node (`host:port`) a command on these arguments goes to now. */
  nodeFor(command: string, ...args: Arg[]): string {
    const slot = commandSlot(command, withKeyPrefix(this.#keyPrefix, command, args));
    if (typeof slot !== "number") throw slot;
    return this.#pick(slot, command, args).key;
  }

  /** Sends any command to the node serving its keys and returns its reply; an error reply is thrown. */
  send<T = Reply>(command: string, ...args: Arg[]): T {
    checkCommand(command, args[0]);
    return this.dispatch<T>(command, args, null, false);
  }

  /** As `send`, with bulk strings as `Uint8Array`. */
  sendBuffer<T = Reply>(command: string, ...args: Arg[]): T {
    checkCommand(command, args[0]);
    return this.dispatch<T>(command, args, null, true);
  }

  /** Sends a command to one node (`host:port` as in `nodes`), not routed and not redirected. */
  sendTo<T = Reply>(node: string, command: string, ...args: Arg[]): T {
    this.assertOpen();
    const target = this.#router.nodes.get(node);
    if (target === undefined) throw new CpipeError(`cpipe: no node ${node} in this cluster (see nodes)`);
    return target.handle.client.send<T>(command, ...withKeyPrefix(this.#keyPrefix, command, args));
  }

  /** Reads the slot map again from the cluster (also done after MOVED and after a node fails). */
  refresh(): void {
    this.assertOpen();
    const router = this.#router;
    const candidates = [...new Set([...router.masters, ...router.nodes.values()])];
    let failure: unknown = null;
    for (const node of candidates) {
      try {
        const shards = this.#ask(node);
        if (shards.length === 0) throw new ReplyError("ERR cpipe: the node knows no slots yet");
        router.apply(shards, this.#seedKeys);
        this.#stats.refreshes++;
        this.#stale = false;
        return;
      } catch (e) {
        failure = e;
      }
    }
    throw new ConnectionError(
      "cpipe: no node of the cluster described its slots" + (failure instanceof Error ? `: ${failure.message}` : ""),
      { cause: failure },
    );
  }

  /** Closes every node's connection. Safe to call twice. */
  close(): void {
    const first = !this.#closed;
    this.#closed = true;
    this.discardQueue();
    this.#router.closeAll();
    if (first) this.events.emit("close", { connection: -1 });
  }

  /** `close()`, for `using cluster = connectCluster(…)`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * A pipeline across the cluster: its commands are split by node, each node's part sent as one block (the
   * nodes work at the same time), and `execute()` returns the replies in the order they were queued. A command
   * redirected (MOVED, ASK, TRYAGAIN) is sent again on its own. A MULTI … EXEC in it must keep to one slot.
   *
   * @example
   * ```ts
   * const [a, b] = cluster.pipeline().incr("{user:1}:visits").get("greeting").execute();
   * ```
   */
  pipeline(): ClusterClientPipeline {
    this.assertOpen();
    return new ClusterClientPipeline(this.#pipelineHost as ClientPipelineHost<unknown>);
  }

  /**
   * Every key of the cluster, page by page (SCAN on each master in turn, as the slot map was when the walk began):
   * a key present all along is seen at least once, unless its slot moves meanwhile. `hscanIterator` and the others
   * go to the key's node.
   */
  override *scanIterator(options: ScanOptions = {}): Generator<string, void, undefined> {
    const args = scanArgs(options, true);
    for (const node of this.masters) {
      yield* scanAllSync((cursor) => this.sendTo(node, "SCAN", cursor, ...args), asItems);
    }
  }

  /**
   * Begins a transaction, sent by `exec()` to the node of its keys' slot (they must share one: give them a common
   * {hash tag}); see `Client.multi`.
   */
  multi(): ClusterClientPipeline<["OK"], []> {
    return this.pipeline().addCommand("MULTI");
  }

  /** What a pipeline needs of this client. */
  readonly #pipelineHost: ClientPipelineHost<RoutedNode<NodeClient>> = {
    // Both set by the constructor, once the settings are known.
    replicaReads: false,
    keyPrefix: null,
    route: (slot, read) => this.#router.pick(slot, read),
    target: (node) => node.handle.client.pipelineTarget,
    prepare: () => {
      this.assertOpen();
      this.#refreshIfStale();
    },
    follow: (issued, node, error, asBuffer) =>
      this.#inPlace(() => this.#exchange(issued.slot, node, issued.command, issued.args as Arg[], asBuffer, error)),
    followTransaction: (issued, node, replies, asBuffer) => this.#followTransaction(issued, node, replies, asBuffer),
    resend: (issued, asBuffer) => {
      this.#stale = true; // their node failed
      this.#refreshIfStale();
      return issued.map((one, k) =>
        this.#inPlace(() => {
          const args = one.args as Arg[];
          return this.#exchange(
            one.slot,
            this.#pick(one.slot, one.command, args),
            one.command,
            args,
            asBuffer[k]!,
            null,
          );
        })
      );
    },
  };

  /** The node for a command on `slot` now (a replica for a read, as `readFrom` says). */
  #pick(slot: number, command: string, args: readonly Arg[]): RoutedNode<NodeClient> {
    return this.#router.pick(slot, this.#settings.readFrom !== "master" && isReadOnly(command, args));
  }

  /** A pipeline's command's reply: an error reply in its place, as a pipeline's error replies are. */
  #inPlace(send: () => Reply): Reply {
    try {
      return send();
    } catch (e) {
      if (e instanceof ReplyError) return e;
      throw e;
    }
  }

  /** Routes one command of the typed methods; see `Commands`. */
  protected dispatch<T>(command: string, args: Arg[], transform: Transform<T> | null, asBuffer: boolean): T {
    this.assertOpen();
    const sent = withKeyPrefix(this.#keyPrefix, command, args);
    const slot = commandSlot(command, sent);
    if (typeof slot !== "number") throw slot;
    this.#refreshIfStale();
    const reply = this.#exchange(slot, this.#pick(slot, command, args), command, sent, asBuffer, null);
    return transform === null ? reply as T : transform(reply);
  }

  /** A node failed since the last command: read the slot map first (its replica may be master by then). */
  #refreshIfStale(): void {
    if (!this.#stale) return;
    try {
      this.refresh();
    } catch {
      // The old map may still serve this command.
    }
  }

  /**
   * Sends a command to `node` and follows MOVED, ASK, TRYAGAIN and CLUSTERDOWN, at most `maxRedirects` times;
   * `error`: the redirection it already got there (a pipeline's command), null to send it first.
   */
  #exchange(
    slot: number,
    node: RoutedNode<NodeClient>,
    command: string,
    args: Arg[],
    asBuffer: boolean,
    error: ReplyError | null,
  ): Reply {
    let asking = false, wait: OfflineWait | null = null;
    for (let redirects = 0;; redirects++) {
      if (error === null) {
        try {
          const client = node.handle.client;
          if (asking) client.send("ASKING");
          return asBuffer ? client.sendBuffer(command, ...args) : client.send(command, ...args);
        } catch (e) {
          if (!(e instanceof ReplyError)) {
            if (!(e instanceof ConnectionError)) throw e;
            // The node failed: the next command reads the slot map first.
            this.#stale = true;
            // Its connection could not be made, so the command never left: it waits for the node's return or a
            // replica's promotion (a failover), as the pool's commands do.
            if (!e.unsent || asking || !this.#settings.offlineQueue) throw e;
            wait ??= new OfflineWait(this.#settings.offlineTimeout, this.#settings.retryDelay);
            wait.pause(e, `no node took slot ${slot}`);
            this.#stats.waits++;
            this.#refreshIfStale();
            node = this.#pick(slot, command, args);
            redirects--; // a wait is not a redirection
            continue;
          }
          error = e;
        }
      }
      const redirect = redirectOf(error);
      if (redirect === null || redirects >= this.#settings.maxRedirects) throw error;
      error = null;
      asking = redirect.kind === "ask";
      node = this.#redirected(redirect, slot, node, redirects);
    }
  }

  /**
   * Sends a transaction refused by a redirection (see `transactionRedirect`) again, whole, where it is told to (ASKING
   * first after ASK), at most `maxRedirects` times; returns the replies of the last attempt. `issued`: its commands,
   * `replies`: the first attempt's, on `node`.
   */
  #followTransaction(
    issued: readonly Issued[],
    node: RoutedNode<NodeClient>,
    replies: Reply[],
    asBuffer: readonly boolean[],
  ): Reply[] {
    const slot = issued.find((one) => one.slot !== ANY_SLOT)?.slot ?? ANY_SLOT;
    for (let redirects = 0;; redirects++) {
      const redirect = transactionRedirect(replies);
      if (redirect === null || redirects >= this.#settings.maxRedirects) return replies;
      node = this.#redirected(redirect, slot, node, redirects);
      const asking = redirect.kind === "ask", encoder = new CommandEncoder(SMALL_SIZE);
      if (asking) encoder.add("ASKING", []);
      for (const one of issued) encoder.add(one.command, one.args as Arg[]);
      const answered = node.handle.client.pipelineTarget.run(encoder, asking ? [false, ...asBuffer] : asBuffer, null);
      replies = asking ? answered.slice(1) : answered;
    }
  }

  /**
   * The node a redirection sends a command on `slot` to from `node`, after its `redirects`-th pause for TRYAGAIN or
   * CLUSTERDOWN; MOVED tells the router (and reads the slot map before the next command).
   */
  #redirected(
    redirect: Redirect,
    slot: number,
    node: RoutedNode<NodeClient>,
    redirects: number,
  ): RoutedNode<NodeClient> {
    this.#stats[redirect.kind === "retry" ? "retried" : redirect.kind]++;
    if (redirect.kind === "retry") {
      sleepSync(Math.min(1_000, this.#settings.retryDelay * 2 ** redirects));
      return this.#router.pick(slot, false);
    }
    const address = redirect.address.host === "?" ? { ...redirect.address, host: node.address.host } : redirect.address;
    if (redirect.kind === "ask") return this.#router.node(address);
    this.#stale = true;
    return this.#router.moved(redirect.slot, address);
  }

  protected assertOpen(): void {
    if (this.#closed) throw new ClosedError("cpipe: the cluster client is closed");
  }

  /** One node's description of the cluster (CLUSTER SHARDS, else CLUSTER SLOTS). */
  #ask(node: RoutedNode<NodeClient>): Shard[] {
    const client = node.handle.client;
    let reply: Reply;
    try {
      reply = client.send("CLUSTER", "SHARDS");
    } catch (e) {
      if (!(e instanceof ReplyError)) throw e;
      reply = e;
    }
    return shardsFrom(reply, node.address.host, this.#settings.tls) ??
      parseSlots(client.send("CLUSTER", "SLOTS"), node.address.host);
  }
}

/**
 * Connects to a Redis Cluster synchronously: reads its slot map from the first seed node that answers, then
 * sends each command to the node serving its keys, following redirections. Throws when no seed describes the
 * cluster.
 *
 * @example
 * ```ts
 * const cluster = connectCluster({ nodes: [{ host: "127.0.0.1", port: 7000 }], readFrom: "preferReplica" });
 * cluster.incr("{stats}:hits");
 * cluster.close();
 * ```
 */
export function connectCluster(
  nodes: string[] | ClusterOptions,
  options?: Omit<ClusterOptions, "nodes">,
): ClusterClient {
  return new ClusterClient(clusterSettings(nodes, options));
}
