/**
 * The typed Redis commands, written once for every way of running them: the
 * synchronous client returns values, a pipeline queues and returns itself, the
 * pool returns promises. Each class supplies `dispatch`.
 */
import type { Arg, Reply } from "./types.ts";
import type { ReplyError } from "./errors.ts";
import {
  asBytes,
  asNullableString,
  asNullableStrings,
  asNumber,
  asRecord,
  asScore,
  asScoredMembers,
  asString,
  asStrings,
  type ScoredMember,
  type Transform,
} from "./replies.ts";

import type { CommandMethods } from "./command_methods.ts";
import { COMMAND_METHODS } from "./command_lists.ts";
import {
  asAutoClaim,
  asEntries,
  asPendingEntries,
  asPendingSummary,
  asStreamInfo,
  asStreamReads,
  type StreamEntry,
  type StreamIds,
  type StreamInfo,
  type StreamRead,
  xaddArgs,
  type XAddOptions,
  type XAutoClaimOptions,
  type XAutoClaimResult,
  xpendingArgs,
  type XPendingEntry,
  type XPendingOptions,
  type XPendingSummary,
  xreadArgs,
  xreadgroupArgs,
  type XReadGroupOptions,
  type XReadOptions,
} from "./streams.ts";
import type { Pipeline } from "./pipeline.ts";
import type { PoolPipeline } from "./pool_pipeline.ts";
import type { ClusterPipeline } from "./cluster/pipeline.ts";
import type { ClusterClientPipeline } from "./cluster/client_pipeline.ts";

/** How a command's result reaches the caller, by kind of executor. */
export interface Shapes<T, Self> {
  /** The synchronous client: the value itself. */
  sync: T;
  /** A pipeline: the pipeline, for chaining; the value comes from `execute()`. */
  queued: Self;
  /** The pool: a promise of the value. */
  async: Promise<T>;
}
/** The kinds of executor: `"sync"`, `"queued"` or `"async"`. */
export type Kind = keyof Shapes<unknown, unknown>;
/** What a typed method returns on an executor of kind K, for a reply of type T. */
export type Result<K extends Kind, T, Self> = Shapes<T, Self>[K];

/**
 * The pipelines by kind, as functions of what they hold: `R`, the result
 * type of each queued command, and `Q`, inside a MULTI, the result types
 * EXEC will carry (null outside one). Through this map a typed method can
 * return "the same pipeline, one result longer" (TypeScript has no
 * higher-kinded types; this interface stands in for one, as `Shapes` does).
 */
export interface Pipelines<R extends unknown[], Q extends unknown[] | null> {
  /** `client.pipeline()`. */
  client: Pipeline<R, Q>;
  /** `pool.pipeline()` and `connection.pipeline()`. */
  pool: PoolPipeline<R, Q>;
  /** `cluster.pipeline()` (a cluster pool's). */
  cluster: ClusterPipeline<R, Q>;
  /** `cluster.pipeline()` (the synchronous cluster client's). */
  clusterClient: ClusterClientPipeline<R, Q>;
}

/** What a pipeline holds at the type level: its kind, its commands' result types, and an open MULTI's. */
export interface Queue {
  /** Which pipeline. */
  kind: keyof Pipelines<[], null>;
  /** The result type of each command queued so far. */
  slots: unknown[];
  /** Inside MULTI: the result types of the commands queued since, which EXEC returns; else null. */
  exec: unknown[] | null;
}

/** What a client's pipeline holds: `R` its commands' result types, `Q` an open MULTI's (see `Queue`). */
export type ClientQueue<R extends unknown[], Q extends unknown[] | null> = { kind: "client"; slots: R; exec: Q };
/** What a pool's pipeline holds: `R` its commands' result types, `Q` an open MULTI's (see `Queue`). */
export type PoolQueue<R extends unknown[], Q extends unknown[] | null> = { kind: "pool"; slots: R; exec: Q };
/** What a cluster pool's pipeline holds: `R` its commands' result types, `Q` an open MULTI's (see `Queue`). */
export type ClusterQueue<R extends unknown[], Q extends unknown[] | null> = { kind: "cluster"; slots: R; exec: Q };

