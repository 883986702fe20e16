/**
 * The typed Redis commands, written once for every way of running them: the
 * synchronous client returns values, a pipeline queues and returns itself, the
 * pool returns promises. Each class supplies `dispatch`.
 */
import type { Arg, Reply } from "./types.ts";
import { ReplyError } from "./errors.ts";

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

/** Turns a raw reply into a typed method's result (never called on an error reply). */
export type Transform<T> = (reply: Reply) => T;

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

/** A sorted-set member with its score. */
export interface ScoredMember {
  /** The member. */
  member: string;
  /** Its score. */
  score: number;
}

export const asNumber: Transform<number> = (r) => r as number;
const asString: Transform<string> = (r) => r as string;
const asNullableString: Transform<string | null> = (r) => r as string | null;
const asStrings: Transform<string[]> = (r) => r as string[];
const asNullableStrings: Transform<(string | null)[]> = (r) => r as (string | null)[];
const asBytes: Transform<Uint8Array | null> = (r) => r as Uint8Array | null;

/** A score as Redis sends it (a double in RESP3, a string in RESP2); a missing one is NaN, not 0. */
export function parseScore(r: Reply | undefined): number {
  if (typeof r === "number") return r;
  if (r === undefined) return NaN;
  const s = r as string;
  return s === "inf" || s === "+inf" ? Infinity : s === "-inf" ? -Infinity : Number(s);
}
const asScore: Transform<number | null> = (r) => (r === null ? null : parseScore(r));

const asRecord: Transform<Record<string, string>> = (r) => {
  if (r instanceof Map) return Object.fromEntries(r) as Record<string, string>;
  const flat = r as string[], record: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const field = flat[i], value = flat[i + 1];
    if (field !== undefined && value !== undefined) record[field] = value;
  }
  return record;
};

const asScoredMembers: Transform<ScoredMember[]> = (r) => {
  const flat = r as Reply[], out: ScoredMember[] = [];
  for (let i = 0; i < flat.length; i++) {
    const item = flat[i];
    // RESP3 answers [member, score] pairs; RESP2 a flat list.
    if (Array.isArray(item)) out.push({ member: item[0] as string, score: parseScore(item[1]) });
    else out.push({ member: item as string, score: parseScore(flat[++i]) });
  }
  return out;
};

/** Field/value pairs given as an object, a Map, or flat arguments. */
export type FieldValues = Record<string, Arg> | Map<Arg, Arg>;

function flattenPairs(pairs: FieldValues): Arg[] {
  const flat: Arg[] = [];
  const entries = pairs instanceof Map ? pairs.entries() : Object.entries(pairs);
  for (const [k, v] of entries) flat.push(k, v);
  return flat;
}

function pairsArgs(head: Arg[], first: Arg | FieldValues, rest: Arg[]): Arg[] {
  if (typeof first === "object" && !(first instanceof Uint8Array)) {
    if (rest.length) throw new TypeError("cpipe: give field/value pairs either as an object or as arguments");
    return [...head, ...flattenPairs(first)];
  }
  return [...head, first, ...rest];
}

