/**
 * The options of `connectCluster` and `connectClusterPool`: the seed nodes
 * (URLs or addresses), the connection options every node gets (AUTH, TLS,
 * timeouts…), the pool's own per node, and the cluster's: `readFrom`,
 * `natMap`, `keyPrefix`, redirection and retry bounds, the refresh interval.
 */
import {
  bool,
  type ConnectOptions,
  keyPrefixOption,
  type PoolOptions,
  type PoolSettings,
  poolSettings,
  withReadOnly,
} from "../options.ts";
import { parseRedisUrl } from "../url.ts";
import type { ReadFrom } from "./router.ts";
import type { NatMap, NodeAddress } from "./topology.ts";

/**
 * Options of {@linkcode connectCluster} and {@linkcode connectClusterPool}: the seed nodes, the options every
 * node's connection gets, and the cluster's own.
 *
 * @example
 * ```ts
 * await connectClusterPool({ nodes: ["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"], readFrom: "preferReplica" });
 * ```
 */
export interface ClusterOptions extends
  ConnectOptions,
  Pick<
    PoolOptions,
    | "maxInFlight"
    | "maxQueued"
    | "reconnectMaxDelay"
    | "closeTimeout"
    | "offlineQueue"
    | "offlineTimeout"
    | "exclusiveConnections"
    | "acquireTimeout"
  > {
  /**
   * Nodes to discover the cluster from: `redis://` URLs (the first one's user, password and TLS apply to every
   * node unless given as options) or `{ host, port }`. Any one reachable node is enough.
   *
   * @example `{ nodes: ["redis://127.0.0.1:7000", { host: "127.0.0.1", port: 7001 }] }`
   */
  nodes: (string | NodeAddress)[];
  /**
   * Where read-only commands go: `"master"` (default), `"replica"` (a slot's replicas in turn; its master when it
   * has none) or `"preferReplica"` (a replica that is up, else the master). Replica connections send READONLY.
   *
   * @example `{ readFrom: "preferReplica" }`
   */
  readFrom?: ReadFrom;
  /**
   * Maps the addresses nodes announce (`host:port`) to addresses this client reaches them at (NAT, Docker).
   *
   * @example `{ natMap: { "172.17.0.2:6379": { host: "127.0.0.1", port: 7000 } } }`
   */
  natMap?: NatMap;
  /**
   * How many MOVED, ASK, TRYAGAIN and CLUSTERDOWN answers one command follows before its caller gets the last
   * one as a `ReplyError` (and, on the pool, how often a command that failed on its way to a node that was down
   * waits for another before it fails). Default 16.
   *
   * @example `{ maxRedirects: 5 }`
   */
  maxRedirects?: number;
  /**
   * First wait before a command answered TRYAGAIN or CLUSTERDOWN is sent again, in milliseconds; doubled on each
   * retry up to 1,000. Default 50.
   *
   * @example `{ retryDelay: 100 }`
   */
  retryDelay?: number;
  /**
   * How often the slot map is read again from the cluster, in milliseconds; 0 only after MOVED answers and
   * failures. Default 30,000.
   *
   * @example `{ refreshInterval: 5_000 }`
   */
  refreshInterval?: number;
}

/**
 * What a cluster client counts from its making (its `stats`): MOVED and ASK answers followed, commands sent again
 * after TRYAGAIN or CLUSTERDOWN, slot map reads, and waits of commands whose node could not be reached (they never
 * reached it) for a node that takes their slot.
 */
export interface ClusterStats {
  readonly moved: number;
  readonly ask: number;
  readonly retried: number;
  readonly refreshes: number;
  readonly waits: number;
}

/** The checked cluster options. */
export interface ClusterSettings {
  readonly seeds: readonly NodeAddress[];
  readonly readFrom: ReadFrom;
  readonly natMap: NatMap | null;
  readonly maxRedirects: number;
  readonly retryDelay: number;
  /**
   * Whether a command whose node cannot be reached waits for its slot to be served again (the node back, or a
   * replica promoted) or fails at once (the `offlineQueue` option).
   */
  readonly offlineQueue: boolean;
  /** How long such a command waits, in milliseconds; 0 forever (the `offlineTimeout` option). */
  readonly offlineTimeout: number;
  readonly refreshInterval: number;
  /** Whether nodes are reached over TLS (then their TLS ports are the ones to dial). */
  readonly tls: boolean;
  /** Connections per node for blocking commands (the `exclusiveConnections` option; default 8). */
  readonly blockingConnections: number;
  /**
   * The `keyPrefix` option: the cluster client puts it on keys before it finds their slot (the server hashes the
   * prefixed key), so a node's settings have none.
   */
  readonly keyPrefix: string | null;
  /** The settings of the connection to a node (a pool of one shared connection, its own options). */
  node(address: NodeAddress): PoolSettings;
}

