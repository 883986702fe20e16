/**
 * Client-side caching (`clientCache` of the pool): replies of read commands kept in the process and served from there
 * until the server says the key changed. The server tracks the keys each connection reads (`CLIENT TRACKING ON`, sent
 * with the connection's handshake) and pushes `invalidate` for them on that connection (RESP3) when any client writes
 * them, or flushes them all (`invalidate` with no keys, after FLUSHALL). A reply is cached only when nothing about its
 * key came while it was in flight: no invalidation (a read issued before a write may answer after the write's
 * invalidation, with the old value), and no other read's reply (reads on two connections may answer out of order:
 * caching the later-arriving, older value would let a caller read a value older than one it has already read).
 */
import { keyPositions, writesKeys } from "./key_positions.ts";
import type { Transform } from "./replies.ts";
import type { Arg, Reply } from "./types.ts";

/**
 * Bounds of the cache; the oldest-used entries go first when one is reached.
 *
 * @example `{ clientCache: { maxEntries: 10_000, maxBytes: 32 << 20, ttl: 60_000 } }`
 */
export interface ClientCacheOptions {
  /** Entries at most. Default 10,000. */
  maxEntries?: number;
  /** The size of the cached values at most (bytes of byte strings, UTF-16 units of text). Default 64 MiB. */
  maxBytes?: number;
  /** Longest time an entry is served, in milliseconds, even if no invalidation came; 0: no limit. Default 0. */
  ttl?: number;
}

/** Client-side caching's counters (`pool.cacheStats`). */
export interface CacheStats {
  /** Reads answered from the process. */
  hits: number;
  /** Reads sent to the server. */
  misses: number;
  /** Entries dropped because the server said their key changed (or everything was flushed). */
  invalidations: number;
  /** Entries held now. */
  entries: number;
  /** The size of the values held now (bytes of byte strings, UTF-16 units of text). */
  bytes: number;
}

/** The bounds, normalized. */
export interface ClientCacheSettings {
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly ttl: number;
}

/**
 * The read commands served from the cache: those whose only key is their first argument. A reply is cached per
 * command and arguments, so `HGET h a` and `HGET h b` are two entries of the key `h`.
 */
const CACHEABLE = new Set([
  "GET",
  "GETRANGE",
  "STRLEN",
  "HGET",
  "HGETALL",
  "HMGET",
  "HEXISTS",
  "HLEN",
  "HKEYS",
  "HVALS",
  "HSTRLEN",
  "SMEMBERS",
  "SISMEMBER",
  "SMISMEMBER",
  "SCARD",
  "LRANGE",
  "LLEN",
  "LINDEX",
  "ZSCORE",
  "ZMSCORE",
  "ZCARD",
  "ZRANK",
  "ZREVRANK",
  "ZCOUNT",
]);

interface Entry {
  readonly key: string;
  readonly reply: Reply;
  readonly size: number;
  readonly cachedAt: number;
  /** Served since it last came to the front of the eviction order (a second chance, not an exact LRU order). */
  used: boolean;
}

/** Reads of one key in flight, and a count of what happened to the key meanwhile (invalidations, replies). */
interface Reads {
  count: number;
  version: number;
}

export class ClientCache {
  readonly #settings: ClientCacheSettings;
  /**
   * By command and arguments, in insertion order: eviction takes the first entry not used since it was (re)inserted,
   * moving used ones to the end. Reordering on every hit instead cost half of a hit's time.
   */
  readonly #entries = new Map<string, Entry>();
  /** The entries of each key. */
  readonly #byKey = new Map<string, Set<string>>();
  readonly #reads = new Map<string, Reads>();
  /** The counters; `entries` is the map's own size. */
  readonly #counts = { hits: 0, misses: 0, invalidations: 0, bytes: 0 };