/**
 * The pipeline S after queueing a command whose result is T. Inside MULTI
 * the command's own reply is "QUEUED" and its result goes to EXEC's.
 */
export type Queued<S extends Queue, T> = S["exec"] extends unknown[]
  ? Pipelines<[...S["slots"], "QUEUED"], [...S["exec"], T]>[S["kind"]]
  : Pipelines<[...S["slots"], T], null>[S["kind"]];

/**
 * The pipeline S after `addCommand(C)`: MULTI opens a transaction, EXEC
 * returns the results queued since (or null when a WATCHed key changed),
 * DISCARD forgets them; any other command adds a `Reply`. Only a literal
 * name is seen here: a name in a `string` variable counts as another command.
 */
export type Added<S extends Queue, C extends string> = Uppercase<C> extends "MULTI"
  ? S["exec"] extends unknown[] ? Pipelines<[...S["slots"], ReplyError], S["exec"]>[S["kind"]] // nested: refused
  : Pipelines<[...S["slots"], "OK"], []>[S["kind"]]
  : Uppercase<C> extends "EXEC"
    ? S["exec"] extends unknown[] ? Pipelines<[...S["slots"], Slots<S["exec"]> | null], null>[S["kind"]]
    : Pipelines<[...S["slots"], Reply], null>[S["kind"]]
  : Uppercase<C> extends "DISCARD" ? Pipelines<[...S["slots"], "OK"], null>[S["kind"]]
  : Queued<S, Reply>;

/**
 * The replies of commands whose results are R, as `execute()` returns them:
 * each its result, or the `ReplyError` the server answered in its place.
 */
export type Slots<R extends unknown[]> = { [I in keyof R]: Reply extends R[I] ? R[I] : R[I] | ReplyError };

/**
 * What `execute()` returns for a pipeline holding R: the tuple of its slots.
 * A pipeline typed as empty (one built by calls in a loop rather than one
 * chain: each call returns a new type, the variable keeps the first) can
 * hold anything, so its replies are `Reply[]`.
 */
export type Replies<R extends unknown[]> = R extends [] ? Reply[] : Slots<R>;

/**
 * What `executeBuffer()` returns for a pipeline holding R: one raw reply per
 * command, unshaped (bulk strings as bytes cannot feed the typed methods'
 * shaping: an object's keys, a score's digits).
 */
export type RawReplies<R extends unknown[]> = R extends [] ? Reply[] : { [I in keyof R]: Reply };

/**
 * What `exec()` returns for a transaction whose commands' results are Q: their slots (as `Replies`), or null when
 * a WATCHed key changed. `never` on a pipeline with no MULTI open (see `ExecArgs`), where `exec()` throws a TypeError.
 */
export type Executed<Q extends unknown[] | null> = Q extends unknown[] ? Replies<Q> | null : never;

/**
 * `exec()`'s parameters: none inside a MULTI; outside one a parameter no argument fits, so that an ioredis habit,
 * `pipeline().….exec()`, fails to compile (the parameter's name says to call `execute()`).
 */
export type ExecArgs<Q extends unknown[] | null> = Q extends unknown[] ? [] : [never];

/** What `execBuffer()` returns for a transaction whose commands' results are Q: as `RawReplies`, or null. */
export type RawExecuted<Q extends unknown[] | null> = Q extends unknown[] ? RawReplies<Q> | null : never;

/** What a typed method returns on an executor of kind K over queue S, for a result of type T. */
export type Out<K extends Kind, S extends Queue, T> = Result<K, T, Queued<S, T>>;

/** Options of `set`. */
export interface SetOptions {
  /** Expire after this many seconds. */
  ex?: number;
  /** Expire after this many milliseconds. */
  px?: number;
  /** Expire at this Unix time in seconds. */
  exat?: number;
  /** Expire at this Unix time in milliseconds. */
  pxat?: number;
  /** Only set when the key does not exist (the reply is then `null` when it did). */
  nx?: boolean;
  /** Only set when the key exists. */
  xx?: boolean;
  /** Keep the key's time to live. */
  keepTtl?: boolean;
  /** Return the old value instead of "OK". */
  get?: boolean;
}

