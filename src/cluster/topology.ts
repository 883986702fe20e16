/**
 * A cluster's shape as its nodes describe it: CLUSTER SHARDS (Redis 7+)
 * or CLUSTER SLOTS, read into shards (slot ranges, a master, replicas);
 * the redirections (MOVED, ASK) and the transient refusals (TRYAGAIN,
 * CLUSTERDOWN) a node answers with; and the mapping of the addresses
 * nodes announce to those this client can reach (`natMap`).
 */
import { ReplyError } from "../errors.ts";
import type { Reply } from "../types.ts";

/** A node's address as the client dials it. */
export interface NodeAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * Maps an address a node announces (`host:port`) to one this client can reach: an object keyed by `host:port`,
 * or a function (returning the address itself when it needs no mapping).
 *
 * @example
 * ```ts
 * const natMap = { "10.0.0.1:6379": { host: "203.0.113.7", port: 30001 } };
 * ```
 */
export type NatMap =
  | Readonly<Record<string, NodeAddress>>
  | ((address: NodeAddress) => NodeAddress);

/** One shard: the slot ranges its master serves, the master and its replicas. */
export interface Shard {
  /** Inclusive ranges, `[from, to]`. */
  readonly slots: readonly (readonly [number, number])[];
  readonly master: NodeAddress;
  /** Replicas not marked failed. */
  readonly replicas: readonly NodeAddress[];
}

/** `host:port` (IPv6 in brackets). */
export function addressKey(address: NodeAddress): string {
  return address.host.includes(":") ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/** Parses `host:port` (IPv6 as `[::1]:6379` or `::1:6379`, as servers write it in MOVED). */
export function parseAddress(text: string): NodeAddress | null {
  const colon = text.lastIndexOf(":");
  if (colon <= 0) return null;
  let host = text.slice(0, colon);
  const port = Number(text.slice(colon + 1));
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  if (!Number.isInteger(port) || port < 1 || port > 65535 || host === "") return null;
  return { host, port };
}

/** Applies a natMap to an announced address. */
export function mapAddress(address: NodeAddress, natMap: NatMap | null): NodeAddress {
  if (natMap === null) return address;
  if (typeof natMap === "function") return natMap(address);
  return natMap[addressKey(address)] ?? address;
}

/** A reply's field list (RESP2 flat array, or a RESP3 map) as a lookup. */
function fields(reply: Reply): Map<string, Reply> {
  const out = new Map<string, Reply>();
  if (reply instanceof Map) {
    for (const [k, v] of reply) out.set(String(k), v);
  } else if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) out.set(String(reply[i]), reply[i + 1]!);
  }
  return out;
}

/**
 * The address a CLUSTER SHARDS node entry is reached at: its endpoint, else its ip (an unknown endpoint is `?`);
 * its TLS port for a client over TLS (a node serving both lists both), else its plain one.
 */
function shardNodeAddress(node: Map<string, Reply>, seedHost: string, tls: boolean): NodeAddress | null {
  const port = Number(tls ? node.get("tls-port") ?? node.get("port") : node.get("port") ?? node.get("tls-port"));
  let host = String(node.get("endpoint") ?? "");
  if (host === "" || host === "?") host = String(node.get("ip") ?? "");
  // A node that does not know its own address announces an empty one: it is the one that answered.
  if (host === "" || host === "?") host = seedHost;
  return Number.isInteger(port) && port > 0 ? { host, port } : null;
}

/**
 * The shards in a CLUSTER SHARDS reply; `seedHost` is the host of the node that answered, `tls` whether the
 * client connects over TLS (CLUSTER SLOTS and MOVED give the ports of the client's kind by themselves).
 */
export function parseShards(reply: Reply, seedHost: string, tls = false): Shard[] {
  if (!Array.isArray(reply)) throw new ReplyError("ERR CLUSTER SHARDS answered with something other than a list");
  const shards: Shard[] = [];
  for (const entry of reply) {
    const shard = fields(entry);
    const flat = shard.get("slots");
    const slots: [number, number][] = [];
    if (Array.isArray(flat)) {
      for (let i = 0; i + 1 < flat.length; i += 2) slots.push([Number(flat[i]), Number(flat[i + 1])]);
    }
    let master: NodeAddress | null = null;
    const replicas: NodeAddress[] = [];
    const nodes = shard.get("nodes");
    for (const item of Array.isArray(nodes) ? nodes : []) {
      const node = fields(item);
      const address = shardNodeAddress(node, seedHost, tls);
      if (address === null || node.get("health") === "fail") continue;
      if (node.get("role") === "master") master = address;
      // Redis 7.0 calls a replica "loading" until its replication offset leaves 0 (a shard never written to).
      else replicas.push(address);
    }
    if (master !== null && slots.length > 0) shards.push({ slots, master, replicas });
  }
  return shards;
}

