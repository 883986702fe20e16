/**
 * The routing state of a cluster client, shared by the synchronous client
 * and the pool: who serves each slot (a master, its replicas), a handle per
 * node (a pool connection's index, or a synchronous client) opened on first
 * need and closed when the node leaves, and the options that pick among
 * them (`readFrom`, `natMap`). Handles are made and closed by the owner.
 */
import { CpipeError } from "../errors.ts";
import { SLOTS } from "./slot.ts";
import { addressKey, mapAddress, type NatMap, type NodeAddress, type Shard } from "./topology.ts";

/** Where reads go: the master only, replicas only (the master when a slot has none), or replicas first. */
export type ReadFrom = "master" | "replica" | "preferReplica";

/** How a router's owner opens and closes the handle of a node. */
export interface NodeOpener<N> {
  /** Opens a handle to a node (`replica`: it may serve reads, so it must send READONLY after every connect). */
  open(address: NodeAddress, key: string): N;
  close(node: N): void;
  /** Whether a node's handle is up (for preferReplica). */
  up(node: N): boolean;
}

/** One node the router knows: its address and the owner's handle. */
export interface RoutedNode<N> {
  readonly key: string;
  readonly address: NodeAddress;
  readonly handle: N;
}

export class SlotRouter<N> {
  readonly #opener: NodeOpener<N>;
  readonly #natMap: NatMap | null;
  readonly readFrom: ReadFrom;
  /** The master of each slot, or undefined while unknown. */
  readonly #master: (RoutedNode<N> | undefined)[] = new Array(SLOTS);
  /** The replicas of each slot (shared arrays, one per shard). */
  readonly #replicas: (RoutedNode<N>[] | undefined)[] = new Array(SLOTS);
  /** Every node with a handle, by `host:port` (after natMap). */
  readonly nodes: Map<string, RoutedNode<N>> = new Map();
  /** Masters, for commands without keys. */
  #masters: RoutedNode<N>[] = [];
  #next = 0;

  constructor(opener: NodeOpener<N>, natMap: NatMap | null, readFrom: ReadFrom) {
    this.#opener = opener;
    this.#natMap = natMap;
    this.readFrom = readFrom;
  }

  /** The node at an announced address, opened when new. */
  node(announced: NodeAddress): RoutedNode<N> {
    const address = mapAddress(announced, this.#natMap);
    const key = addressKey(address);
    let node = this.nodes.get(key);
    if (node === undefined) {
      node = { key, address, handle: this.#opener.open(address, key) };
      this.nodes.set(key, node);
    }
    return node;
  }

  /** Known masters (seed nodes before the first discovery). */
  get masters(): readonly RoutedNode<N>[] {
    return this.#masters;
  }

  /**
   * Takes a discovered topology: each slot's master and replicas; nodes no longer in it are closed (their
   * pending commands fail), except `keep` (the seeds, kept for later discoveries).
   */
  apply(shards: readonly Shard[], keep: ReadonlySet<string>): void {
    this.#master.fill(undefined);
    this.#replicas.fill(undefined);
    const masters: RoutedNode<N>[] = [];
    const seen = new Set<string>(keep);
    for (const shard of shards) {
      const master = this.node(shard.master);
      masters.push(master);
      seen.add(master.key);
      const replicas = this.readFrom === "master" ? [] : shard.replicas.map((r) => this.node(r));
      for (const r of shard.replicas) seen.add(addressKey(mapAddress(r, this.#natMap)));
      for (const [from, to] of shard.slots) {
        for (let slot = from; slot <= to && slot < SLOTS; slot++) {
          this.#master[slot] = master;
          this.#replicas[slot] = replicas;
        }
      }
    }
    this.#masters = masters;
    for (const [key, node] of this.nodes) {
      if (seen.has(key)) continue;
      this.nodes.delete(key);
      this.#opener.close(node.handle);
    }
  }

  /** A node answered MOVED: the slot is the node's now (until the next discovery says more). */
  moved(slot: number, announced: NodeAddress): RoutedNode<N> {
    const node = this.node(announced);
    this.#master[slot] = node;
    if (!this.#masters.includes(node)) this.#masters.push(node);
    return node;
  }

  /** Sets the nodes to ask before any discovery: the seeds, as masters of nothing yet. */
  seed(addresses: readonly NodeAddress[]): RoutedNode<N>[] {
    const nodes = addresses.map((a) => this.node(a));
    if (this.#masters.length === 0) this.#masters = [...new Set(nodes)];
    return nodes;
  }

  /**
   * The node for a command on `slot` (`ANY_SLOT`, -1: any master, in turn); `read` when the command only reads
   * (readFrom then may pick a replica).
   */
  pick(slot: number, read: boolean): RoutedNode<N> {
    if (slot < 0) return this.any();
    const master = this.#master[slot];
    if (read && this.readFrom !== "master") {
      const replicas = this.#replicas[slot];
      if (replicas !== undefined && replicas.length > 0) {
        const start = this.#next++ % replicas.length;
        for (let k = 0; k < replicas.length; k++) {
          const replica = replicas[(start + k) % replicas.length]!;
          if (this.readFrom === "replica" || this.#opener.up(replica.handle)) return replica;
        }
      }
    }
    return master ?? this.any();
  }

  /** A master, in turn (a seed before the first discovery). */
  any(): RoutedNode<N> {
    const masters = this.#masters;
    if (masters.length === 0) throw new CpipeError("cpipe: the cluster client knows no node");
    return masters[this.#next++ % masters.length]!;
  }

  /** Closes every node's handle. */
  closeAll(): void {
    for (const node of this.nodes.values()) this.#opener.close(node.handle);
    this.nodes.clear();
    this.#masters = [];
  }
}