/** Options of `zrange` and `zrangeWithScores`. */
export interface ZRangeOptions {
  /** Ranges are scores (`BYSCORE`) or lexicographic (`BYLEX`) instead of ranks. */
  by?: "score" | "lex";
  /** Highest first. */
  rev?: boolean;
  /** With `by`: skip `offset` results and return at most `count`. */
  limit?: { offset: number; count: number };
}

/** Field/value pairs given as an object or a Map (or, to `mset` and `hset`, flat: `[f1, v1, f2, v2]`). */
export type FieldValues = Record<string, Arg> | Map<Arg, Arg>;

/** A SET option in ioredis' form, name then value where it takes one: `"EX", 100`, `"NX"`, `"GET"`… */
export type SetToken = SetTokenName | Lowercase<SetTokenName> | number | bigint;
/** The names of SET's options. */
export type SetTokenName = "EX" | "PX" | "EXAT" | "PXAT" | "NX" | "XX" | "KEEPTTL" | "GET";

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "bigint") return String(value);
  return typeof value === "object" ? (value.constructor?.name ?? "an object") : typeof value;
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * A typed method's field/value pairs, flattened. An object's own keys, a
 * Map's entries, or a flat array (ioredis' form) are accepted; anything else
 * would send its indexes or nothing as fields, so it is a TypeError.
 */
function pairsArgs(command: string, head: Arg[], first: unknown, rest: Arg[]): Arg[] {
  if (typeof first !== "object" || first instanceof Uint8Array) {
    // The common `hset(key, field, value)` without spreading, which is slow before the JIT has warmed up.
    if (head.length === 1 && rest.length === 1) return [head[0]!, first as Arg, rest[0]!];
    return [...head, first as Arg, ...rest];
  }
  if (rest.length) {
    throw new TypeError(`cpipe: ${command}: give field/value pairs either as one object or as arguments`);
  }
  const out = [...head];
  if (Array.isArray(first)) {
    if (first.length % 2 !== 0) {
      throw new TypeError(`cpipe: ${command}: a flat array of pairs needs an even length, not ${first.length}`);
    }
    for (let i = 0; i < first.length; i++) {
      const item = first[i];
      if (typeof item === "object" && !(item instanceof Uint8Array)) {
        throw new TypeError(
          `cpipe: ${command}: pairs in an array go flat ([f1, v1, f2, v2]); item ${i} is ${describe(item)}`,
        );
      }
      out.push(item);
    }
    return out;
  }
  if (first instanceof Map) {
    for (const [k, v] of first) out.push(k, v);
    return out;
  }
  if (first === null || !isPlainObject(first)) {
    throw new TypeError(
      `cpipe: ${command} takes pairs as an object, a Map, a flat array or arguments, not ${describe(first)}`,
    );
  }
  for (const [k, v] of Object.entries(first)) out.push(k, v);
  return out;
}

/** SET's options by their name in `SetOptions`: those that take a value, then flags. */
const SET_TIMES = { ex: "EX", px: "PX", exat: "EXAT", pxat: "PXAT" } as const;
const SET_FLAGS = { nx: "NX", xx: "XX", keepTtl: "KEEPTTL", get: "GET" } as const;
const TOKEN_TIMES = new Set<string>(Object.values(SET_TIMES));
const TOKEN_FLAGS = new Set<string>(Object.values(SET_FLAGS));

function isTime(value: unknown): boolean {
  return (typeof value === "number" && Number.isFinite(value)) || typeof value === "bigint" ||
    (typeof value === "string" && /^[0-9]+$/.test(value));
}

/**
 * SET's arguments from `{ ex, nx, … }` or ioredis' `"EX", 100, "NX"`. A
 * misspelt option or a bare number would otherwise store the key without the
 * expiry the caller meant, so each is a TypeError.
 */
