/**
 * Client-side caching for the pool (`clientCache`, RESP3): GET, HGET and
 * HGETALL replies kept in memory until the server invalidates their key.
 * Every connection of the pool runs CLIENT TRACKING ON (its handshake), so
 * the server remembers which keys each read and pushes `invalidate` when
 * one changes; a connection lost may have missed some, so the whole cache
 * is emptied then.
 *
 * A reply is kept only when no invalidation of its key (and no emptying)
 * came between its command's issue and its arrival: a value read on one
 * connection while another connection carried the key's invalidation is
 * not kept, so a read never returns a value older than an invalidation
 * already received.
 */
import type { PoolSettings } from "./options.ts";
import type { Reply } from "./types.ts";

type Bounds = NonNullable<PoolSettings["clientCache"]>;

/** The commands answered from the cache, and what part of the reply is kept. */
const CACHED = new Set(["GET", "HGET", "HGETALL"]);

interface Entry {
  key: string;
  value: unknown;
  bytes: number;
  /** ms since the epoch past which it is not served; 0: never. */
  expires: number;
}

/** Approximate memory of a cached value: two bytes per character, eight per slot. */
function sizeOf(value: unknown): number {
  if (typeof value === "string") return value.length * 2;
  if (value === null || typeof value !== "object") return 8;
  let n = 0;
  for (const [k, v] of Object.entries(value as Record<string, string>)) n += (k.length + v.length) * 2 + 16;
  return n;
}

/** A copy of what was cached, so that a caller changing its result changes no other's. */
function copy(value: unknown): unknown {
  return value !== null && typeof value === "object" ? { ...(value as Record<string, unknown>) } : value;
}

/** Client-side cache statistics. */
export interface CacheStats {
  /** Reads answered from memory. */
  hits: number;
  /** Reads sent to the server. */
  misses: number;
  /** Entries dropped because the server said their key changed. */
  invalidations: number;
  /** Entries held now. */
  entries: number;
  /** Approximate bytes held now. */
  bytes: number;
}

export class ClientCache {
  readonly #bounds: Bounds;
  /** By command and arguments, oldest use first (a Map keeps insertion order). */
  readonly #entries = new Map<string, Entry>();
  /** The entries of each Redis key. */
  readonly #byKey = new Map<string, Set<string>>();
  /** Counts every invalidation and emptying: a reply is kept only if nothing of its key came since its issue. */
  #clock = 0;
  #emptiedAt = 0;
  /** Keys with reads in flight: how many, and when their key was last invalidated. */
  readonly #pending = new Map<string, { count: number; invalidatedAt: number }>();
  readonly stats: CacheStats = { hits: 0, misses: 0, invalidations: 0, entries: 0, bytes: 0 };

  constructor(bounds: Bounds) {
    this.#bounds = bounds;
  }

  /** The entry's name for a command, or null when the command is not cached (or its arguments are not text). */
  #name(command: string, args: readonly unknown[]): string | null {
    if (!CACHED.has(command) || args.length !== (command === "HGET" ? 2 : 1)) return null;
    for (const a of args) if (typeof a !== "string") return null;
    return `${command}\0${(args as string[]).join("\0")}`;
  }

  /**
   * Answers from memory when it can; else `issue` sends the command, and
   * its reply is kept once it comes (when nothing invalidated it meanwhile).
   */
  read<T>(command: string, args: readonly unknown[], issue: () => Promise<T>): Promise<T> {
    const name = this.#name(command, args);
    if (name === null) return issue();
    const entry = this.#entries.get(name);
    if (entry !== undefined) {
      if (entry.expires === 0 || entry.expires > Date.now()) {
        this.stats.hits++;
        this.#entries.delete(name); // most recently used last
        this.#entries.set(name, entry);
        return Promise.resolve(copy(entry.value) as T);
      }
      this.#drop(name);
    }
    this.stats.misses++;
    const key = args[0] as string, issuedAt = this.#clock;
    const pending = this.#pending.get(key);
    if (pending === undefined) this.#pending.set(key, { count: 1, invalidatedAt: -1 });
    else pending.count++;
    const promise = issue();
    promise.then((value) => this.#settled(name, key, issuedAt, value), () => this.#settled(null, key, issuedAt, null));
    return promise;
  }

  #settled(name: string | null, key: string, issuedAt: number, value: unknown): void {
    const pending = this.#pending.get(key)!;
    const fresh = pending.invalidatedAt <= issuedAt && this.#emptiedAt <= issuedAt;
    if (--pending.count === 0) this.#pending.delete(key);
    if (name === null || !fresh) return;
    this.#store(name, key, copy(value));
  }

  #store(name: string, key: string, value: unknown): void {
    const bytes = name.length * 2 + sizeOf(value), bounds = this.#bounds;
    if (bytes > bounds.maxBytes) return;
    if (this.#entries.has(name)) this.#drop(name);
    this.#entries.set(name, { key, value, bytes, expires: bounds.ttl > 0 ? Date.now() + bounds.ttl : 0 });
    let names = this.#byKey.get(key);
    if (names === undefined) this.#byKey.set(key, names = new Set());
    names.add(name);
    this.stats.entries++;
    this.stats.bytes += bytes;
    // The least recently used go first.
    for (const oldest of this.#entries.keys()) {
      if (this.stats.entries <= bounds.maxEntries && this.stats.bytes <= bounds.maxBytes) break;
      this.#drop(oldest);
    }
  }

  #drop(name: string): void {
    const entry = this.#entries.get(name);
    if (entry === undefined) return;
    this.#entries.delete(name);
    const names = this.#byKey.get(entry.key);
    names?.delete(name);
    if (names?.size === 0) this.#byKey.delete(entry.key);
    this.stats.entries--;
    this.stats.bytes -= entry.bytes;
  }

  /** A push: true when it was an invalidation (the server's ["invalidate", keys | null]). */
  push(push: Reply): boolean {
    if (!Array.isArray(push) || push.length !== 2 || push[0] !== "invalidate") return false;
    const keys = push[1];
    if (keys === null) this.empty(); // FLUSHALL, FLUSHDB: everything
    else if (Array.isArray(keys)) {
      this.#clock++;
      for (const key of keys) {
        if (typeof key !== "string") continue;
        const pending = this.#pending.get(key);
        if (pending !== undefined) pending.invalidatedAt = this.#clock;
        const names = this.#byKey.get(key);
        if (names === undefined) continue;
        this.stats.invalidations += names.size;
        for (const name of [...names]) this.#drop(name);
      }
    }
    return true;
  }

  /** Forgets everything, and every reply still on its way (a connection was lost, or the server flushed). */
  empty(): void {
    this.#emptiedAt = ++this.#clock;
    this.#entries.clear();
    this.#byKey.clear();
    this.stats.entries = 0;
    this.stats.bytes = 0;
  }
}