/** The shards in a CLUSTER SLOTS reply (one entry per range; ranges of one master are joined). */
export function parseSlots(reply: Reply, seedHost: string): Shard[] {
  if (!Array.isArray(reply)) throw new ReplyError("ERR CLUSTER SLOTS answered with something other than a list");
  const byMaster = new Map<string, { slots: [number, number][]; master: NodeAddress; replicas: NodeAddress[] }>();
  const node = (item: Reply): NodeAddress | null => {
    if (!Array.isArray(item)) return null;
    let host = String(item[0] ?? "");
    if (host === "" || host === "?") host = seedHost;
    const port = Number(item[1]);
    return Number.isInteger(port) && port > 0 ? { host, port } : null;
  };
  for (const range of reply) {
    if (!Array.isArray(range) || range.length < 3) continue;
    const master = node(range[2]!);
    if (master === null) continue;
    const key = addressKey(master);
    let shard = byMaster.get(key);
    if (shard === undefined) {
      shard = { slots: [], master, replicas: [] };
      for (const r of range.slice(3)) {
        const replica = node(r);
        if (replica !== null) shard.replicas.push(replica);
      }
      byMaster.set(key, shard);
    }
    shard.slots.push([Number(range[0]), Number(range[1])]);
  }
  return [...byMaster.values()];
}

/** What a node's error reply asks of the client. */
export type Redirect =
  | { readonly kind: "moved" | "ask"; readonly slot: number; readonly address: NodeAddress }
  | { readonly kind: "retry" };

/**
 * The redirection or transient refusal in an error reply: MOVED and ASK (slot, address), TRYAGAIN (a
 * multi-key command during a slot's migration), CLUSTERDOWN (the cluster is failing over) and LOADING (a replica
 * reading the data of a full resync; a command it refuses so never ran, and the retry goes to the master); null for
 * any other reply.
 */
export function redirectOf(reply: Reply): Redirect | null {
  if (!(reply instanceof ReplyError)) return null;
  const code = reply.code;
  if (code === "MOVED" || code === "ASK") {
    const parts = reply.message.split(" ");
    const slot = Number(parts[1]);
    // ":6381" (no host) means the host of the node that answered: the router fills it in.
    const text = parts[2] ?? "";
    const address = text.startsWith(":") ? parseAddress(`?${text}`) : parseAddress(text);
    if (!Number.isInteger(slot) || address === null) return null;
    return { kind: code === "MOVED" ? "moved" : "ask", slot, address };
  }
  if (code === "TRYAGAIN" || code === "CLUSTERDOWN" || code === "LOADING") return RETRY;
  return null;
}

const RETRY: Redirect = Object.freeze({ kind: "retry" });

/**
 * The redirection that kept a transaction sent alone (MULTI first, EXEC last) from running, or null when it ran or
 * failed for a reason of its own. A command the node refused as it was queued aborts the whole (EXECABORT), and a
 * redirected EXEC discards it: when every refusal was a redirection, nothing ran, and it may be sent again whole.
 */
export function transactionRedirect(replies: readonly Reply[]): Redirect | null {
  const last = replies.length - 1, exec = replies[last];
  if (!(exec instanceof ReplyError) || replies[0] !== "OK") return null;
  let first = exec.code === "EXECABORT" ? null : redirectOf(exec);
  if (first === null && exec.code !== "EXECABORT") return null;
  for (let k = 1; k < last; k++) {
    const reply = replies[k]!;
    if (reply === "QUEUED") continue;
    const redirect = redirectOf(reply);
    if (redirect === null) return null; // a refusal of its own (a typo, an arity): the caller's to see
    first ??= redirect;
  }
  return first;
}

/**
 * The shards in a node's answer to `CLUSTER SHARDS`, or null when the node does not know that command (before
 * Redis 7): ask `CLUSTER SLOTS` then and read it with `parseSlots`. Any other error reply is thrown.
 */
export function shardsFrom(reply: Reply, host: string, tls = false): Shard[] | null {
  if (reply instanceof Error) {
    if (reply instanceof ReplyError && /unknown (sub)?command/i.test(reply.message)) return null;
    throw reply; // a refusal, or the call's own failure (the node could not be reached): not a topology
  }
  return parseShards(reply, host, tls);
}