function setArgs(key: Arg, value: Arg, options: unknown, tokens: readonly unknown[]): Arg[] {
  const args: Arg[] = [key, value];
  if (options === undefined && tokens.length === 0) return args;
  if (typeof options === "object" && options !== null && !Array.isArray(options) && !(options instanceof Uint8Array)) {
    if (tokens.length) throw new TypeError("cpipe: set: give options either as one object or as ioredis' tokens");
    const o = options as Record<string, unknown>;
    for (const name in o) {
      if (!(name in SET_TIMES) && !(name in SET_FLAGS)) {
        throw new TypeError(
          `cpipe: set: unknown option ${
            JSON.stringify(name)
          } (the options are ex, px, exat, pxat, nx, xx, keepTtl, get)`,
        );
      }
    }
    for (const [name, token] of Object.entries(SET_TIMES)) {
      const v = o[name];
      if (v === undefined) continue;
      if (!isTime(v)) throw new TypeError(`cpipe: set: ${name} must be a number, not ${describe(v)}`);
      args.push(token, v as Arg);
    }
    for (const [name, token] of Object.entries(SET_FLAGS)) if (o[name]) args.push(token);
    return args;
  }
  const all = options === undefined ? tokens : [options, ...tokens];
  for (let i = 0; i < all.length; i++) {
    const t = all[i], name = typeof t === "string" ? t.toUpperCase() : "";
    if (TOKEN_TIMES.has(name)) {
      const v = all[++i];
      if (!isTime(v)) throw new TypeError(`cpipe: set: ${name} must be followed by a number, not ${describe(v)}`);
      args.push(name, v as Arg);
    } else if (TOKEN_FLAGS.has(name)) {
      args.push(name);
    } else if (typeof t === "number" || typeof t === "bigint") {
      throw new TypeError(
        `cpipe: set: a bare number (${t}) says no unit; give { ex: ${t} } for seconds or { px: ${t} } for milliseconds`,
      );
    } else {
      throw new TypeError(
        `cpipe: set: unknown option ${
          describe(t)
        }; give { ex, px, exat, pxat, nx, xx, keepTtl, get } or "EX", seconds…`,
      );
    }
  }
  return args;
}

function zrangeArgs(key: Arg, start: Arg, stop: Arg, options: ZRangeOptions | undefined, withScores: boolean): Arg[] {
  const args: Arg[] = [key, start, stop];
  if (options?.by === "score") args.push("BYSCORE");
  if (options?.by === "lex") args.push("BYLEX");
  if (options?.rev) args.push("REV");
  if (options?.limit) args.push("LIMIT", options.limit.offset, options.limit.count);
  if (withScores) args.push("WITHSCORES");
  return args;
}

/**
 * The generated methods (src/command_methods.ts), merged into the class's type; their bodies are attached to
 * its prototype below. The hand-written methods of the class are not among them.
 */
export interface Commands<K extends Kind, S extends Queue = never> extends CommandMethods<K, S> {}

/**
 * Typed Redis commands over an executor of kind K. On a pipeline, S says
 * what it holds: each typed method returns the pipeline one result longer.
 * Beside the methods written here, every other command has a generated one
 * (`commandMethods`).
 */
export abstract class Commands<K extends Kind, S extends Queue = never> {
  constructor() {
    if (!attached) {
      attached = true;
      attachCommandMethods(Commands.prototype);
    }
  }

  /**
   * Runs (or queues) one command; `asBuffer` returns bulk strings as bytes.
   * Each executor implements it; the typed methods all go through it.
   */
  protected abstract dispatch<T>(
    command: string,
    args: Arg[],
    transform: Transform<T> | null,
    asBuffer: boolean,
  ): Out<K, S, T>;

  /**
   * `dispatch` of a command with one argument: an executor that can run it without an array of its arguments
   * (the pool) overrides it.
   */
  protected dispatchOne<T>(command: string, arg: Arg, transform: Transform<T> | null, asBuffer: boolean): Out<K, S, T> {
    return this.dispatch<T>(command, [arg], transform, asBuffer);
  }

  /**
   * Runs (or queues) a command that blocks or changes its connection, for the generated methods, as `send`
   * (or `addCommand`) would: a pool runs a blocking one on a connection of its own and refuses one that would
   * change a shared connection. Executors with such rules override it.
   */
  protected route<T>(
    command: string,
    args: Arg[],
    asBuffer: boolean,
    transform: Transform<T> | null = null,
  ): Out<K, S, T> {
    return this.dispatch<T>(command, args, transform, asBuffer);
  }

