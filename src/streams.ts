/**
 * Streams as objects: the arguments of XADD, XREAD, XREADGROUP, XAUTOCLAIM and XPENDING from options, and their
 * replies (entries as `{ id, fields }`, reads as `{ stream, entries }`) shaped the same under RESP2 and RESP3.
 * The methods are in src/commands.ts; nothing here sends anything.
 */
import type { Arg, Reply } from "./types.ts";
import type { Transform } from "./replies.ts";

/** A stream entry: its ID and its fields. `fields` is null for an entry deleted while pending (XREADGROUP, XAUTOCLAIM). */
export interface StreamEntry {
  /** The entry's ID, `<ms>-<seq>`. */
  id: string;
  /** Field → value (a field given twice keeps its last value). */
  fields: Record<string, string>;
}

/** The entries XREAD / XREADGROUP returned from one stream. */
export interface StreamRead {
  /** The stream's key. */
  stream: string;
  /** Its entries, oldest first; a deleted pending entry has `fields: null` (XREADGROUP with ID 0). */
  entries: (StreamEntry | DeletedEntry)[];
}

/** A pending entry that was deleted from the stream: XREADGROUP (reading history) gives its ID only. */
export interface DeletedEntry {
  /** The entry's ID. */
  id: string;
  /** Null: the entry no longer exists. */
  fields: null;
}

/** Options of `xadd`. */
export interface XAddOptions {
  /** The entry's ID; default `*` (the server makes one). */
  id?: Arg;
  /** Do not create the stream when it does not exist (the reply is then null). */
  nomkstream?: boolean;
  /** Trim to at most this many entries (MAXLEN). */
  maxlen?: number;
  /** Trim entries with IDs below this one (MINID). */
  minid?: Arg;
  /** Trim approximately (`~`), which is much cheaper; default exact (`=`). */
  approximate?: boolean;
  /** With `approximate`: trim at most this many entries (LIMIT). */
  limit?: number;
}

/** Options of `xread`. */
export interface XReadOptions {
  /** At most this many entries per stream. */
  count?: number;
  /** Wait up to this many milliseconds for data (0: forever); the reply is null when none came. */
  block?: number;
}

/** Options of `xreadgroup`. */
export interface XReadGroupOptions extends XReadOptions {
  /** Do not add the entries to the pending list (no XACK needed). */
  noack?: boolean;
}

/** Options of `xautoclaim`. */
export interface XAutoClaimOptions {
  /** Claim at most this many entries (default 100). */
  count?: number;
}

/** What XAUTOCLAIM returns: where to continue, the entries claimed, and the IDs it found deleted. */
export interface XAutoClaimResult {
  /** The cursor for the next call; `0-0` when the whole pending list was scanned. */
  next: string;
  /** The entries now owned by the consumer. */
  entries: StreamEntry[];
  /** Pending IDs whose entries no longer exist (removed from the pending list); empty before Redis 7. */
  deleted: string[];
}

/** XPENDING's summary of a group. */
export interface XPendingSummary {
  /** How many entries are pending. */
  count: number;
  /** The smallest pending ID (null when none). */
  min: string | null;
  /** The greatest pending ID (null when none). */
  max: string | null;
  /** Each consumer with pending entries, and how many. */
  consumers: { name: string; count: number }[];
}

/** One pending entry from XPENDING's extended form. */
export interface XPendingEntry {
  /** The entry's ID. */
  id: string;
  /** The consumer that owns it. */
  consumer: string;
  /** Milliseconds since it was last delivered. */
  idle: number;
  /** How many times it was delivered. */
  deliveries: number;
}

/** Options of XPENDING's extended form. */
export interface XPendingOptions {
  /** The lowest ID (default `-`). */
  start?: Arg;
  /** The highest ID (default `+`). */
  end?: Arg;
  /** At most this many entries. */
  count: number;
  /** Only this consumer's entries. */
  consumer?: Arg;
  /** Only entries idle at least this many milliseconds. */
  idle?: number;
}

/** XINFO STREAM's summary of a stream (fields a server older than 7.0 does not send are undefined). */
export interface StreamInfo {
  /** Entries in the stream (XLEN). */
  length: number;
  /** Keys and nodes of the radix tree that holds it. */
  radixTreeKeys: number;
  /** Nodes of that radix tree. */
  radixTreeNodes: number;
  /** How many consumer groups it has. */
  groups: number;
  /** The ID of the last entry added. */
  lastGeneratedId: string;
  /** The greatest ID deleted from it (7.0+). */
  maxDeletedEntryId?: string;
  /** How many entries were ever added (7.0+). */
  entriesAdded?: number;
  /** The first entry's ID as the server records it (7.2+). */
  recordedFirstEntryId?: string;
  /** The first and the last entry, or null when it is empty. */
  firstEntry: StreamEntry | null;
  /** The last entry, or null when it is empty. */
  lastEntry: StreamEntry | null;
}

/** The streams to read and from which ID each: an object, a Map, or `[key, id]` pairs. */
export type StreamIds = Record<string, Arg> | Map<Arg, Arg> | readonly (readonly [Arg, Arg])[];

function fieldRecord(reply: Reply): Record<string, string> {
  const out: Record<string, string> = {};
  if (reply instanceof Map) {
    for (const [k, v] of reply) out[String(k)] = v as string;
    return out;
  }
  const flat = reply as string[];
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
  return out;
}

function entry(reply: Reply): StreamEntry | DeletedEntry {
  const [id, fields] = reply as [string, Reply];
  return fields === null ? { id, fields: null } : { id, fields: fieldRecord(fields) };
}

/** XRANGE / XREVRANGE: the entries. */
export const asEntries: Transform<StreamEntry[]> = (r) => (r as Reply[]).map(entry) as StreamEntry[];