const CLUSTER_KEYS = new Set([
  "nodes",
  "readFrom",
  "natMap",
  "maxRedirects",
  "retryDelay",
  "refreshInterval",
  "exclusiveConnections",
  "keyPrefix",
]);
const READ_FROM = new Set(["master", "replica", "preferReplica"]);
/** Options of a single server's pool that a cluster would otherwise pass to every node, where they mean nothing. */
const NOT_FOR_A_CLUSTER: Readonly<Record<string, string | undefined>> = {
  size: "each node has one shared connection (exclusiveConnections sizes those of blocking commands)",
  clientCache: "the client-side cache serves a single server's pool",
  url: "the cluster starts from its nodes: { nodes: [url, …] }",
  host: "the cluster starts from its nodes: { nodes: [{ host, port }, …] }",
  port: "the cluster starts from its nodes: { nodes: [{ host, port }, …] }",
  path: "cluster nodes are reached over TCP, not unix sockets",
};

function count(name: string, value: unknown, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`cpipe: ${name} must be an integer from ${min} to ${max}, not ${String(value)}`);
  }
  return value;
}

/**
 * Reads `connectCluster(urls, options?)` or `connectCluster(options)` into settings. Node options are checked
 * as `connectPool` checks them (an unknown option is named), once, on the first seed.
 */
export function clusterSettings(
  first: string[] | ClusterOptions,
  more?: Omit<ClusterOptions, "nodes">,
): ClusterSettings {
  const given: Record<string, unknown> = Array.isArray(first) ? { ...more, nodes: first } : { ...first };
  if (!Array.isArray(first) && more !== undefined) {
    throw new TypeError("cpipe: connectCluster(options) takes one argument: put everything in it");
  }
  const nodes = given.nodes;
  if (!Array.isArray(nodes) || nodes.length === 0) {
    throw new TypeError("cpipe: a cluster needs at least one node to start from: { nodes: [url or { host, port }] }");
  }
  const readFrom = given.readFrom ?? "master";
  if (typeof readFrom !== "string" || !READ_FROM.has(readFrom)) {
    throw new TypeError(`cpipe: readFrom must be "master", "replica" or "preferReplica", not ${String(readFrom)}`);
  }
  const natMap = given.natMap ?? null;
  if (natMap !== null && typeof natMap !== "function" && typeof natMap !== "object") {
    throw new TypeError("cpipe: natMap must map 'host:port' to { host, port }, as an object or a function");
  }
  const nodeOptions: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(given)) {
    if (CLUSTER_KEYS.has(key)) continue;
    const why = NOT_FOR_A_CLUSTER[key];
    if (why !== undefined) throw new TypeError(`cpipe: ${key} is not a cluster option: ${why}`);
    nodeOptions[key] = value;
  }
  if (nodeOptions.db !== undefined && nodeOptions.db !== 0) {
    throw new TypeError("cpipe: a cluster has only database 0 (SELECT is refused there): leave db out");
  }
  const seeds: NodeAddress[] = [];
  for (const node of nodes as unknown[]) {
    if (typeof node === "string") {
      const url = parseRedisUrl(node);
      if (url.address.kind !== "tcp") {
        throw new TypeError("cpipe: cluster nodes are reached over TCP, not unix sockets");
      }
      seeds.push({ host: url.address.host, port: url.address.port });
      // The first URL's credentials and TLS serve every node, as ioredis and node-redis take them.
      if (seeds.length === 1) {
        if (url.username !== null) nodeOptions.username ??= url.username;
        if (url.password !== null) nodeOptions.password ??= url.password;
        if (url.tls) nodeOptions.tls ??= true;
        if (url.protocol !== null) nodeOptions.protocol ??= url.protocol;
      }
    } else if (node !== null && typeof node === "object" && typeof (node as NodeAddress).host === "string") {
      seeds.push({ host: (node as NodeAddress).host, port: count("port", (node as NodeAddress).port, 1, 65535, 6379) });
    } else {
      throw new TypeError(`cpipe: a cluster node is a redis:// URL or { host, port }, not ${String(node)}`);
    }
  }
  const readOnly = readFrom !== "master";
  const node = (address: NodeAddress): PoolSettings => {
    const settings = poolSettings({
      ...nodeOptions,
      host: address.host,
      port: address.port,
      size: 1,
      exclusiveConnections: 0,
      // A node's connection carries every command for its slots: commands issued while it redials wait for it.
      offlineQueue: true,
    });
    return readOnly ? withReadOnly(settings) : settings;
  };
  const seedSettings = node(seeds[0]!); // checks the node options once, now
  return Object.freeze({
    seeds: Object.freeze(seeds),
    readFrom: readFrom as ReadFrom,
    natMap: natMap as NatMap | null,
    maxRedirects: count("maxRedirects", given.maxRedirects, 0, 1000, 16),
    retryDelay: count("retryDelay", given.retryDelay, 1, 60_000, 50),
    offlineQueue: bool("offlineQueue", given.offlineQueue, true),
    offlineTimeout: seedSettings.offlineTimeout,
    refreshInterval: count("refreshInterval", given.refreshInterval, 0, 0x7fff_ffff, 30_000),
    tls: seedSettings.tls !== null,
    // Per node, as a single-node pool's are per server.
    blockingConnections: count("exclusiveConnections", given.exclusiveConnections, 0, 1000, 8),
    keyPrefix: keyPrefixOption(given.keyPrefix),
    node,
  });
}