  /** PING: "PONG", or the message echoed. */
  ping(message?: Arg): Out<K, S, string> {
    return this.dispatch("PING", message === undefined ? [] : [message], asString, false);
  }

  /** GET: the value, or null when the key does not exist. */
  get(key: Arg): Out<K, S, string | null> {
    return this.dispatchOne("GET", key, asNullableString, false);
  }

  /** GET, returning the value's raw bytes. */
  getBuffer(key: Arg): Out<K, S, Uint8Array | null> {
    return this.dispatchOne("GET", key, asBytes, true);
  }

  /** SET with optional expiry and conditions: "OK", null when NX/XX prevented it, or the old value with `get`. */
  set(key: Arg, value: Arg, options?: SetOptions): Out<K, S, string | null>;
  /** SET with ioredis' option tokens: `set(k, v, "EX", 100, "NX")`. */
  set(key: Arg, value: Arg, ...tokens: SetToken[]): Out<K, S, string | null>;
  set(key: Arg, value: Arg, options?: SetOptions | SetToken, ...tokens: SetToken[]): unknown {
    return this.dispatch("SET", setArgs(key, value, options, tokens), asNullableString, false);
  }

  /** DEL: how many keys were removed. */
  del(...keys: Arg[]): Out<K, S, number> {
    return this.dispatch("DEL", keys, asNumber, false);
  }

  /** EXISTS: how many of the keys exist. */
  exists(...keys: Arg[]): Out<K, S, number> {
    return this.dispatch("EXISTS", keys, asNumber, false);
  }

  /** EXPIRE: 1 when the timeout was set, 0 otherwise. */
  expire(key: Arg, seconds: number, mode?: "NX" | "XX" | "GT" | "LT"): Out<K, S, number> {
    return this.dispatch("EXPIRE", mode ? [key, seconds, mode] : [key, seconds], asNumber, false);
  }

  /** TTL: seconds left, -1 without expiry, -2 when the key does not exist. */
  ttl(key: Arg): Out<K, S, number> {
    return this.dispatchOne("TTL", key, asNumber, false);
  }

  /** PUBLISH: how many subscribers received the message (on this node). */
  publish(channel: Arg, message: Arg): Out<K, S, number> {
    return this.dispatch("PUBLISH", [channel, message], asNumber, false);
  }

  /** SPUBLISH (Redis 7): publishes on a shard channel; how many shard subscribers received it. */
  spublish(shardChannel: Arg, message: Arg): Out<K, S, number> {
    return this.dispatch("SPUBLISH", [shardChannel, message], asNumber, false);
  }

  /** INCR: the new value. */
  incr(key: Arg): Out<K, S, number> {
    return this.dispatchOne("INCR", key, asNumber, false);
  }

  /** INCRBY: the new value. */
  incrby(key: Arg, increment: number | bigint): Out<K, S, number> {
    return this.dispatch("INCRBY", [key, increment], asNumber, false);
  }

  /** DECR: the new value. */
  decr(key: Arg): Out<K, S, number> {
    return this.dispatchOne("DECR", key, asNumber, false);
  }

  /** MGET: each key's value, or null. */
  mget(...keys: Arg[]): Out<K, S, (string | null)[]> {
    return this.dispatch("MGET", keys, asNullableStrings, false);
  }

  /** MSET from an object or Map: "OK". */
  mset(pairs: FieldValues): Out<K, S, string>;
  /** MSET from key, value, key, value…: "OK". */
  mset(key: Arg, value: Arg, ...more: Arg[]): Out<K, S, string>;
  /** MSET from a flat array `[key, value, key, value…]` (ioredis' form): "OK". */
  mset(flat: readonly Arg[]): Out<K, S, string>;
  mset(first: Arg | FieldValues | readonly Arg[], ...rest: Arg[]): unknown {
    return this.dispatch("MSET", pairsArgs("mset", [], first, rest), asString, false);
  }