/** XREAD / XREADGROUP: per stream its entries (a map under RESP3, `[[key, entries]…]` under RESP2), or null. */
export const asStreamReads: Transform<StreamRead[] | null> = (r) => {
  if (r === null) return null;
  const pairs: [Reply, Reply][] = r instanceof Map ? [...r] : (r as [Reply, Reply][]);
  return pairs.map(([stream, entries]) => ({ stream: String(stream), entries: (entries as Reply[]).map(entry) }));
};

/** XAUTOCLAIM: `[next, entries, deleted]`. */
export const asAutoClaim: Transform<XAutoClaimResult> = (r) => {
  const [next, entries, deleted] = r as [string, Reply[], string[] | undefined];
  // Entries deleted meanwhile came as nil before Redis 7 (which lists them in `deleted` instead).
  return { next, entries: entries.filter((e) => e !== null).map(entry) as StreamEntry[], deleted: deleted ?? [] };
};

/** XINFO STREAM key: a map (RESP3) or flat pairs (RESP2) with the server's dashed names, as `StreamInfo`. */
export const asStreamInfo: Transform<StreamInfo> = (r) => {
  const pairs: [Reply, Reply][] = [];
  if (r instanceof Map) pairs.push(...r);
  else for (let i = 0, flat = r as Reply[]; i + 1 < flat.length; i += 2) pairs.push([flat[i]!, flat[i + 1]!]);
  const info: Record<string, unknown> = {};
  for (const [name, value] of pairs) {
    const key = String(name).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    info[key] = key === "firstEntry" || key === "lastEntry" ? (value === null ? null : entry(value)) : value;
  }
  return info as unknown as StreamInfo;
};

/** XPENDING key group: `[count, min, max, [[consumer, count]…]]`. */
export const asPendingSummary: Transform<XPendingSummary> = (r) => {
  const [count, min, max, consumers] = r as [number, string | null, string | null, [string, string][] | null];
  return { count, min, max, consumers: (consumers ?? []).map(([name, n]) => ({ name, count: Number(n) })) };
};

/** XPENDING key group start end count: `[[id, consumer, idle, deliveries]…]`. */
export const asPendingEntries: Transform<XPendingEntry[]> = (r) =>
  (r as [string, string, number, number][]).map(([id, consumer, idle, deliveries]) => ({
    id,
    consumer,
    idle,
    deliveries,
  }));

function wholeNumber(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) throw new TypeError(`cpipe: ${name} must be a whole number, not ${value}`);
  return value;
}

/** Appends `token value` when the option is set. */
function count(name: string, value: number | undefined, args: Arg[], token: string): void {
  if (value !== undefined) args.push(token, wholeNumber(name, value));
}

/** XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT n]] id field value… */
export function xaddArgs(key: Arg, fields: Arg[], options: XAddOptions = {}): Arg[] {
  if (fields.length === 0 || fields.length % 2 !== 0) {
    throw new TypeError("cpipe: xadd needs at least one field and a value for each");
  }
  if (options.maxlen !== undefined && options.minid !== undefined) {
    throw new TypeError("cpipe: xadd trims by maxlen or by minid, not both");
  }
  const args: Arg[] = [key];
  if (options.nomkstream) args.push("NOMKSTREAM");
  const trim = options.maxlen !== undefined ? "MAXLEN" : options.minid !== undefined ? "MINID" : null;
  if (trim !== null) {
    args.push(trim, options.approximate ? "~" : "=", (options.maxlen ?? options.minid)!);
    if (options.limit !== undefined) {
      if (!options.approximate) throw new TypeError("cpipe: xadd's limit needs approximate: true (the server's rule)");
      count("limit", options.limit, args, "LIMIT");
    }
  } else if (options.approximate || options.limit !== undefined) {
    throw new TypeError("cpipe: xadd's approximate and limit go with maxlen or minid");
  }
  args.push(options.id ?? "*", ...fields);
  return args;
}

/** The STREAMS part: every key, then every ID. */
function streamsArgs(streams: StreamIds): Arg[] {
  const pairs: (readonly [Arg, Arg])[] = streams instanceof Map
    ? [...streams]
    : Array.isArray(streams)
    ? streams as (readonly [Arg, Arg])[]
    : Object.entries(streams);
  if (pairs.length === 0) throw new TypeError("cpipe: give at least one stream to read");
  return ["STREAMS", ...pairs.map((p) => p[0]), ...pairs.map((p) => p[1])];
}

/** XREAD [COUNT n] [BLOCK ms] STREAMS key… id… */
export function xreadArgs(streams: StreamIds, options: XReadOptions = {}): Arg[] {
  const args: Arg[] = [];
  count("count", options.count, args, "COUNT");
  count("block", options.block, args, "BLOCK");
  return [...args, ...streamsArgs(streams)];
}

/** XREADGROUP GROUP group consumer [COUNT n] [BLOCK ms] [NOACK] STREAMS key… id… */
export function xreadgroupArgs(group: Arg, consumer: Arg, streams: StreamIds, options: XReadGroupOptions = {}): Arg[] {
  const args: Arg[] = ["GROUP", group, consumer];
  count("count", options.count, args, "COUNT");
  count("block", options.block, args, "BLOCK");
  if (options.noack) args.push("NOACK");
  return [...args, ...streamsArgs(streams)];
}

/** XPENDING key group [[IDLE ms] start end count [consumer]] */
export function xpendingArgs(key: Arg, group: Arg, options: XPendingOptions): Arg[] {
  const args: Arg[] = [key, group];
  count("idle", options.idle, args, "IDLE");
  args.push(options.start ?? "-", options.end ?? "+", wholeNumber("count", options.count));
  if (options.consumer !== undefined) args.push(options.consumer);
  return args;
}