function setArgs(key: Arg, value: Arg, options?: SetOptions): Arg[] {
  const args: Arg[] = [key, value];
  if (!options) return args;
  if (options.ex !== undefined) args.push("EX", options.ex);
  if (options.px !== undefined) args.push("PX", options.px);
  if (options.exat !== undefined) args.push("EXAT", options.exat);
  if (options.pxat !== undefined) args.push("PXAT", options.pxat);
  if (options.nx) args.push("NX");
  if (options.xx) args.push("XX");
  if (options.keepTtl) args.push("KEEPTTL");
  if (options.get) args.push("GET");
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
 * Turns a pipeline's raw replies into its typed methods' results, in place:
 * each reply through its command's transform, error replies left as they are.
 */
export function applyTransforms(replies: Reply[], transforms: readonly (Transform<unknown> | null)[]): Reply[] {
  for (let i = 0; i < replies.length; i++) {
    // null: the reply stays raw; undefined: more replies than transforms, the same.
    const transform = transforms[i];
    if (!transform) continue;
    const reply = replies[i] as Reply; // i < replies.length
    if (!(reply instanceof ReplyError)) replies[i] = transform(reply) as Reply;
  }
  return replies;
}

/**
 * Typed Redis commands over an executor of kind K. `Self` is what queued
 * commands return (the pipeline itself, for chaining).
 */
export abstract class Commands<K extends Kind, Self = unknown> {
  /**
   * Runs (or queues) one command; `asBuffer` returns bulk strings as bytes.
   * Each executor implements it; the typed methods all go through it.
   */
  protected abstract dispatch<T>(
    command: string,
    args: Arg[],
    transform: Transform<T> | null,
    asBuffer: boolean,
  ): Result<K, T, Self>;

  /** PING: "PONG", or the message echoed. */
  ping(message?: Arg): Result<K, string, Self> {
    return this.dispatch("PING", message === undefined ? [] : [message], asString, false);
  }

  /** GET: the value, or null when the key does not exist. */
  get(key: Arg): Result<K, string | null, Self> {
    return this.dispatch("GET", [key], asNullableString, false);
  }

  /** GET, returning the value's raw bytes. */
  getBuffer(key: Arg): Result<K, Uint8Array | null, Self> {
    return this.dispatch("GET", [key], asBytes, true);
  }

  /** SET with optional expiry and conditions: "OK", null when NX/XX prevented it, or the old value with `get`. */
  set(key: Arg, value: Arg, options?: SetOptions): Result<K, string | null, Self> {
    return this.dispatch("SET", setArgs(key, value, options), asNullableString, false);
  }

  /** DEL: how many keys were removed. */
  del(...keys: Arg[]): Result<K, number, Self> {
    return this.dispatch("DEL", keys, asNumber, false);
  }

  /** EXISTS: how many of the keys exist. */
  exists(...keys: Arg[]): Result<K, number, Self> {
    return this.dispatch("EXISTS", keys, asNumber, false);
  }

  /** EXPIRE: 1 when the timeout was set, 0 otherwise. */
  expire(key: Arg, seconds: number, mode?: "NX" | "XX" | "GT" | "LT"): Result<K, number, Self> {
    return this.dispatch("EXPIRE", mode ? [key, seconds, mode] : [key, seconds], asNumber, false);
  }

  /** TTL: seconds left, -1 without expiry, -2 when the key does not exist. */
  ttl(key: Arg): Result<K, number, Self> {
    return this.dispatch("TTL", [key], asNumber, false);
  }

  /** INCR: the new value. */
  incr(key: Arg): Result<K, number, Self> {
    return this.dispatch("INCR", [key], asNumber, false);
  }

  /** INCRBY: the new value. */
  incrby(key: Arg, increment: number | bigint): Result<K, number, Self> {
    return this.dispatch("INCRBY", [key, increment], asNumber, false);
  }

  /** DECR: the new value. */
  decr(key: Arg): Result<K, number, Self> {
    return this.dispatch("DECR", [key], asNumber, false);
  }

  /** MGET: each key's value, or null. */
  mget(...keys: Arg[]): Result<K, (string | null)[], Self> {
    return this.dispatch("MGET", keys, asNullableStrings, false);
  }

  /** MSET from an object or Map: "OK". */
  mset(pairs: FieldValues): Result<K, string, Self>;
  /** MSET from key, value, key, value…: "OK". */
  mset(key: Arg, value: Arg, ...more: Arg[]): Result<K, string, Self>;
  mset(first: Arg | FieldValues, ...rest: Arg[]): Result<K, string, Self> {
    return this.dispatch("MSET", pairsArgs([], first, rest), asString, false);
  }

  /** HSET many fields from an object or Map: how many fields were added. */
  hset(key: Arg, fields: FieldValues): Result<K, number, Self>;
  /** HSET field, value, field, value…: how many fields were added. */
  hset(key: Arg, field: Arg, value: Arg, ...more: Arg[]): Result<K, number, Self>;
  hset(key: Arg, first: Arg | FieldValues, ...rest: Arg[]): Result<K, number, Self> {
    return this.dispatch("HSET", pairsArgs([key], first, rest), asNumber, false);
  }

  /** HGET: the field's value, or null. */
  hget(key: Arg, field: Arg): Result<K, string | null, Self> {
    return this.dispatch("HGET", [key, field], asNullableString, false);
  }

  /** HGET, returning the value's raw bytes. */
  hgetBuffer(key: Arg, field: Arg): Result<K, Uint8Array | null, Self> {
    return this.dispatch("HGET", [key, field], asBytes, true);
  }

  /** HGETALL as an object of field → value. */
  hgetall(key: Arg): Result<K, Record<string, string>, Self> {
    return this.dispatch("HGETALL", [key], asRecord, false);
  }

  /** HDEL: how many fields were removed. */
  hdel(key: Arg, ...fields: Arg[]): Result<K, number, Self> {
    return this.dispatch("HDEL", [key, ...fields], asNumber, false);
  }

  /** HLEN: the number of fields. */
  hlen(key: Arg): Result<K, number, Self> {
    return this.dispatch("HLEN", [key], asNumber, false);
  }

  /** HINCRBY: the field's new value. */
  hincrby(key: Arg, field: Arg, increment: number | bigint): Result<K, number, Self> {
    return this.dispatch("HINCRBY", [key, field, increment], asNumber, false);
  }

  /** LPUSH: the list's new length. */
  lpush(key: Arg, ...values: Arg[]): Result<K, number, Self> {
    return this.dispatch("LPUSH", [key, ...values], asNumber, false);
  }

  /** RPUSH: the list's new length. */
  rpush(key: Arg, ...values: Arg[]): Result<K, number, Self> {
    return this.dispatch("RPUSH", [key, ...values], asNumber, false);
  }

  /** LPOP: the first element, or null. */
  lpop(key: Arg): Result<K, string | null, Self>;
  /** LPOP with a count: up to that many elements, or null when the key is missing. */
  lpop(key: Arg, count: number): Result<K, string[] | null, Self>;
  lpop(key: Arg, count?: number): Result<K, string | string[] | null, Self> {
    return this.dispatch("LPOP", count === undefined ? [key] : [key, count], null, false);
  }

  /** RPOP: the last element, or null. */
  rpop(key: Arg): Result<K, string | null, Self>;
  /** RPOP with a count: up to that many elements, or null when the key is missing. */
  rpop(key: Arg, count: number): Result<K, string[] | null, Self>;
  rpop(key: Arg, count?: number): Result<K, string | string[] | null, Self> {
    return this.dispatch("RPOP", count === undefined ? [key] : [key, count], null, false);
  }

  /** LRANGE: elements from start to stop, inclusive; negative indexes count from the end. */
  lrange(key: Arg, start: number, stop: number): Result<K, string[], Self> {
    return this.dispatch("LRANGE", [key, start, stop], asStrings, false);
  }

  /** LLEN: the list's length. */
  llen(key: Arg): Result<K, number, Self> {
    return this.dispatch("LLEN", [key], asNumber, false);
  }

  /** SADD: how many members were added. */
  sadd(key: Arg, ...members: Arg[]): Result<K, number, Self> {
    return this.dispatch("SADD", [key, ...members], asNumber, false);
  }

  /** SREM: how many members were removed. */
  srem(key: Arg, ...members: Arg[]): Result<K, number, Self> {
    return this.dispatch("SREM", [key, ...members], asNumber, false);
  }

  /** SMEMBERS: every member, in no particular order. */
  smembers(key: Arg): Result<K, string[], Self> {
    return this.dispatch("SMEMBERS", [key], asStrings, false);
  }

  /** SCARD: the number of members. */
  scard(key: Arg): Result<K, number, Self> {
    return this.dispatch("SCARD", [key], asNumber, false);
  }

  /** ZADD score member [score member…]: how many members were added. */
  zadd(key: Arg, score: number | string, member: Arg, ...more: Arg[]): Result<K, number, Self> {
    return this.dispatch("ZADD", [key, score, member, ...more], asNumber, false);
  }

  /** ZRANGE: members by rank (or by score or lex with `options.by`). */
  zrange(key: Arg, start: Arg, stop: Arg, options?: ZRangeOptions): Result<K, string[], Self> {
    return this.dispatch("ZRANGE", zrangeArgs(key, start, stop, options, false), asStrings, false);
  }

  /** ZRANGE … WITHSCORES as `{ member, score }` objects. */
  zrangeWithScores(key: Arg, start: Arg, stop: Arg, options?: ZRangeOptions): Result<K, ScoredMember[], Self> {
    return this.dispatch("ZRANGE", zrangeArgs(key, start, stop, options, true), asScoredMembers, false);
  }

  /** ZSCORE: the member's score, or null. */
  zscore(key: Arg, member: Arg): Result<K, number | null, Self> {
    return this.dispatch("ZSCORE", [key, member], asScore, false);
  }
}