  /** HSET many fields from an object or Map: how many fields were added. */
  hset(key: Arg, fields: FieldValues): Out<K, S, number>;
  /** HSET field, value, field, value…: how many fields were added. */
  hset(key: Arg, field: Arg, value: Arg, ...more: Arg[]): Out<K, S, number>;
  /** HSET from a flat array `[field, value, field, value…]` (ioredis' form): how many fields were added. */
  hset(key: Arg, flat: readonly Arg[]): Out<K, S, number>;
  hset(key: Arg, first: Arg | FieldValues | readonly Arg[], ...rest: Arg[]): unknown {
    return this.dispatch("HSET", pairsArgs("hset", [key], first, rest), asNumber, false);
  }

  /** HGET: the field's value, or null. */
  hget(key: Arg, field: Arg): Out<K, S, string | null> {
    return this.dispatch("HGET", [key, field], asNullableString, false);
  }

  /** HGET, returning the value's raw bytes. */
  hgetBuffer(key: Arg, field: Arg): Out<K, S, Uint8Array | null> {
    return this.dispatch("HGET", [key, field], asBytes, true);
  }

  /** HGETALL as an object of field → value. */
  hgetall(key: Arg): Out<K, S, Record<string, string>> {
    return this.dispatchOne("HGETALL", key, asRecord, false);
  }

  /** HDEL: how many fields were removed. */
  hdel(key: Arg, ...fields: Arg[]): Out<K, S, number> {
    return this.dispatch("HDEL", [key, ...fields], asNumber, false);
  }

  /** HLEN: the number of fields. */
  hlen(key: Arg): Out<K, S, number> {
    return this.dispatchOne("HLEN", key, asNumber, false);
  }

  /** HINCRBY: the field's new value. */
  hincrby(key: Arg, field: Arg, increment: number | bigint): Out<K, S, number> {
    return this.dispatch("HINCRBY", [key, field, increment], asNumber, false);
  }

  /** LPUSH: the list's new length. */
  lpush(key: Arg, ...values: Arg[]): Out<K, S, number> {
    return this.dispatch("LPUSH", [key, ...values], asNumber, false);
  }

  /** RPUSH: the list's new length. */
  rpush(key: Arg, ...values: Arg[]): Out<K, S, number> {
    return this.dispatch("RPUSH", [key, ...values], asNumber, false);
  }

  /** LPOP: the first element, or null. */
  lpop(key: Arg): Out<K, S, string | null>;
  /** LPOP with a count: up to that many elements, or null when the key is missing. */
  lpop(key: Arg, count: number): Out<K, S, string[] | null>;
  lpop(key: Arg, count?: number): unknown {
    return this.dispatch("LPOP", count === undefined ? [key] : [key, count], null, false);
  }

  /** RPOP: the last element, or null. */
  rpop(key: Arg): Out<K, S, string | null>;
  /** RPOP with a count: up to that many elements, or null when the key is missing. */
  rpop(key: Arg, count: number): Out<K, S, string[] | null>;
  rpop(key: Arg, count?: number): unknown {
    return this.dispatch("RPOP", count === undefined ? [key] : [key, count], null, false);
  }

  /** LRANGE: elements from start to stop, inclusive; negative indexes count from the end. */
  lrange(key: Arg, start: number, stop: number): Out<K, S, string[]> {
    return this.dispatch("LRANGE", [key, start, stop], asStrings, false);
  }

  /** LLEN: the list's length. */
  llen(key: Arg): Out<K, S, number> {
    return this.dispatchOne("LLEN", key, asNumber, false);
  }

  /** SADD: how many members were added. */
  sadd(key: Arg, ...members: Arg[]): Out<K, S, number> {
    return this.dispatch("SADD", [key, ...members], asNumber, false);
  }

  /** SREM: how many members were removed. */
  srem(key: Arg, ...members: Arg[]): Out<K, S, number> {
    return this.dispatch("SREM", [key, ...members], asNumber, false);
  }

  /** SMEMBERS: every member, in no particular order. */
  smembers(key: Arg): Out<K, S, string[]> {
    return this.dispatchOne("SMEMBERS", key, asStrings, false);
  }

  /** SCARD: the number of members. */
  scard(key: Arg): Out<K, S, number> {
    return this.dispatchOne("SCARD", key, asNumber, false);
  }