  /** A snapshot of the counters. */
  get stats(): CacheStats {
    return { ...this.#counts, entries: this.#entries.size };
  }

  constructor(settings: ClientCacheSettings) {
    this.#settings = settings;
  }

  /**
   * The reply of `command args` from the cache, shaped by `transform`, as a settled promise; else undefined, and
   * `fetch(transform')` sends it, where `transform'` caches the reply on its way to `transform`.
   */
  read<T>(
    command: string,
    args: readonly Arg[],
    transform: Transform<T> | null,
    asBuffer: boolean,
    fetch: (transform: Transform<T>) => Promise<T>,
  ): Promise<T> | undefined {
    const id = entryId(command, args, asBuffer);
    if (id === null) return undefined;
    const entry = this.#entries.get(id);
    if (entry !== undefined) {
      if (this.#settings.ttl === 0 || Date.now() - entry.cachedAt < this.#settings.ttl) {
        this.#counts.hits++;
        entry.used = true;
        return Promise.resolve(shape(entry.reply, transform));
      }
      this.#remove(id);
    }
    this.#counts.misses++;
    const key = String(args[0]);
    let reads = this.#reads.get(key);
    if (reads === undefined) this.#reads.set(key, reads = { count: 0, version: 0 });
    reads.count++;
    const seen = reads.version;
    const settle = (reply: Reply): T => {
      const fresh = reads.version++ === seen;
      this.#done(key, reads);
      if (fresh && !(reply instanceof Error)) this.#store(id, key, reply);
      return shape(reply, transform);
    };
    return fetch(settle).catch((e) => {
      this.#done(key, reads);
      throw e;
    });
  }

  /** Handles a push: true when it was an invalidation (consumed here). */
  push(push: Reply): boolean {
    if (!Array.isArray(push) || push[0] !== "invalidate") return false;
    const keys = push[1];
    if (Array.isArray(keys)) {
      for (const key of keys) this.invalidate(String(key));
    } else {
      this.flush();
    }
    return true;
  }

  /** The keys `command args` writes, forgotten now (`invalidate`); null when it writes none. */
  written(command: string, args: readonly Arg[]): string[] | null {
    if (!writesKeys(command, args)) return null;
    const keys = (keyPositions(command, args) ?? []).map((at) => keyText(args[at]!));
    for (const key of keys) this.invalidate(key);
    return keys;
  }

  /**
   * `reply`, the `written` keys forgotten again once it settles: the server's invalidation of a write comes on the
   * connections that read the keys, maybe after the write's reply on another, and a read the server ran before the
   * write may have been cached since `written`.
   */
  wrote<T>(reply: Promise<T>, keys: readonly string[]): Promise<T> {
    return reply.finally(() => {
      for (const key of keys) this.invalidate(key);
    });
  }

  /** Forgets `key`'s entries; its reads in flight will not be cached. */
  invalidate(key: string): void {
    const reads = this.#reads.get(key);
    if (reads !== undefined) reads.version++;
    const ids = this.#byKey.get(key);
    if (ids === undefined) return;
    this.#counts.invalidations += ids.size;
    for (const id of ids) this.#remove(id);
  }

  /** Forgets everything; no read in flight will be cached (a connection that dropped lost its tracking). */
  flush(): void {
    for (const reads of this.#reads.values()) reads.version++;
    this.#counts.invalidations += this.#entries.size;
    this.#entries.clear();
    this.#byKey.clear();
    this.#counts.bytes = 0;
  }

  /** A read of `key` is over. */
  #done(key: string, reads: Reads): void {
    if (--reads.count === 0 && this.#reads.get(key) === reads) this.#reads.delete(key);
  }

  #store(id: string, key: string, reply: Reply): void {
    const size = sizeOf(reply);
    if (size > this.#settings.maxBytes) return;
    if (this.#entries.has(id)) this.#remove(id);
    this.#entries.set(id, { key, reply, size, cachedAt: Date.now(), used: false });
    let ids = this.#byKey.get(key);
    if (ids === undefined) this.#byKey.set(key, ids = new Set());
    ids.add(id);
    this.#counts.bytes += size;
    const entries = this.#entries;
    while (entries.size > this.#settings.maxEntries || this.#counts.bytes > this.#settings.maxBytes) {
      const [oldest, entry] = entries.entries().next().value!;
      if (entry.used && oldest !== id) {
        entry.used = false;
        entries.delete(oldest);
        entries.set(oldest, entry);
      } else {
        this.#remove(oldest);
      }
    }
  }

  #remove(id: string): void {
    const entry = this.#entries.get(id);
    if (entry === undefined) return;
    this.#entries.delete(id);
    this.#counts.bytes -= entry.size;
    const ids = this.#byKey.get(entry.key);
    ids?.delete(id);
    if (ids?.size === 0) this.#byKey.delete(entry.key);
  }
}

/**
 * The entry of a cacheable call: the command and each argument with its length first (so that no two argument lists
 * give one id) and whether bytes were asked for; null when the command is not cached or an argument is bytes (keys
 * are told apart as text in invalidations, and a byte key may not be valid UTF-8).
 */
function entryId(command: string, args: readonly Arg[], asBuffer: boolean): string | null {
  const name = command.toUpperCase();
  if (!CACHEABLE.has(name) || args.length === 0) return null;
  let id = asBuffer ? `${name}!` : `${name}:`;
  for (const arg of args) {
    if (typeof arg !== "string" && typeof arg !== "number") return null;
    const text = String(arg);
    id += `${text.length}:${text}`;
  }
  return id;
}

const fromUtf8 = new TextDecoder();

/** A key as invalidations name it (cached keys are text: `entryId`). */
function keyText(key: Arg): string {
  return key instanceof Uint8Array ? fromUtf8.decode(key) : String(key);
}

/** A cached reply as its caller sees it: byte strings copied (a caller may write into its own), then shaped. */
function shape<T>(reply: Reply, transform: Transform<T> | null): T {
  const own = copy(reply);
  return transform === null ? own as T : transform(own);
}

function copy(reply: Reply): Reply {
  if (reply instanceof Uint8Array) return reply.slice();
  if (Array.isArray(reply)) return reply.map(copy);
  if (reply instanceof Map) return new Map([...reply].map(([k, v]) => [copy(k), copy(v)]));
  return reply;
}

function sizeOf(reply: Reply): number {
  if (typeof reply === "string") return reply.length;
  if (reply instanceof Uint8Array) return reply.byteLength;
  if (Array.isArray(reply)) {
    let size = 8;
    for (const item of reply) size += sizeOf(item);
    return size;
  }
  if (reply instanceof Map) {
    let size = 8;
    for (const [k, v] of reply) size += sizeOf(k) + sizeOf(v);
    return size;
  }
  return 8;
}