  /** ZADD score member [score member…]: how many members were added. */
  zadd(key: Arg, score: number | string, member: Arg, ...more: Arg[]): Out<K, S, number> {
    return this.dispatch("ZADD", [key, score, member, ...more], asNumber, false);
  }

  /** ZRANGE: members by rank (or by score or lex with `options.by`). */
  zrange(key: Arg, start: Arg, stop: Arg, options?: ZRangeOptions): Out<K, S, string[]> {
    return this.dispatch("ZRANGE", zrangeArgs(key, start, stop, options, false), asStrings, false);
  }

  /** ZRANGE … WITHSCORES as `{ member, score }` objects. */
  zrangeWithScores(key: Arg, start: Arg, stop: Arg, options?: ZRangeOptions): Out<K, S, ScoredMember[]> {
    return this.dispatch("ZRANGE", zrangeArgs(key, start, stop, options, true), asScoredMembers, false);
  }

  /** ZSCORE: the member's score, or null. */
  zscore(key: Arg, member: Arg): Out<K, S, number | null> {
    return this.dispatch("ZSCORE", [key, member], asScore, false);
  }
  /**
   * XADD from an object or Map of fields (options: `id`, `nomkstream`, trimming by `maxlen` or `minid`):
   * the new entry's ID, or null with `nomkstream` when the stream does not exist.
   *
   * @example
   * ```ts
   * r.xadd("events", { type: "login", user: "42" }, { maxlen: 1000, approximate: true }); // "1700000000000-0"
   * ```
   */
  xadd(key: Arg, fields: FieldValues, options?: XAddOptions): Out<K, S, string | null>;
  /** XADD in the server's order (ioredis' form): `xadd(key, "*", field, value, …)`. */
  xadd(key: Arg, id: Arg, field: Arg, value: Arg, ...more: Arg[]): Out<K, S, string | null>;
  xadd(key: Arg, first: Arg | FieldValues, ...rest: unknown[]): unknown {
    const args = typeof first === "object" && !(first instanceof Uint8Array)
      ? xaddArgs(key, pairsArgs("xadd", [], first, []), rest[0] as XAddOptions | undefined)
      : [key, first, ...rest as Arg[]];
    return this.dispatch("XADD", args, asNullableString, false);
  }

  /** XRANGE: entries from `start` to `end` (default `-` and `+`: all), oldest first, at most `count`. */
  xrange(key: Arg, start: Arg = "-", end: Arg = "+", count?: number): Out<K, S, StreamEntry[]> {
    const args = count === undefined ? [key, start, end] : [key, start, end, "COUNT", count];
    return this.dispatch("XRANGE", args, asEntries, false);
  }

  /** XREVRANGE: entries from `end` down to `start` (default `+` and `-`), newest first, at most `count`. */
  xrevrange(key: Arg, end: Arg = "+", start: Arg = "-", count?: number): Out<K, S, StreamEntry[]> {
    const args = count === undefined ? [key, end, start] : [key, end, start, "COUNT", count];
    return this.dispatch("XREVRANGE", args, asEntries, false);
  }

  /**
   * XREAD: the entries after the given ID of each stream (`$`: only new ones, with `block`), or null when
   * `block` ran out. With `block` a pool runs it on a connection of its own.
   *
   * @example
   * ```ts
   * await pool.xread({ events: "$" }, { block: 5000 }); // [{ stream: "events", entries: [{ id, fields }] }] or null
   * ```
   */
  xread(streams: StreamIds, options?: XReadOptions): Out<K, S, StreamRead[] | null> {
    const args = xreadArgs(streams, options);
    return options?.block === undefined
      ? this.dispatch("XREAD", args, asStreamReads, false)
      : this.route("XREAD", args, false, asStreamReads);
  }

  /**
   * XREADGROUP as `consumer` of `group`: `>` reads entries never delivered to the group, an ID the consumer's
   * pending ones after it. Null when `block` ran out.
   */
  xreadgroup(
    group: Arg,
    consumer: Arg,
    streams: StreamIds,
    options?: XReadGroupOptions,
  ): Out<K, S, StreamRead[] | null> {
    const args = xreadgroupArgs(group, consumer, streams, options);
    return options?.block === undefined
      ? this.dispatch("XREADGROUP", args, asStreamReads, false)
      : this.route("XREADGROUP", args, false, asStreamReads);
  }

  /**
   * XAUTOCLAIM: hands `consumer` the group's entries pending longer than `minIdleTime` ms, scanning from
   * `start` (`0-0` at first, then the `next` it returned).
   */
  xautoclaim(
    key: Arg,
    group: Arg,
    consumer: Arg,
    minIdleTime: number,
    start: Arg = "0-0",
    options: XAutoClaimOptions = {},
  ): Out<K, S, XAutoClaimResult> {
    const args: Arg[] = [key, group, consumer, minIdleTime, start];
    if (options.count !== undefined) args.push("COUNT", options.count);
    return this.dispatch("XAUTOCLAIM", args, asAutoClaim, false);
  }

  /**
   * XINFO STREAM's summary as an object: `length`, `groups`, `lastGeneratedId`, `firstEntry` and `lastEntry` as
   * `{ id, fields }`… (the server's dashed names in camel case). For XINFO STREAM … FULL, use `send`.
   */
  xinfoStream(key: Arg): Out<K, S, StreamInfo> {
    return this.dispatch("XINFO", ["STREAM", key], asStreamInfo, false);
  }

  /** XPENDING's summary of a group: how many entries are pending, their ID range, per consumer. */
  xpending(key: Arg, group: Arg): Out<K, S, XPendingSummary>;
  /** XPENDING's extended form: the pending entries themselves (`count` of them, from `start` to `end`). */
  xpending(key: Arg, group: Arg, options: XPendingOptions): Out<K, S, XPendingEntry[]>;
  xpending(key: Arg, group: Arg, options?: XPendingOptions): unknown {
    return options === undefined
      ? this.dispatch("XPENDING", [key, group], asPendingSummary, false)
      : this.dispatch("XPENDING", xpendingArgs(key, group, options), asPendingEntries, false);
  }
}

/** Whether the generated methods are on `Commands.prototype` yet (see `attachCommandMethods`). */
let attached = false;

// ---- the generated methods ----------------------------------------------------------------------------------

/** What a generated method calls on its executor (the protected members of `Commands`). */
interface Executor {
  dispatch(command: string, args: Arg[], transform: null, asBuffer: boolean): unknown;
  route(command: string, args: Arg[], asBuffer: boolean): unknown;
}

type Method = (this: Executor, ...args: Arg[]) => unknown;

function method(command: string, sub: string, asBuffer: boolean, routed: boolean): Method {
  if (routed) {
    return sub
      ? function (...args) {
        args.unshift(sub);
        return this.route(command, args, asBuffer);
      }
      : function (...args) {
        return this.route(command, args, asBuffer);
      };
  }
  return sub
    ? function (...args) {
      args.unshift(sub);
      return this.dispatch(command, args, null, asBuffer);
    }
    : function (...args) {
      return this.dispatch(command, args, null, asBuffer);
    };
}

/**
 * Defines each generated method (src/command_lists.ts) on `prototype` that it does not have yet: a method sends
 * its command with its arguments as given, through the executor's `dispatch` (the reply as decoded) or, for a
 * command that blocks or changes its connection, `route` (as `send` routes it). A method already there
 * (hand-written, with its own shaping) is left alone. Called once, when the first client, pool, connection or
 * pipeline is made, not at import: defining five hundred methods takes 2–4 ms in either runtime (measured), a
 * tenth of importing mod.ts.
 */
function attachCommandMethods(prototype: object): void {
  for (const entry of COMMAND_METHODS.split(";")) {
    const [name, command, sub, flags] = entry.split(" ") as [string, string, string, string];
    const routed = flags.includes("r");
    const own = !flags.includes("h");
    for (const [key, asBuffer] of [[name, false], [`${name}Buffer`, true]] as const) {
      if (asBuffer ? !flags.includes("b") : !own) continue;
      if (Object.hasOwn(prototype, key)) continue;
      Object.defineProperty(prototype, key, {
        value: method(command, sub, asBuffer, routed),
        writable: true,
        configurable: true,
      });
    }
  }
}
